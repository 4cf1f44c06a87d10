"""The thumbnail grid: `ThumbnailGridView` over `ImageListModel`, with a size slider.

Multi-select with Shift / Ctrl and Ctrl+A, arrow keys / Page Up/Down / Home / End move the current item.
Emits `selection_changed(SelectedIds)` with the selected image IDs (debounced: dragging a rubber band over
thousands of items must not flood the details panel). Call only from the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSlider,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.models.image_list_model import BadgesRole, ImageIdRole, ImageListModel, ImageRowRole
from lorairo.gui.models.selected_ids import SelectedIds
from lorairo.gui.widgets.grid_view import SPACING, ThumbnailGridView

MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 64, 384, 160


def _pill(painter: QPainter, cell: QRectF, text: str, fill: str, *, right: bool = False) -> None:
    """A small label in a bottom corner of a cell (`fill` is #AARRGGBB, as Qt reads 8 hex digits)."""
    metrics = painter.fontMetrics()
    width, height = metrics.horizontalAdvance(text) + 8, metrics.height() + 2
    x = cell.right() - width - 4 if right else cell.left() + 4
    rect = QRectF(x, cell.bottom() - height - 4, width, height)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(fill))
    painter.drawRoundedRect(rect, 4, 4)
    painter.setPen(QColor("white"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


class ThumbnailDelegate(QStyledItemDelegate):
    """Draws a thumbnail centred in its cell with a clear selection frame (a thin highlight is hard to see on
    busy images). Paints only what `data()` already holds. With `show_overlays` small labels say the tag
    count (or "untagged"), whether a caption exists and whether an annotation failed."""

    show_overlays = True

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        cell = QRectF(option.rect).adjusted(2, 2, -2, -2)
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if selected:
            fill = QColor(palette.highlight().color())
            fill.setAlpha(70)
            painter.setBrush(fill)
            painter.setPen(QPen(palette.highlight().color(), 2.5))
            painter.drawRoundedRect(cell, 6, 6)
        elif option.state & QStyle.StateFlag.State_MouseOver:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(palette.mid().color(), 1))
            painter.drawRoundedRect(cell, 6, 6)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if pixmap is not None and not pixmap.isNull():
            ratio = pixmap.devicePixelRatio() or 1.0
            width, height = pixmap.width() / ratio, pixmap.height() / ratio
            x = cell.center().x() - width / 2
            y = cell.center().y() - height / 2
            painter.drawPixmap(int(x), int(y), pixmap)
        badges = index.data(BadgesRole) if self.show_overlays else None
        if badges is not None and cell.width() >= 60:
            small = QFont(option.font)
            small.setPointSizeF(max(6.5, small.pointSizeF() * 0.8))
            painter.setFont(small)
            if badges.tag_count:
                _pill(painter, cell, f"{badges.tag_count} tags", "#c03b6fb6")
            else:
                _pill(painter, cell, "untagged", "#d0d35400")
            marks = ("✎" if badges.has_caption else "") + ("!" if badges.failed else "")
            if marks:
                _pill(painter, cell, marks, "#d0c0392b" if badges.failed else "#c02e7d32", right=True)
            painter.setFont(option.font)
        row = index.data(ImageRowRole)
        if row is not None and row.excluded:  # left out of exports: dim it and say so
            painter.fillRect(cell, QColor(0, 0, 0, 110))
            painter.setPen(QColor("white"))
            painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, "excluded")
        if option.state & QStyle.StateFlag.State_HasFocus:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(palette.highlight().color(), 1, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(cell.adjusted(1, 1, -1, -1), 5, 5)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        size = option.decorationSize
        return QSize(size.width() + 2 * SPACING, size.height() + 2 * SPACING)


class ThumbnailGrid(QWidget):
    """The grid plus its size slider and an empty-result message."""

    selection_changed = Signal(object)  # SelectedIds (a read-only Sequence[int])
    activated_image = Signal(int)  # double-click / Enter on an image

    def __init__(self, model: ImageListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.view = ThumbnailGridView(self)
        self.view.setItemDelegate(ThumbnailDelegate(self.view))
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

        self.footer = footer = QHBoxLayout()  # other parts add controls here (sort order)
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

    def selected_ids(self) -> SelectedIds:
        """Selected image IDs in grid order. Walks selection ranges, not selectedIndexes(): Ctrl+A over 1M
        items is one range (one copied slice of the ID array, no Python int per image), not 1M index objects."""
        selection = self.view.selectionModel().selection()
        spans = [(selection.at(i).top(), selection.at(i).bottom()) for i in range(selection.count())]
        return SelectedIds(self.model.id_index(), spans)

    def select_ids(self, ids: list[int]) -> None:
        """Select exactly these images (those shown), one selection range per run of adjacent rows: keeping
        100k selected images after a re-query is a handful of ranges, not 100k `select` calls."""
        rows = sorted({row for image_id in ids if (row := self.model.row_of(image_id)) is not None})
        selection = QItemSelection()
        start = previous = -2
        for row in [*rows, -2]:
            if row != previous + 1:
                if start >= 0:
                    selection.select(self.model.index(start), self.model.index(previous))
                start = row
            previous = row
        self.view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def flush_selection(self) -> None:
        """Emit a pending selection change now (keyboard navigation must not wait for the debounce)."""
        if self._selection_timer.isActive():
            self._selection_timer.stop()
            self._emit_selection()

    def _emit_selection(self) -> None:
        self.selection_changed.emit(self.selected_ids())
