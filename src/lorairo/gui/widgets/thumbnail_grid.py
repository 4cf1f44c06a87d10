"""The thumbnail grid: a virtualised QListView in icon mode over `ImageListModel`, with a size slider.

Multi-select with Shift / Ctrl and Ctrl+A, arrow keys / Page Up/Down / Home / End move the current item.
Emits `selection_changed(list[int])` with the selected image IDs (debounced: dragging a rubber band over
thousands of items must not flood the details panel). Call only from the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QLabel, QListView, QSlider, QVBoxLayout, QWidget

from lorairo.gui.models.image_list_model import ImageIdRole, ImageListModel

MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 64, 384, 160
SPACING = 6


class ThumbnailGridView(QListView):
    """Icon-mode list view tuned for very long lists (uniform sizes, batched layout)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setUniformItemSizes(True)  # lets Qt lay out 100k items without asking each for its size
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setSpacing(SPACING)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setDragEnabled(False)
        self.setAccessibleName("Image grid")

    def apply_icon_size(self, size: int) -> None:
        self.setIconSize(QSize(size, size))
        self.setGridSize(QSize(size + 2 * SPACING, size + 2 * SPACING))
        self.verticalScrollBar().setSingleStep(max(8, size // 4))


class ThumbnailGrid(QWidget):
    """The grid plus its size slider and an empty-result message."""

    selection_changed = Signal(object)  # list[int]
    activated_image = Signal(int)  # double-click / Enter on an image

    def __init__(self, model: ImageListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.view = ThumbnailGridView(self)
        self.view.setModel(model)
        self.empty_label = QLabel("No images match.", self)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()
        self.size_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.size_slider.setRange(MIN_SIZE, MAX_SIZE)
        self.size_slider.setSingleStep(16)
        self.size_slider.setPageStep(32)
        self.size_slider.setFixedWidth(160)
        self.size_slider.setToolTip("Thumbnail size (Ctrl++ / Ctrl+-)")
        self.size_slider.setAccessibleName("Thumbnail size")
        self._size_timer = QTimer(self, singleShot=True, interval=120)
        self._size_timer.timeout.connect(self._apply_size)
        self.size_slider.valueChanged.connect(lambda _v: self._size_timer.start())
        self._selection_timer = QTimer(self, singleShot=True, interval=60)
        self._selection_timer.timeout.connect(self._emit_selection)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._selection_timer.start())
        self.view.activated.connect(lambda index: self.activated_image.emit(int(index.data(ImageIdRole))))
        model.modelReset.connect(self._update_empty)
        model.rowsInserted.connect(self._update_empty)

        footer = QHBoxLayout()
        footer.setContentsMargins(6, 0, 6, 0)
        footer.addStretch(1)
        footer.addWidget(QLabel("Size", self))
        footer.addWidget(self.size_slider)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.empty_label, 1)
        layout.addLayout(footer)
        self.set_icon_size(DEFAULT_SIZE)

    def set_icon_size(self, size: int) -> None:
        size = max(MIN_SIZE, min(MAX_SIZE, size))
        self.size_slider.setValue(size)
        self._apply_size()

    def icon_size(self) -> int:
        return self.size_slider.value()

    def _apply_size(self) -> None:
        size = self.size_slider.value()
        self.model.set_icon_size(size)
        self.view.apply_icon_size(size)

    def zoom(self, steps: int) -> None:
        self.set_icon_size(self.icon_size() + steps * 32)

    def set_empty_text(self, text: str) -> None:
        self.empty_label.setText(text)
        self._update_empty()

    def _update_empty(self, *_args: object) -> None:
        empty = self.model.rowCount() == 0
        self.view.setVisible(not empty)
        self.empty_label.setVisible(empty)

    def selected_ids(self) -> list[int]:
        # Walk selection ranges, not selectedIndexes(): Ctrl+A over 100k items is one range, not 100k objects.
        ids = self.model.ids()
        rows: list[int] = []
        for item_range in self.view.selectionModel().selection():
            rows.extend(range(item_range.top(), item_range.bottom() + 1))
        return [ids[row] for row in sorted(set(rows))]

    def select_ids(self, ids: list[int]) -> None:
        selection = self.view.selectionModel()
        selection.clearSelection()
        for image_id in ids:
            row = self.model.row_of(image_id)
            if row is not None:
                selection.select(self.model.index(row), QItemSelectionModel.SelectionFlag.Select)

    def _emit_selection(self) -> None:
        self.selection_changed.emit(self.selected_ids())
