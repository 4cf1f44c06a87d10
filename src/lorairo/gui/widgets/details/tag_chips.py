"""Tag chips: one small pill per tag, coloured by category, with provenance on hover.

Manual tags have a dashed border. A chip's close button asks to remove the tag; a double-click turns it into
an inline editor to rename it.
Chips only emit requests; the panel turns them into edits run by the worker. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QToolButton, QWidget

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

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = FlowLayout(self, spacing=4)
        self.chips: list[TagChip] = []
        self._empty = QLabel("No tags", self)
        self._empty.setEnabled(False)
        self._layout.addWidget(self._empty)
        self._more = QLabel(self)
        self._more.setEnabled(False)
        self._more.hide()

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
        self._layout.addWidget(chip)
        self.chips.append(chip)
        self._empty.hide()

    def set_tags(self, tags: Sequence[TagInfo]) -> None:
        """Show one image's tags (already ordered by the caller)."""
        self.clear()
        for info in tags:
            chip = TagChip(info.tag, info.category, manual=info.source == "manual", parent=self)
            chip.setToolTip(chip_tooltip(info))
            self._add_chip(chip)
        self._layout.invalidate()
        self._fit_height()
        self.updateGeometry()

    def set_counts(self, counts: Sequence[TagCount], total: int, *, limit: int = MAX_SELECTION_CHIPS) -> None:
        """Show a selection's most common tags with how many of the `total` images carry each."""
        self.clear()
        for item in counts[:limit]:
            label = item.tag if item.count == total else f"{item.tag}  {item.count}/{total}"
            chip = TagChip(item.tag, item.category, label=label, parent=self)
            chip.setToolTip(f"<b>{item.tag}</b><br>on {item.count} of {total} selected images")
            chip.close_button.setToolTip(f"Remove '{item.tag}' from all selected images")
            self._add_chip(chip)
        if len(counts) > limit:  # thousands of chip widgets would freeze the GUI thread on a large selection
            self._more.setText(f"… and {len(counts) - limit} more tags")
            self._layout.removeWidget(self._more)
            self._layout.addWidget(self._more)  # after the chips
            self._more.show()
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
