"""A layout that places widgets left to right and wraps them into rows (for tag chips)."""

from __future__ import annotations

from collections.abc import Collection

import shiboken6
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QWidget


class FlowLayout(QLayout):
    """Left-to-right, wrapping layout with a fixed spacing. GUI thread only."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 4) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        # Qt asks for heightForWidth and sets the geometry many times per change (every ancestor layout, the
        # scroll area); each answer walks every item. The items' hints and the heights per width are kept until
        # the layout is invalidated (an item added, removed, shown, hidden or resized its hint).
        self._hints: list[QSize] | None = None
        self._heights: dict[int, int] = {}
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)
        self.invalidate()

    def invalidate(self) -> None:
        self._hints = None
        self._heights.clear()
        super().invalidate()

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        if not 0 <= index < len(self._items):
            return None
        self._hints = None
        self._heights.clear()
        return self._items.pop(index)

    def remove_widgets(self, widgets: Collection[QWidget]) -> None:
        """Take these widgets out in one pass (QLayout.removeWidget walks every item per widget: O(n^2))."""
        kept: list[QLayoutItem] = []
        for item in self._items:
            if item.widget() in widgets:
                shiboken6.delete(item)  # the layout owns its items (what removeWidget does after takeAt)
            else:
                kept.append(item)
        self._items = kept
        self.invalidate()

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        height = self._heights.get(width)
        if height is None:
            height = self._heights[width] = self._arrange(QRect(0, 0, width, 0), apply=False)
        return height

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, apply=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for hint in self._item_hints():
            size = size.expandedTo(hint)
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def _item_hints(self) -> list[QSize]:
        if self._hints is None:
            self._hints = [item.sizeHint() if not item.isEmpty() else QSize(0, 0) for item in self._items]
        return self._hints

    def _arrange(self, rect: QRect, *, apply: bool) -> int:
        margins = self.contentsMargins()
        area = rect.adjusted(margins.left(), margins.top(), -margins.right(), -margins.bottom())
        x, y, row_height = area.x(), area.y(), 0
        for item, hint in zip(self._items, self._item_hints(), strict=True):
            if item.isEmpty():  # a hidden widget takes no place (as in Qt's own layouts)
                continue
            if x + hint.width() > area.right() + 1 and row_height > 0:
                x, y = area.x(), y + row_height + self._spacing
                row_height = 0
            if apply:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._spacing
            row_height = max(row_height, hint.height())
        return y + row_height - rect.y() + margins.bottom()
