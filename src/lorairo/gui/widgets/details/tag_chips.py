"""Tag chips: one small pill per tag, coloured by category, with provenance on hover.

Manual tags have a dashed border. A chip's close button asks to remove the tag; a double-click turns it into
an inline editor to rename it. On one image's chips, dragging a chip onto another place (or its context menu's
"Move to front") asks to reorder the tags: chips are shown in the order export writes them.
Chips only emit requests; the panel turns them into edits run by the worker. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QMimeData, QPoint, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QDrag,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import QApplication, QFrame, QHBoxLayout, QLabel, QLineEdit, QMenu, QToolButton, QWidget

from lorairo.gui.widgets.details.flow_layout import FlowLayout
from lorairo.services.edit_service import TagCount, TagInfo

# Danbooru's category colours: users recognise them at a glance.
CATEGORY_COLORS: dict[str, str] = {
    "general": "#0075f8",
    "character": "#00ab2c",
    "copyright": "#a800aa",
    "artist": "#c00004",
    "meta": "#fd9200",
    "rating": "#00a3a3",
}
UNKNOWN_COLOR = "#8a8a8a"
MAX_SELECTION_CHIPS = 80
MAX_CHIP_TEXT_PX = 220
MAX_IMAGE_CHIPS = 400  # one image with thousands of tags: a chip widget each would freeze the GUI thread
CHIP_MIME = "application/x-lorairo-tag-chip"


def category_color(category: str | None) -> QColor:
    return QColor(CATEGORY_COLORS.get(category or "", UNKNOWN_COLOR))


def chip_tooltip(info: TagInfo) -> str:
    lines = [f"<b>{info.tag}</b>", f"Category: {info.category or 'unknown'}"]
    if info.model:
        lines.append(f"Model: {info.model}")
    else:
        lines.append(f"Source: {info.source}")
    if info.confidence is not None:
        lines.append(f"Confidence: {info.confidence:.2f}")
    lines.append("<i>Double-click to rename</i>")
    return "<br>".join(lines)


class TagChip(QFrame):
    """One tag. `remove_requested(tag)` from the close button, `rename_requested(old, new)` after editing."""

    remove_requested = Signal(str)
    rename_requested = Signal(str, str)
    front_requested = Signal(str)

    def __init__(
        self,
        tag: str,
        category: str | None,
        *,
        label: str | None = None,
        manual: bool = False,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.tag = tag
        self.category = category
        self.setObjectName("TagChip")
        color = category_color(category)
        fill = QColor(color)
        fill.setAlpha(46)  # a tint of the category colour reads well on light and dark palettes
        self.setStyleSheet(
            f"#TagChip {{ background: rgba({fill.red()},{fill.green()},{fill.blue()},{fill.alpha()});"
            f" border: 1px {'dashed' if manual else 'solid'} {color.name()}; border-radius: 9px; }}"
            "#TagChip QToolButton { border: none; padding: 0px; }"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 1, 2, 1)
        layout.setSpacing(2)
        self.label = QLabel(self)
        text = label or tag
        # A very long tag is shortened in the middle (whole in the tooltip): a chip wider than the dock would set
        # the panel's minimum width and give it a horizontal scrollbar.
        self.label.setText(self.label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, MAX_CHIP_TEXT_PX))
        self.editor = QLineEdit(tag, self)
        self.editor.hide()
        self.editor.installEventFilter(self)
        self.editor.returnPressed.connect(self._finish_rename)
        self.close_button = QToolButton(self)
        self.close_button.setText("✕")
        self.close_button.setToolTip(f"Remove '{tag}'")
        self.close_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.close_button.clicked.connect(lambda: self.remove_requested.emit(self.tag))
        layout.addWidget(self.label)
        layout.addWidget(self.editor)
        layout.addWidget(self.close_button)
        self.draggable = False
        self.pending = False  # shown before the edit is stored (TagChipArea.add_pending)
        self._press: QPoint | None = None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.draggable:
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pressed = self._press is not None and bool(event.buttons() & Qt.MouseButton.LeftButton)
        moved = self._press is not None and (event.position().toPoint() - self._press).manhattanLength()
        if pressed and moved and moved >= QApplication.startDragDistance():
            self._press = None
            mime = QMimeData()
            mime.setData(CHIP_MIME, self.tag.encode("utf-8"))
            drag = QDrag(self)
            drag.setMimeData(mime)
            drag.setPixmap(self.grab())
            drag.setHotSpot(event.position().toPoint())
            drag.exec(Qt.DropAction.MoveAction)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._press = None
        super().mouseReleaseEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        menu = QMenu(self)
        if self.draggable:
            menu.addAction("Move to front", lambda: self.front_requested.emit(self.tag))
        menu.addAction("Rename…", self.start_rename)
        menu.addAction("Remove", lambda: self.remove_requested.emit(self.tag))
        menu.exec(event.globalPos())

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.start_rename()
        event.accept()

    def start_rename(self) -> None:
        self.label.hide()
        self.editor.setText(self.tag)
        self.editor.setMinimumWidth(max(120, self.label.width() + 30))
        self.editor.show()
        self.editor.setFocus()
        self.editor.selectAll()

    def cancel_rename(self) -> None:
        self.editor.hide()
        self.label.show()

    def _finish_rename(self) -> None:
        new = self.editor.text().strip()
        self.cancel_rename()
        if new and new != self.tag:
            self.rename_requested.emit(self.tag, new)

    def eventFilter(self, watched: object, event: object) -> bool:
        if watched is self.editor and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Escape:
            self.cancel_rename()
            return True
        return False


class TagChipArea(QWidget):
    """A wrapping row of chips; re-emits every chip's requests."""

    remove_requested = Signal(str)
    rename_requested = Signal(str, str)
    reorder_requested = Signal(list)  # list[str]: the image's tags in the order the user wants them written

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reorderable = False
        self._layout = FlowLayout(self, spacing=4)
        self.chips: list[TagChip] = []
        self._empty = QLabel("No tags", self)
        self._empty.setEnabled(False)
        self._layout.addWidget(self._empty)
        self._more = QLabel(self)
        self._more.setEnabled(False)
        self._more.hide()
        self.all_tags: list[str] = []

    def clear(self) -> None:
        for chip in self.chips:
            self._layout.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        self._empty.show()
        self._more.hide()

    def _add_chip(self, chip: TagChip) -> None:
        chip.remove_requested.connect(self.remove_requested)
        chip.rename_requested.connect(self.rename_requested)
        chip.front_requested.connect(lambda tag: self.move_chip(tag, 0))
        chip.hide()  # shown with the others at once (_show_added): each show re-lays out every ancestor
        self._layout.addWidget(chip)
        self.chips.append(chip)
        self._empty.hide()

    def _show_added(self) -> None:
        self._layout.setEnabled(False)
        for chip in self.chips:
            if chip.isHidden():
                chip.show()
        self._layout.setEnabled(True)

    def set_tags(self, tags: Sequence[TagInfo], *, limit: int = MAX_IMAGE_CHIPS) -> None:
        """Show one image's tags (already in the order they are written); drag chips to reorder them."""
        self.clear()
        self.reorderable = len(tags) <= limit  # a partial row of chips cannot say where the hidden ones go
        self.setAcceptDrops(self.reorderable)
        self.all_tags = [info.tag for info in tags]
        for info in tags[:limit]:
            chip = TagChip(info.tag, info.category, manual=info.source == "manual", parent=self)
            chip.setToolTip(chip_tooltip(info) + ("<br><i>Drag to reorder</i>" if self.reorderable else ""))
            chip.draggable = self.reorderable
            self._add_chip(chip)
        self._show_more(len(tags) - limit)
        self._show_added()
        self._layout.invalidate()
        self._fit_height()
        self.updateGeometry()

    def add_pending(self, tags: Sequence[str]) -> None:
        """Show tags being added at once, faded, before the write lands (the reload that follows replaces them)."""
        known = {chip.tag.lower() for chip in self.chips}
        for tag in tags:
            if tag.lower() in known:
                continue
            chip = TagChip(tag, None, manual=True, parent=self)
            chip.pending = True
            chip.setEnabled(False)  # nothing to remove or rename until it is stored
            chip.setToolTip(f"<b>{tag}</b><br><i>Saving…</i>")
            self._add_chip(chip)
        self._show_added()
        self._layout.invalidate()
        self._fit_height()
        self.updateGeometry()

    def drop_pending(self) -> None:
        """Remove the faded chips of an add that failed."""
        for chip in [c for c in self.chips if c.pending]:
            self._layout.removeWidget(chip)
            chip.deleteLater()
            self.chips.remove(chip)
        self._empty.setVisible(not self.chips)
        self._fit_height()

    def _show_more(self, hidden: int) -> None:
        if hidden > 0:
            self._more.setText(f"… and {hidden} more tags")
            self._layout.removeWidget(self._more)
            self._layout.addWidget(self._more)  # after the chips
            self._more.show()

    def set_counts(self, counts: Sequence[TagCount], total: int, *, limit: int = MAX_SELECTION_CHIPS) -> None:
        """Show a selection's most common tags with how many of the `total` images carry each."""
        self.clear()
        self.reorderable = False
        self.setAcceptDrops(False)
        for item in counts[:limit]:
            label = item.tag if item.count == total else f"{item.tag}  {item.count}/{total}"
            chip = TagChip(item.tag, item.category, label=label, parent=self)
            chip.setToolTip(f"<b>{item.tag}</b><br>on {item.count} of {total} selected images")
            chip.close_button.setToolTip(f"Remove '{item.tag}' from all selected images")
            self._add_chip(chip)
        self._show_more(len(counts) - limit)  # thousands of chip widgets would freeze the GUI thread
        self._show_added()
        self._layout.invalidate()
        self._fit_height()
        self.updateGeometry()

    def _fit_height(self) -> None:
        # Scroll areas and group boxes do not always ask for heightForWidth again after a resize or new
        # chips; pinning the minimum height to what the current width needs keeps every row visible.
        needed = self._layout.heightForWidth(max(self.width(), 1))
        if needed != self.minimumHeight():
            self.setMinimumHeight(needed)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def chip(self, tag: str) -> TagChip | None:
        return next((chip for chip in self.chips if chip.tag == tag), None)

    def tags(self) -> list[str]:
        return [chip.tag for chip in self.chips]

    # --- reordering ------------------------------------------------------------------------------------

    def move_chip(self, tag: str, index: int) -> None:
        """Ask for `tag` to be written at `index` among this image's tags (0: first)."""
        order = [t for t in self.all_tags if t != tag]
        if tag not in self.all_tags or not self.reorderable:
            return
        order.insert(max(0, min(index, len(order))), tag)
        if order != self.all_tags:
            self.reorder_requested.emit(order)

    def drop_index(self, point: QPoint) -> int:
        """Where a chip dropped at `point` goes: before the first chip that lies after the point in reading order."""
        for index, chip in enumerate(self.chips):
            rect = chip.geometry()
            if point.y() < rect.top() or (point.y() <= rect.bottom() and point.x() < rect.center().x()):
                return index
        return len(self.chips)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.reorderable and event.mimeData().hasFormat(CHIP_MIME):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self.reorderable and event.mimeData().hasFormat(CHIP_MIME):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if not (self.reorderable and event.mimeData().hasFormat(CHIP_MIME)):
            return
        tag = bytes(event.mimeData().data(CHIP_MIME).data()).decode("utf-8")
        index = self.drop_index(event.position().toPoint())
        if tag in self.all_tags and self.all_tags.index(tag) < index:
            index -= 1  # the chip leaves its old place before the drop point
        event.acceptProposedAction()
        self.move_chip(tag, index)
