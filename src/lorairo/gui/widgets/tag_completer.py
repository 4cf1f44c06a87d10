"""Tag autocomplete for comma-separated tag fields: the project's own tags first, then the tag database.

`TagLineEdit` completes the term under the cursor (after the last comma, ignoring a leading `-` and anything
before a `|`), so `long hair, -blu` suggests `blurry` and keeps the rest. Suggestions are looked up on a
worker; the popup only shows results for what is still typed. GUI thread only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QStringListModel, Qt, QTimer
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget

from lorairo.gui.workers import JobManager

if TYPE_CHECKING:  # the tag database loads on first use, off the GUI thread
    from genai_tag_db_tools.database import TagDatabase

Suggest = Callable[[str], list[str]]

_tag_db_lock = threading.Lock()
_tag_db: TagDatabase | None = None
_tag_db_checked = False


def tag_database_suggestions(prefix: str, limit: int = 15) -> list[str]:
    """Names from genai-tag-db-tools when its base database exists (never created here); [] otherwise."""
    global _tag_db, _tag_db_checked
    with _tag_db_lock:
        if not _tag_db_checked:
            _tag_db_checked = True
            try:
                from genai_tag_db_tools.database import TagDatabase
                from genai_tag_db_tools.paths import resolve_data_dir

                if (resolve_data_dir() / "tags_base.sqlite").is_file():
                    _tag_db = TagDatabase()
            except Exception:  # optional: autocomplete still works from the project's tags
                _tag_db = None
        database = _tag_db
    if database is None or not prefix:
        return []
    try:
        return [result.name for result in database.search(prefix, limit=limit, prefix_first=True)]
    except Exception:
        return []


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
        self._model = QStringListModel(self)
        self.completer_ = QCompleter(self._model, self)
        self.completer_.setWidget(self)
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

    def _show(self, term: str, names: list[str]) -> None:
        if current_term(self.text(), self.cursorPosition())[2] != term or not self.hasFocus():
            return  # the user typed on: these suggestions are stale
        self._model.setStringList(names)
        if names:
            self.completer_.complete()
        else:
            self._hide_popup()

    def _hide_popup(self) -> None:
        popup = self.completer_.popup()
        if popup is not None:
            popup.hide()
