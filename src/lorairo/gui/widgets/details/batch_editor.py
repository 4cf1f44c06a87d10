"""Batch editing over a multi-selection: add / remove / replace tags and set rating or score on all.

Only emits requests (the panel runs them as edits on the worker). GUI thread only.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.widgets.details.editors import RatingCombo, ScoreSpin
from lorairo.gui.widgets.details.tag_chips import TagChipArea
from lorairo.gui.widgets.tag_completer import Suggest, TagLineEdit
from lorairo.gui.workers import JobManager
from lorairo.services.edit_service import TagCount


def split_tags(text: str) -> list[str]:
    """Comma-separated tags typed by the user, blanks dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


class BatchEditor(QWidget):
    """The panel page shown when several images are selected."""

    add_requested = Signal(list)  # list[str]
    remove_requested = Signal(list)  # list[str]
    replace_requested = Signal(str, str)
    rating_requested = Signal(object)  # str | None
    score_requested = Signal(object)  # float | None

    def __init__(self, jobs: JobManager, suggest: Suggest, parent: QWidget | None = None):
        super().__init__(parent)
        self.count = 0
        layout = QVBoxLayout(self)
        self.title = QLabel(self)
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")
        layout.addWidget(self.title)

        tags_box = QGroupBox("Tags on the selection", self)
        tags_layout = QVBoxLayout(tags_box)
        hint = QLabel("✕ removes a tag from every selected image; double-click a tag to rename it on all.", tags_box)
        hint.setWordWrap(True)
        hint.setEnabled(False)
        self.chips = TagChipArea(tags_box)
        self.chips.remove_requested.connect(lambda tag: self.remove_requested.emit([tag]))
        self.chips.rename_requested.connect(self.replace_requested)
        tags_layout.addWidget(self.chips)
        tags_layout.addWidget(hint)
        layout.addWidget(tags_box)

        edit_box = QGroupBox("Edit all selected images", self)
        form = QFormLayout(edit_box)
        self.add_input = TagLineEdit(jobs, suggest, edit_box)
        self.add_input.setPlaceholderText("tag, another tag")
        self.add_button = QPushButton("Add", edit_box)
        form.addRow("Add tags", self._row(self.add_input, self.add_button))
        self.replace_old = TagLineEdit(jobs, suggest, edit_box)
        self.replace_old.setPlaceholderText("tag to replace")
        self.replace_new = TagLineEdit(jobs, suggest, edit_box)
        self.replace_new.setPlaceholderText("new tag")
        self.replace_button = QPushButton("Replace", edit_box)
        form.addRow("Replace tag", self._row(self.replace_old, QLabel("→"), self.replace_new, self.replace_button))
        self.remove_input = TagLineEdit(jobs, suggest, edit_box)
        self.remove_input.setPlaceholderText("tag, another tag")
        self.remove_button = QPushButton("Remove", edit_box)
        form.addRow("Remove tags", self._row(self.remove_input, self.remove_button))
        self.rating = RatingCombo(edit_box, placeholder="clear rating")
        self.rating_button = QPushButton("Set rating", edit_box)
        form.addRow("Rating", self._row(self.rating, self.rating_button))
        self.score = ScoreSpin(edit_box)
        self.score.setKeyboardTracking(True)
        self.score_button = QPushButton("Set score", edit_box)
        form.addRow("Score", self._row(self.score, self.score_button))
        layout.addWidget(edit_box)
        layout.addStretch(1)

        self.add_button.clicked.connect(self._add)
        self.add_input.returnPressed.connect(self._add)
        self.remove_button.clicked.connect(self._remove)
        self.remove_input.returnPressed.connect(self._remove)
        self.replace_button.clicked.connect(self._replace)
        self.replace_new.returnPressed.connect(self._replace)
        self.rating_button.clicked.connect(lambda: self.rating_requested.emit(self.rating.currentData()))
        self.score_button.clicked.connect(lambda: self.score_requested.emit(self.score.current()))

    @staticmethod
    def _row(*widgets: QWidget) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in widgets:
            layout.addWidget(widget)
        return row

    def set_selection(self, count: int, tags: Sequence[TagCount]) -> None:
        self.count = count
        self.title.setText(f"{count} images selected")
        self.chips.set_counts(tags, count)

    def _add(self) -> None:
        tags = split_tags(self.add_input.text())
        if tags:
            self.add_input.clear()
            self.add_requested.emit(tags)

    def _remove(self) -> None:
        tags = split_tags(self.remove_input.text())
        if tags:
            self.remove_input.clear()
            self.remove_requested.emit(tags)

    def _replace(self) -> None:
        old, new = self.replace_old.text().strip(), self.replace_new.text().strip()
        if old and new:
            self.replace_old.clear()
            self.replace_new.clear()
            self.replace_requested.emit(old, new)
