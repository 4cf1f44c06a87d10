"""Small editors of the details panel: caption, manual rating, manual score.

Each emits a request signal with the value to save; the panel turns it into an edit on the worker. Values
pushed in from the database go through `set_value` under a QSignalBlocker, so loading never looks like an
edit. GUI thread only.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QPlainTextEdit, QWidget

from lorairo.services.edit_service import MANUAL_SCORE_MAX, RATING_LABELS

CAPTION_DEBOUNCE_MS = 1500  # a pause in typing this long saves; focus-out and Ctrl+Enter save at once


class CaptionEditor(QPlainTextEdit):
    """Manual caption editor. `save_requested(text)` when the text differs from what was last loaded/saved."""

    save_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Write a caption… (saved when you pause, leave the field or press Ctrl+Enter)")
        self.setTabChangesFocus(True)
        self._saved = ""
        self._timer = QTimer(self, singleShot=True, interval=CAPTION_DEBOUNCE_MS)
        self._timer.timeout.connect(self.flush)
        self.textChanged.connect(self._on_changed)

    def set_value(self, text: str) -> None:
        """Show `text` as saved (no save is requested)."""
        self._timer.stop()
        self._saved = text
        with QSignalBlocker(self):
            self.setPlainText(text)

    @property
    def dirty(self) -> bool:
        return self.toPlainText().strip() != self._saved.strip()

    def _on_changed(self) -> None:
        self._timer.start()

    def flush(self) -> None:
        """Save now if the text changed."""
        self._timer.stop()
        if self.dirty:
            self._saved = self.toPlainText()
            self.save_requested.emit(self._saved)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.flush()
            event.accept()
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self.flush()
        super().focusOutEvent(event)


class RatingCombo(QComboBox):
    """Manual rating: not set / general / sensitive / questionable / explicit. `rating_chosen(label|None)`."""

    rating_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, placeholder: str = "not set") -> None:
        super().__init__(parent)
        self.addItem(placeholder, None)
        for label in RATING_LABELS:
            self.addItem(label, label)
        self.activated.connect(lambda index: self.rating_chosen.emit(self.itemData(index)))

    def set_value(self, label: str | None) -> None:
        with QSignalBlocker(self):
            index = self.findData(label) if label else 0
            self.setCurrentIndex(max(index, 0))


class ScoreSpin(QDoubleSpinBox):
    """Manual score 1-10 in half steps; the minimum (0) reads "not set" and clears it. `score_chosen`."""

    score_chosen = Signal(object)  # float | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(0.0, MANUAL_SCORE_MAX)
        self.setSingleStep(0.5)
        self.setDecimals(1)
        self.setSpecialValueText("not set")
        self.setKeyboardTracking(False)  # one save per finished entry, not per keystroke
        self.setToolTip("Your score for this image, 1 (worst) to 10 (best); 0 clears it")
        self._loaded: float | None = None
        self.editingFinished.connect(self._emit)
        self.valueChanged.connect(lambda _v: self._emit() if not self.lineEdit().hasFocus() else None)

    def set_value(self, value: float | None) -> None:
        self._loaded = value
        with QSignalBlocker(self):
            self.setValue(value if value is not None else 0.0)

    def current(self) -> float | None:
        value = self.value()
        if value <= 0:
            return None
        return max(1.0, value)

    def _emit(self) -> None:
        value = self.current()
        if value != self._loaded:
            self._loaded = value
            self.score_chosen.emit(value)
