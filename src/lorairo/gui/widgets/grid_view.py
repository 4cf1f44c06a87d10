"""`ThumbnailGridView`: an item view of equal cells whose positions are arithmetic (row = index // columns).

Why not QListView in icon mode: it lays out every item of the model after each insert or reset, and asks a
Python model for each one (`index()` -> `hasIndex()` -> `rowCount()`, each re-taking the GIL). At 100k images
that is 100k Python calls per layout, 0.2-0.6 s of GUI time while an import appends batches. Here a layout is
a division: inserting rows only moves the scroll bar's range, and painting touches the visible cells only.

Selection follows file managers: a rubber band selects a rectangle of cells, Shift+click and Shift+arrows
select the range between the anchor and the new item in reading order, Ctrl toggles. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
)
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent, QRegion, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QRubberBand,
    QStyle,
    QStyleOptionRubberBand,
    QStyleOptionViewItem,
    QWidget,
)

Index = QModelIndex | QPersistentModelIndex
SPACING = 6  # around each thumbnail inside its cell


class ThumbnailGridView(QAbstractItemView):
    """Square thumbnails in rows that fill the viewport's width; vertical scrolling per pixel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._icon = 160
        self._columns = 1
        self._cell = QSize(self._icon + 2 * SPACING, self._icon + 2 * SPACING)
        self._hover = QPersistentModelIndex()
        self._band_origin: QPoint | None = None  # content coordinates of a rubber band's start
        self._band = QRect()  # viewport coordinates, drawn while dragging
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        # Always shown: cells are sized to the viewport width, and a scroll bar appearing would re-flow them.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setDragEnabled(False)
        self.setMouseTracking(True)
        self.setAccessibleName("Image grid")

    # --- geometry -------------------------------------------------------------------------------------------

    def _count(self) -> int:
        model = self.model()
        return model.rowCount(self.rootIndex()) if model is not None else 0

    def apply_icon_size(self, size: int) -> None:
        """Cells of `size` px thumbnails; the first visible image stays at the top."""
        anchor = self._first_visible()
        self._icon = size
        self.setIconSize(QSize(size, size))
        self._relayout(anchor)

    def _relayout(self, anchor: int | None = None) -> None:
        minimum = self._icon + 2 * SPACING
        width = max(minimum, self.viewport().width())
        columns = max(1, width // minimum)
        reflowed = columns != self._columns or minimum != self._cell.height()
        self._columns = columns
        self._cell = QSize(width // columns, minimum)  # spread over the whole width: no ragged strip
        self.updateGeometries()
        if anchor is not None and reflowed:  # a height-only resize keeps the exact scroll position
            self.verticalScrollBar().setValue((anchor // self._columns) * self._cell.height())
        self.viewport().update()

    def _first_visible(self) -> int | None:
        if not self._count():
            return None
        return (self.verticalOffset() // self._cell.height()) * self._columns

    def _cell_rect(self, row: int) -> QRect:
        """Viewport rectangle of item `row`."""
        x = (row % self._columns) * self._cell.width()
        y = (row // self._columns) * self._cell.height() - self.verticalOffset()
        return QRect(x, y, self._cell.width(), self._cell.height())

    def _row_at(self, point: QPoint, clamp: bool = False) -> int:
        """Item under viewport `point`, -1 for none; `clamp` gives the nearest item instead (range selection
        dragged past the last image or beside the columns)."""
        count = self._count()
        if not count:
            return -1
        column = point.x() // self._cell.width()
        line = (point.y() + self.verticalOffset()) // self._cell.height()
        if clamp:
            column = min(max(column, 0), self._columns - 1)
            line = max(line, 0)
            return min(line * self._columns + column, count - 1)
        if point.x() < 0 or point.y() < 0 or column >= self._columns:
            return -1
        row = line * self._columns + column
        return row if row < count else -1

    def _visible_rows(self, area: QRect | None = None) -> range:
        area = area if area is not None else self.viewport().rect()
        height = self._cell.height()
        first_line = max(0, (area.top() + self.verticalOffset()) // height)
        last_line = max(0, (area.bottom() + self.verticalOffset()) // height)
        return range(first_line * self._columns, min(self._count(), (last_line + 1) * self._columns))

    def updateGeometries(self) -> None:
        lines = -(-self._count() // self._columns)
        bar = self.verticalScrollBar()
        page = self.viewport().height()
        bar.setRange(0, max(0, lines * self._cell.height() - page))
        bar.setPageStep(page)
        bar.setSingleStep(max(8, self._icon // 4))
        super().updateGeometries()

    def resizeEvent(self, event: QResizeEvent) -> None:
        anchor = self._first_visible()
        super().resizeEvent(event)
        self._relayout(anchor)

    # --- QAbstractItemView's abstract interface -------------------------------------------------------------

    def visualRect(self, index: Index) -> QRect:
        if not index.isValid() or index.column() != 0:
            return QRect()
        return self._cell_rect(index.row())

    def indexAt(self, point: QPoint) -> QModelIndex:
        row = self._row_at(point)
        model = self.model()
        return model.index(row, 0, self.rootIndex()) if row >= 0 and model is not None else QModelIndex()

    def scrollTo(
        self, index: Index, hint: QAbstractItemView.ScrollHint = QAbstractItemView.ScrollHint.EnsureVisible
    ) -> None:
        if not index.isValid():
            return
        rect = self._cell_rect(index.row())
        page = self.viewport().height()
        bar = self.verticalScrollBar()
        hints = QAbstractItemView.ScrollHint
        if hint == hints.PositionAtTop:
            delta = rect.top()
        elif hint == hints.PositionAtBottom:
            delta = rect.bottom() + 1 - page
        elif hint == hints.PositionAtCenter:
            delta = rect.center().y() - page // 2
        elif rect.top() < 0:
            delta = rect.top()
        elif rect.bottom() >= page:
            delta = min(rect.bottom() + 1 - page, rect.top())
        else:
            return
        bar.setValue(bar.value() + delta)

    def horizontalOffset(self) -> int:
        return 0

    def verticalOffset(self) -> int:
        return self.verticalScrollBar().value()

    def isIndexHidden(self, index: Index) -> bool:
        return False

    def moveCursor(self, action: QAbstractItemView.CursorAction, modifiers: Qt.KeyboardModifier) -> QModelIndex:
        count = self._count()
        model = self.model()
        if not count or model is None:
            return QModelIndex()
        current = self.currentIndex()
        row = current.row() if current.isValid() else -1
        if row < 0:
            return model.index(0, 0, self.rootIndex())
        move = QAbstractItemView.CursorAction
        page = max(1, self.viewport().height() // self._cell.height()) * self._columns
        step = {
            move.MoveLeft: -1,
            move.MovePrevious: -1,
            move.MoveRight: 1,
            move.MoveNext: 1,
            move.MoveUp: -self._columns,
            move.MoveDown: self._columns,
            move.MovePageUp: -page,
            move.MovePageDown: page,
        }
        if action == move.MoveHome:
            row = 0
        elif action == move.MoveEnd:
            row = count - 1
        elif action in (move.MoveUp, move.MoveDown) and not 0 <= row + step[action] < count:
            # Down from the last full line lands on the last image (file managers do); Up from the first stays.
            row = count - 1 if action == move.MoveDown and row // self._columns < (count - 1) // self._columns else row
        elif action in step:
            row = min(max(row + step[action], 0), count - 1)
        return model.index(row, 0, self.rootIndex())

    def setSelection(self, rect: QRect, command: QItemSelectionModel.SelectionFlag) -> None:
        """`rect` runs from the anchor (press point or the anchor item's centre) to the pointer or new current
        item, in viewport coordinates. A click selects the item under it, Shift a reading-order range, a drag
        a rectangle of cells."""
        model, selection_model = self.model(), self.selectionModel()
        if model is None or selection_model is None or not self._count():
            return
        root = self.rootIndex()
        selection = QItemSelection()
        if rect.width() == 1 and rect.height() == 1:
            row = self._row_at(rect.topLeft())
            if row >= 0:
                selection.select(model.index(row, 0, root), model.index(row, 0, root))
        elif self._band_origin is not None:  # dragging from a press without Shift: a rubber band
            self._select_cells(rect.normalized(), selection)
        else:  # Shift+click, Shift+drag, Shift+arrows
            start, end = sorted((self._row_at(rect.topLeft(), True), self._row_at(rect.bottomRight(), True)))
            selection.select(model.index(start, 0, root), model.index(end, 0, root))
        selection_model.select(selection, command)

    def _select_cells(self, rect: QRect, selection: QItemSelection) -> None:
        """Every cell the rectangle touches, one range per line (one range when whole lines are covered)."""
        model, root, count = self.model(), self.rootIndex(), self._count()
        width, height = self._cell.width(), self._cell.height()
        first_column = max(0, rect.left() // width)
        last_column = min(self._columns - 1, rect.right() // width)
        first_line = max(0, (rect.top() + self.verticalOffset()) // height)
        last_line = (rect.bottom() + self.verticalOffset()) // height
        if first_column > last_column or last_line < first_line:
            return
        if first_column == 0 and last_column == self._columns - 1:
            start, end = first_line * self._columns, min(count - 1, (last_line + 1) * self._columns - 1)
            if start <= end:
                selection.select(model.index(start, 0, root), model.index(end, 0, root))
            return
        for line in range(first_line, last_line + 1):
            start = line * self._columns + first_column
            end = min(count - 1, line * self._columns + last_column)
            if start > end:
                break
            selection.select(model.index(start, 0, root), model.index(end, 0, root))

    def visualRegionForSelection(self, selection: QItemSelection) -> QRegion:
        """The visible part only: Ctrl+A over 100k images must not compute 100k rectangles."""
        return QRegion(self.viewport().rect())

    def selectAll(self) -> None:
        """One range from the first to the last image (Qt's own asks every row whether it has children)."""
        model, count = self.model(), self._count()
        if model is not None and count:
            root = self.rootIndex()
            self.selectionModel().select(
                QItemSelection(model.index(0, 0, root), model.index(count - 1, 0, root)),
                QItemSelectionModel.SelectionFlag.ClearAndSelect,
            )

    def keyboardSearch(self, search: str) -> None:
        """Off: Qt's type-to-find matches the display text of every row (100k `data()` calls per key press),
        and thumbnails have no display text."""

    # --- model changes --------------------------------------------------------------------------------------

    def reset(self) -> None:
        """A new result list (a filter ran): start at its top."""
        super().reset()
        self.verticalScrollBar().setValue(0)

    def rowsInserted(self, parent: Index, start: int, end: int) -> None:
        super().rowsInserted(parent, start, end)
        self.updateGeometries()
        visible = self._visible_rows()
        if start < visible.stop + self._columns:
            self.viewport().update()

    def dataChanged(self, top_left: Index, bottom_right: Index, roles: Sequence[int] = ()) -> None:
        """Repaint only when the changed rows are on screen (row pages and thumbnails arrive for rows around the
        visible ones too)."""
        visible = self._visible_rows()
        if top_left.row() < visible.stop and bottom_right.row() >= visible.start:
            self.viewport().update()

    # --- painting and the mouse -----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self.viewport())
        try:
            self._paint(painter, event.rect())
        finally:  # a failing delegate must not leave the painter open (Qt then warns on every later paint)
            painter.end()

    def _paint(self, painter: QPainter, area: QRect) -> None:
        model, delegate, selection = self.model(), self.itemDelegate(), self.selectionModel()
        if model is None or delegate is None:
            return
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        option.decorationSize = QSize(self._icon, self._icon)
        base_state = option.state
        current = self.currentIndex()
        focus = self.hasFocus() or self.viewport().hasFocus()
        root = self.rootIndex()
        for row in self._visible_rows(area):
            index = model.index(row, 0, root)
            option.rect = self._cell_rect(row)
            state = base_state
            if selection is not None and selection.isSelected(index):
                state |= QStyle.StateFlag.State_Selected
            if focus and index == current:
                state |= QStyle.StateFlag.State_HasFocus
            if index == self._hover:
                state |= QStyle.StateFlag.State_MouseOver
            option.state = state
            delegate.paint(painter, option, index)
        if not self._band.isNull():
            band = QStyleOptionRubberBand()
            band.initFrom(self)
            band.shape = QRubberBand.Shape.Rectangle  # the enum lives on QRubberBand, not on the option
            band.opaque = False
            band.rect = self._band
            self.style().drawControl(QStyle.ControlElement.CE_RubberBand, band, painter, self)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        position = event.position().toPoint()
        plain = not event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        if event.button() == Qt.MouseButton.LeftButton and plain:
            self._band_origin = QPoint(position.x(), position.y() + self.verticalOffset())
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        position = event.position().toPoint()
        if self._band_origin is not None and event.buttons() & Qt.MouseButton.LeftButton:
            origin = QPoint(self._band_origin.x(), self._band_origin.y() - self.verticalOffset())
            self._band = QRect(origin, position).normalized()
            self.viewport().update()
        hover = QPersistentModelIndex(self.indexAt(position))
        if hover != self._hover:
            for index in (self._hover, hover):
                if index.isValid():
                    self.viewport().update(self._cell_rect(index.row()))
            self._hover = hover
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._band_origin = None
        if not self._band.isNull():
            self._band = QRect()
            self.viewport().update()
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        if self._hover.isValid():
            self.viewport().update(self._cell_rect(self._hover.row()))
            self._hover = QPersistentModelIndex()
        super().leaveEvent(event)
