"""The details panel's list of captions (several captions per image, issue 15): add, remove, reorder, edit.

Each caption is a `CaptionEditor` (saved when typing pauses, on focus-out or Ctrl+Enter). Any save or change
of the list emits `save_requested(list[str])` with every caption in order; the panel stores the list with
`EditService.set_captions` (the manual captions, in this order, which is the order export writes them).
The first editor is permanent (`first`): a single caption behaves as before. GUI thread only.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QToolButton, QVBoxLayout, QWidget

from lorairo.gui.widgets.details.editors import CaptionEditor

EDITOR_HEIGHT = 72


class _Row(QWidget):
    def __init__(self, editor: CaptionEditor, parent: QWidget) -> None:
        super().__init__(parent)
        self.editor = editor
        editor.setParent(self)
        editor.setFixedHeight(EDITOR_HEIGHT)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(editor, 1)
        buttons = QVBoxLayout()
        buttons.setSpacing(0)
        self.up = self._button("▲", "Move this caption up (export writes them in this order)")
        self.down = self._button("▼", "Move this caption down")
        self.remove = self._button("✕", "Remove this caption")
        for button in (self.up, self.down, self.remove):
            buttons.addWidget(button)
        layout.addLayout(buttons)

    def _button(self, text: str, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        return button


class CaptionList(QWidget):
    """Editable, ordered captions of one image."""

    save_requested = Signal(list)  # list[str]: every caption in order (blank ones are dropped when stored)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.first = CaptionEditor(self)
        self.rows: list[_Row] = []
        self._adding = False  # the user added an empty caption: a reload from the database keeps it
        self._image_id: int | None = None
        self.saving = 0  # lists sent to be stored whose answer has not come back (the panel calls `saved`)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(3)
        self.add_button = QPushButton("Add caption", self)
        self.add_button.setToolTip(
            "Another caption for this image: kohya writes one per line (enable_wildcard picks one per step), "
            "OneTrainer and SimpleTuner one per line"
        )
        self.add_button.clicked.connect(self.add_caption)
        self._layout.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)
        self._append(self.first)
        self._update_buttons()

    # --- values ------------------------------------------------------------------------------------

    def values(self) -> list[str]:
        return [row.editor.toPlainText() for row in self.rows]

    @property
    def dirty(self) -> bool:
        return any(row.editor.dirty for row in self.rows)

    def has_focus(self) -> bool:
        return any(row.editor.hasFocus() for row in self.rows)

    def load(self, image_id: int, texts: list[str]) -> None:
        """Show an image's stored captions. While a list sent for storing has not landed yet, reloads are ignored:
        they could bring back a caption just removed (and a click on it would store that)."""
        if image_id != self._image_id:
            self._image_id, self.saving, self._adding = image_id, 0, False
        elif self.saving:
            return  # the reload after the last save shows the list
        if self.dirty and self.has_focus():
            return  # the user is typing: their text wins, and is saved when they pause
        self.set_values(texts)

    def set_values(self, texts: list[str]) -> None:
        """Show these captions as saved (at least one editor, maybe empty); nothing is saved."""
        wanted = list(texts) or [""]
        if self._adding and self.rows and not self.rows[-1].editor.toPlainText().strip() and wanted[-1]:
            wanted.append("")  # still being added: an edit landing meanwhile must not take the new row away
        while len(self.rows) < len(wanted):
            self._append(CaptionEditor(self))
        while len(self.rows) > len(wanted):
            row = self.rows.pop()
            row.editor.save_requested.disconnect()
            row.setParent(None)
            row.deleteLater()
        for row, text in zip(self.rows, wanted, strict=True):
            row.editor.set_value(text)
        self._update_buttons()

    def flush(self) -> None:
        """Save whatever is typed but not yet saved."""
        if self.dirty:
            for row in self.rows:
                row.editor.flush()

    # --- list changes ------------------------------------------------------------------------------

    def add_caption(self) -> CaptionEditor:
        """A new empty caption at the end, with the cursor in it (saved once something is typed)."""
        self.flush()
        editor = CaptionEditor(self)
        self._append(editor)
        self._adding = True
        self._update_buttons()
        editor.setFocus(Qt.FocusReason.OtherFocusReason)
        return editor

    def remove_caption(self, index: int) -> None:
        texts = self.values()
        del texts[index]
        self._changed(texts)

    def move_caption(self, index: int, step: int) -> None:
        texts = self.values()
        other = index + step
        if 0 <= other < len(texts):
            texts[index], texts[other] = texts[other], texts[index]
            self._changed(texts)

    def _changed(self, texts: list[str]) -> None:
        self._adding = False
        self.set_values(texts)
        self._emit()

    # --- internals ---------------------------------------------------------------------------------

    def _append(self, editor: CaptionEditor) -> None:
        row = _Row(editor, self)
        self.rows.append(row)
        self._layout.insertWidget(self._layout.count() - 1, row)
        editor.save_requested.connect(self._editor_saved)
        row.up.clicked.connect(lambda: self.move_caption(self.rows.index(row), -1))
        row.down.clicked.connect(lambda: self.move_caption(self.rows.index(row), 1))
        row.remove.clicked.connect(lambda: self.remove_caption(self.rows.index(row)))

    def _editor_saved(self, _text: str) -> None:
        if self.rows and self.rows[-1].editor.toPlainText().strip():
            self._adding = False
        self._emit()

    def _emit(self) -> None:
        self.saving += 1
        self.save_requested.emit(self.values())

    def saved(self) -> None:
        """A list sent with `save_requested` was stored (or refused)."""
        self.saving = max(0, self.saving - 1)

    def _update_buttons(self) -> None:
        for index, row in enumerate(self.rows):
            row.up.setEnabled(index > 0)
            row.down.setEnabled(index < len(self.rows) - 1)
            row.up.setVisible(len(self.rows) > 1)
            row.down.setVisible(len(self.rows) > 1)
            row.remove.setToolTip("Remove this caption" if len(self.rows) > 1 else "Clear the caption")
