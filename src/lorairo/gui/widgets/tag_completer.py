"""Tag autocomplete for comma-separated tag fields: the project's own tags first, then the tag database.

`TagLineEdit` completes the term under the cursor (after the last comma, ignoring a leading `-` and anything
before a `|`), so `long hair, -blu` suggests `blurry` and keeps the rest. Suggestions are looked up on a
worker; the popup only shows results for what is still typed. A suggestion may be a plain tag or a
`Suggestion` whose label (count, alias -> canonical tag) differs from the tag it inserts.
`project_and_vocabulary` builds the suggest function every tag field of the window uses.
GUI thread only (the suggest functions run on workers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget

from lorairo.gui.workers import JobManager
from lorairo.services.tag_suggestions import Suggestion, merge_suggestions

if TYPE_CHECKING:
    from lorairo.gui.widgets.details.tag_source import TagVocabulary
    from lorairo.services.project_service import Project

Suggest = Callable[[str], Sequence[str | Suggestion]]
InsertRole = Qt.ItemDataRole.UserRole + 1
PROJECT_LIMIT, VOCABULARY_LIMIT = 10, 15


def tag_database_suggestions(prefix: str, limit: int = 15) -> list[str]:
    """Names from the tag vocabulary when one was imported (never created here); [] otherwise."""
    from lorairo.gui.widgets.details.tag_source import shared_vocabulary  # the details package imports this one

    return shared_vocabulary().suggest(prefix, limit)


def project_and_vocabulary(
    project: Callable[[], Project | None], vocabulary: TagVocabulary | None = None
) -> Callable[[str], list[Suggestion]]:
    """The suggest function of the window's tag fields: the open project's tags containing the text (with their
    counts), then the vocabulary's (global counts; aliases and translations show their canonical tag).
    Runs on a worker."""
    if vocabulary is None:
        from lorairo.gui.widgets.details.tag_source import shared_vocabulary  # the details package imports this one

        vocabulary = shared_vocabulary()
    words = vocabulary

    def suggest(text: str) -> list[Suggestion]:
        from lorairo.services.tag_stats_service import TagStatsService  # SQL stack: loaded on first keystroke

        current = project()
        own = TagStatsService(current.db).search(text, PROJECT_LIMIT) if current is not None else []
        return merge_suggestions(own, words.search(text, VOCABULARY_LIMIT))

    return suggest


def current_term(text: str, cursor: int) -> tuple[int, int, str]:
    """(start, end, term) of the tag term under `cursor` in a comma / `|` separated list, without `-`."""
    start = max(text.rfind(",", 0, cursor), text.rfind("|", 0, cursor)) + 1
    ends = [i for i in (text.find(",", cursor), text.find("|", cursor)) if i >= 0]
    end = min(ends) if ends else len(text)
    raw = text[start:end]
    stripped = raw.lstrip()
    start += len(raw) - len(stripped)
    if stripped.startswith("-"):
        start += 1
        stripped = stripped[1:]
    return start, end, stripped.rstrip()


class TagLineEdit(QLineEdit):
    """A line edit for `tag, tag|tag, -tag` with asynchronous suggestions."""

    def __init__(self, jobs: JobManager, suggest: Suggest | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.suggest = suggest
        self._model = QStandardItemModel(self)
        self.completer_ = QCompleter(self._model, self)
        self.completer_.setWidget(self)
        self.completer_.setCompletionRole(InsertRole)  # the popup shows the label, activation inserts the tag
        self.completer_.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer_.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer_.activated.connect(self.insert_completion)
        self._timer = QTimer(self, singleShot=True, interval=150)
        self._timer.timeout.connect(self._lookup)
        self.textEdited.connect(lambda _t: self._timer.start())

    def insert_completion(self, tag: str) -> None:
        start, end, _term = current_term(self.text(), self.cursorPosition())
        text = self.text()
        self.setText(text[:start] + tag + text[end:])
        self.setCursorPosition(start + len(tag))
        self.editingFinished.emit()

    def _lookup(self) -> None:
        _start, _end, term = current_term(self.text(), self.cursorPosition())
        if len(term) < 1 or self.suggest is None:
            self._hide_popup()
            return
        suggest = self.suggest
        self.jobs.submit(
            "Tag suggestions",
            lambda _ctx: suggest(term),
            on_result=lambda names: self._show(term, names),
            visible=False,
        )

    def _hide_popup(self) -> None:
        popup = self.completer_.popup()
        if popup is not None:
            popup.hide()

    def suggestions(self) -> list[tuple[str, str]]:
        """(label, inserted tag) of each line of the popup (tests and accessibility)."""
        return [
            (self._model.item(row).text(), str(self._model.item(row).data(InsertRole)))
            for row in range(self._model.rowCount())
        ]

    def _show(self, term: str, names: Sequence[str | Suggestion]) -> None:
        if current_term(self.text(), self.cursorPosition())[2] != term or not self.hasFocus():
            return  # the user typed on: these suggestions are stale
        self._model.clear()
        for entry in names:
            item = QStandardItem(entry if isinstance(entry, str) else entry.label)
            item.setData(entry if isinstance(entry, str) else entry.insert, InsertRole)
            item.setEditable(False)
            if isinstance(entry, Suggestion) and entry.source == "project":
                font = item.font()
                font.setBold(True)  # the project's own tags stand out from the vocabulary's
                item.setFont(font)
            self._model.appendRow(item)
        if names:
            self.completer_.complete()
        else:
            self._hide_popup()
