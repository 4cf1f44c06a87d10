"""Tag chips: one small pill per tag, coloured by category, with provenance on hover.

Manual tags have a dashed border. A chip's close mark (or Delete) asks to remove the tag; a double-click (or
F2) turns it into an inline editor to rename it. On one image's chips, dragging a chip onto another place (or
its context menu's "Move to front") asks to reorder the tags: chips are shown in the order export writes them.
Chips only emit requests; the panel turns them into edits run by the worker. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from PySide6.QtCore import QEvent, QMimeData, QObject, QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QDrag,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFocusEvent,
    QHelpEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QMenu, QSizePolicy, QToolTip, QWidget

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
CHIP_BATCH = 80  # chips made in one event-loop turn: 80 painted chips cost ~25-30 ms of GUI thread (offscreen)
CHIP_MIME = "application/x-lorairo-tag-chip"
CLOSE_MARK = "✕"


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


class TagChip(QWidget):
    """One tag. `remove_requested(tag)` from the close mark, `rename_requested(old, new)` after editing.

    The chip paints itself (pill, text, close mark) instead of holding a label, a tool button and a style sheet:
    80 chips of a selection were 80 style-sheet polishes and 240 child widgets on the GUI thread (issue 20,
    Ctrl+A at 1M). The rename editor is made on the first rename. Keyboard: Tab reaches each chip, Delete /
    Backspace / Space removes, F2 / Enter renames, the menu key opens its menu.
    """

    remove_requested = Signal(str)
    rename_requested = Signal(str, str)
    front_requested = Signal(str)

    PAD_LEFT, GAP, PAD_RIGHT, RADIUS = 9, 6, 5, 9

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
        self.manual = manual  # drawn with a dashed border
        self.text = label or tag
        self.close_tooltip = f"Remove '{tag}'"
        self.editor: QLineEdit | None = None
        self.draggable = False
        self.pending = False  # shown before the edit is stored (TagChipArea.add_pending)
        self._press: QPoint | None = None
        self._close_pressed = False
        self._hover_close = False
        self._hint: QSize | None = None
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # the old chip's close button was reached by Tab too
        self.setMouseTracking(True)  # the close mark lights up under the pointer
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setAccessibleName(tag)

    # --- geometry and painting -------------------------------------------------------------------------

    def shown_text(self) -> str:
        """The label as painted: a very long tag is shortened in the middle (whole in the tooltip), since a chip
        wider than the dock would set the panel's minimum width and give it a horizontal scrollbar."""
        return self.fontMetrics().elidedText(self.text, Qt.TextElideMode.ElideMiddle, MAX_CHIP_TEXT_PX)

    def _close_width(self) -> int:
        return self.fontMetrics().horizontalAdvance(CLOSE_MARK) + 8

    def sizeHint(self) -> QSize:
        if self._hint is None:
            metrics = self.fontMetrics()
            text_width = metrics.horizontalAdvance(self.shown_text())
            height = max(metrics.height() + 4, 21)
            if self.editor is not None and self.editing():
                text_width = self.editor.width()
                height = max(height, self.editor.height() + 2)
            width = self.PAD_LEFT + text_width + self.GAP + self._close_width() + self.PAD_RIGHT
            self._hint = QSize(width, height)
        return QSize(self._hint)

    def editing(self) -> bool:
        """The inline rename editor is open."""
        return self.editor is not None and not self.editor.isHidden()

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def close_rect(self) -> QRect:
        """Where the close mark is (clicking it removes the tag)."""
        width = self._close_width()
        return QRect(self.width() - self.PAD_RIGHT - width, 0, width, self.height())

    def _geometry_changed(self) -> None:
        self._hint = None
        self.updateGeometry()
        self.update()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._geometry_changed()
        super().changeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = category_color(self.category)
        fill = QColor(colour)
        fill.setAlpha(46)  # a tint of the category colour reads well on light and dark palettes
        pen = QPen(colour, 1.0)
        if self.manual:
            pen.setStyle(Qt.PenStyle.CustomDashLine)
            pen.setDashPattern([3.0, 2.0])
        painter.setPen(pen)
        painter.setBrush(fill)
        pill = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.drawRoundedRect(pill, self.RADIUS, self.RADIUS)
        if self.hasFocus():
            focus = QPen(self.palette().color(QPalette.ColorRole.Highlight), 2.0)
            painter.setPen(focus)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(pill.adjusted(1.0, 1.0, -1.0, -1.0), self.RADIUS - 1, self.RADIUS - 1)
        text_colour = self.palette().color(QPalette.ColorRole.WindowText)  # the disabled colour while pending
        painter.setPen(text_colour)
        close = self.close_rect()
        if not self.editing():
            text_rect = QRect(self.PAD_LEFT, 0, close.left() - self.GAP - self.PAD_LEFT, self.height())
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, self.shown_text())
        if self._hover_close or self._close_pressed:
            hover = QColor(colour)
            hover.setAlpha(70)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(hover)
            side = min(close.width(), self.height() - 4)
            centre = QRectF(close).center()
            painter.drawEllipse(centre, side / 2, side / 2)
            painter.setPen(text_colour)
        painter.drawText(close, Qt.AlignmentFlag.AlignCenter, CLOSE_MARK)

    # --- mouse and keyboard --------------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        if event.type() != QEvent.Type.ToolTip or not isinstance(event, QHelpEvent):
            return super().event(event)
        if self.close_rect().contains(event.pos()):  # the close mark has its own tooltip, as its button had
            QToolTip.showText(event.globalPos(), self.close_tooltip, self, self.close_rect())
            return True
        return super().event(event)

    def _set_hover_close(self, hover: bool) -> None:
        if hover != self._hover_close:
            self._hover_close = hover
            if hover:
                self.setCursor(Qt.CursorShape.PointingHandCursor)
            else:
                self.unsetCursor()
            self.update(self.close_rect())

    def leaveEvent(self, event: QEvent) -> None:
        self._set_hover_close(False)
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.close_rect().contains(event.position().toPoint()):
            self._close_pressed = True
            self.update(self.close_rect())
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and self.draggable:
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = event.position().toPoint()
        self._set_hover_close(self.close_rect().contains(point))
        pressed = self._press is not None and bool(event.buttons() & Qt.MouseButton.LeftButton)
        moved = self._press is not None and (point - self._press).manhattanLength()
        if pressed and moved and moved >= QApplication.startDragDistance():
            self._press = None
            mime = QMimeData()
            mime.setData(CHIP_MIME, self.tag.encode("utf-8"))
            drag = QDrag(self)
            drag.setMimeData(mime)
            drag.setPixmap(self.grab())
            drag.setHotSpot(point)
            drag.exec(Qt.DropAction.MoveAction)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._press = None
        if self._close_pressed and event.button() == Qt.MouseButton.LeftButton:
            self._close_pressed = False
            self.update(self.close_rect())
            if self.close_rect().contains(event.position().toPoint()):  # a press dragged off the mark cancels
                self.remove_requested.emit(self.tag)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace, Qt.Key.Key_Space):
            self.remove_requested.emit(self.tag)
        elif key in (Qt.Key.Key_F2, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.start_rename()
        else:
            super().keyPressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:
        self.update()
        super().focusInEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self.update()
        super().focusOutEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        menu = QMenu(self)
        if self.draggable:
            menu.addAction("Move to front", lambda: self.front_requested.emit(self.tag))
        menu.addAction("Rename…", self.start_rename)
        menu.addAction("Remove", lambda: self.remove_requested.emit(self.tag))
        menu.exec(event.globalPos())

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if not self.close_rect().contains(event.position().toPoint()):
            self.start_rename()
        event.accept()

    # --- inline rename -------------------------------------------------------------------------------------

    def start_rename(self) -> None:
        if self.editor is None:  # made on first use: a hidden editor per chip cost every chip an editor widget
            self.editor = QLineEdit(self.tag, self)
            self.editor.installEventFilter(self)
            self.editor.returnPressed.connect(self._finish_rename)
        text_width = self.fontMetrics().horizontalAdvance(self.shown_text())
        self.editor.setText(self.tag)
        self.editor.resize(max(120, text_width + 30), self.editor.sizeHint().height())
        self.editor.show()
        self._geometry_changed()
        self._place_editor()
        self.editor.setFocus()
        self.editor.selectAll()

    def _place_editor(self) -> None:
        if self.editor is not None and self.editing():
            top = max(0, (self.height() - self.editor.height()) // 2)
            self.editor.move(self.PAD_LEFT // 2, top)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_editor()

    def cancel_rename(self) -> None:
        if self.editor is not None and self.editing():
            self.editor.hide()
            self._geometry_changed()

    def _finish_rename(self) -> None:
        if self.editor is None:
            return
        new = self.editor.text().strip()
        self.cancel_rename()
        if new and new != self.tag:
            self.rename_requested.emit(self.tag, new)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
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
        # Chips past the first CHIP_BATCH are made a batch per event-loop turn, so that one image's 400 tags do
        # not hold the GUI thread in one go; a newer set_tags / set_counts drops what is left of an older one.
        self._to_build: list[Callable[[], TagChip]] = []
        self._shown = True
        self._batch_timer = QTimer(self)
        self._batch_timer.setSingleShot(True)
        self._batch_timer.setInterval(0)
        self._batch_timer.timeout.connect(self._build_batch)

    def building(self) -> bool:
        """Chips of the last set_tags / set_counts are still to be made (on the next event-loop turns, or when
        the area is seen again)."""
        return bool(self._to_build)

    def finish_building(self) -> None:
        """Make the chips still queued now (before an edit adds chips after them)."""
        while self._to_build:
            self._build_batch()

    def clear(self) -> None:
        self._to_build = []
        self._batch_timer.stop()
        self._layout.remove_widgets(set(self.chips))
        for chip in self.chips:
            chip.hide()  # off the screen now; deleted once control is back in the event loop
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
        """Show the chips just added in one layout pass and fit the area's height to them."""
        if not self._more.isHidden():  # "… and N more" stays after the chips
            self._layout.remove_widgets({self._more})
            self._layout.addWidget(self._more)
        self._layout.setEnabled(False)
        for chip in self.chips:
            if chip.isHidden():
                chip.show()
        self._layout.setEnabled(True)
        self._layout.invalidate()
        self._fit_height()
        self.updateGeometry()

    def _build(self, makers: list[Callable[[], TagChip]]) -> None:
        self._to_build = makers
        if self._seen():
            self._build_batch()
        # else: made when seen (set_shown, showEvent). The details sit in a tab beside Annotate and Problems: with
        # one of those in front, Ctrl+A over 1M images built 80 chips nobody saw, on the GUI thread.

    def _seen(self) -> bool:
        return self._shown and self.isVisible()

    def set_shown(self, shown: bool) -> None:
        """Whether the user can see the area: a dock's tab behind another is "visible" to Qt but not seen (the
        panel calls this from its dock's visibility)."""
        self._shown = shown
        if self._to_build and self._seen() and not self._batch_timer.isActive():
            self._build_batch()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._to_build and self._seen() and not self._batch_timer.isActive():
            self._build_batch()

    def _build_batch(self) -> None:
        batch, self._to_build = self._to_build[:CHIP_BATCH], self._to_build[CHIP_BATCH:]
        for make in batch:
            self._add_chip(make())
        self._show_added()
        if self._to_build:
            self._batch_timer.start()

    def set_tags(self, tags: Sequence[TagInfo], *, limit: int = MAX_IMAGE_CHIPS) -> None:
        """Show one image's tags (already in the order they are written); drag chips to reorder them."""
        self.clear()
        self.reorderable = len(tags) <= limit  # a partial row of chips cannot say where the hidden ones go
        self.setAcceptDrops(self.reorderable)
        self.all_tags = [info.tag for info in tags]
        reorderable = self.reorderable

        def make(info: TagInfo) -> TagChip:
            chip = TagChip(info.tag, info.category, manual=info.source == "manual", parent=self)
            chip.setToolTip(chip_tooltip(info) + ("<br><i>Drag to reorder</i>" if reorderable else ""))
            chip.draggable = reorderable
            return chip

        self._show_more(len(tags) - limit)
        self._build([partial(make, info) for info in tags[:limit]])

    def add_pending(self, tags: Sequence[str]) -> None:
        """Show tags being added at once, faded, before the write lands (the reload that follows replaces them)."""
        self.finish_building()  # the new chips go after all of the image's own
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

    def drop_pending(self) -> None:
        """Remove the faded chips of an add that failed."""
        pending = [chip for chip in self.chips if chip.pending]
        self._layout.remove_widgets(set(pending))
        for chip in pending:
            chip.hide()
            chip.deleteLater()
        self.chips = [chip for chip in self.chips if not chip.pending]
        self._empty.setVisible(not self.chips)
        self._fit_height()

    def _show_more(self, hidden: int) -> None:
        if hidden > 0:
            self._more.setText(f"… and {hidden} more tags")
            self._more.show()

    def set_counts(self, counts: Sequence[TagCount], total: int, *, limit: int = MAX_SELECTION_CHIPS) -> None:
        """Show a selection's most common tags with how many of the `total` images carry each."""
        self.clear()
        self.reorderable = False
        self.setAcceptDrops(False)
        self.all_tags = [item.tag for item in counts]

        def make(item: TagCount) -> TagChip:
            label = item.tag if item.count == total else f"{item.tag}  {item.count}/{total}"
            chip = TagChip(item.tag, item.category, label=label, parent=self)
            chip.setToolTip(f"<b>{item.tag}</b><br>on {item.count} of {total} selected images")
            chip.close_tooltip = f"Remove '{item.tag}' from all selected images"
            return chip

        self._show_more(len(counts) - limit)  # thousands of chip widgets would freeze the GUI thread
        self._build([partial(make, item) for item in counts[:limit]])

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
