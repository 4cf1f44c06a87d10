"""The tag vocabulary (genai-tag-db-tools) as the details panel uses it: suggestions and categories.

The database is opened lazily, on a worker, and only when its base file exists (it is never created here:
importing a vocabulary is the user's choice, `tag-db import ...`). Without it the panel still edits
tags; it shows a note that autocomplete is off and manual tags get no category.

Thread-safety: `suggest` and `categorize` are called on worker threads; `TagDatabase` allows that.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from loguru import logger
from PySide6.QtCore import QObject, Signal

NO_DATABASE_NOTE = (
    "No tag database imported yet: autocomplete and categories for new tags are off. "
    "Import one with Tools &gt; Tag vocabulary… or <code>tag-db import &lt;csv&gt;</code>."
)


class TagVocabulary:
    """Lazy, shared access to the tag database for one panel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._db: Any = None
        self._checked = False
        self.error: str | None = None

    def _database(self) -> Any:
        with self._lock:
            if not self._checked:
                self._checked = True
                try:
                    from genai_tag_db_tools import TagDatabase, default_data_dir
                    from genai_tag_db_tools.paths import BASE_DB_NAME

                    if (default_data_dir() / BASE_DB_NAME).is_file():
                        self._db = TagDatabase()
                        if not self._db.formats():
                            self._db.close()
                            self._db = None
                except Exception as exc:  # an unreadable tag DB must not stop tag editing
                    logger.warning("tag database unavailable: {}", exc)
                    self.error = str(exc)
                    self._db = None
            return self._db

    @staticmethod
    def file_exists() -> bool:
        """Cheap check (no database opened): has a vocabulary ever been imported into the default location?"""
        try:
            from genai_tag_db_tools import default_data_dir
            from genai_tag_db_tools.paths import BASE_DB_NAME
        except ImportError:
            return False
        return (default_data_dir() / BASE_DB_NAME).is_file()

    def available(self) -> bool:
        """Open the database if needed (worker thread) and tell whether it has a vocabulary."""
        return self._database() is not None

    def warm_up(self) -> bool:
        """Build the search index (seconds of CPU) so the first keystroke does not wait for it. The panel
        calls it when a tag field first gets focus, not at start-up, where it would slow the first loads."""
        database = self._database()
        if database is not None:
            database.warm_up()
        return database is not None

    def suggest(self, prefix: str, limit: int = 15) -> list[str]:
        return [result.name for result in self.search(prefix, limit)]

    def search(self, text: str, limit: int = 15) -> list[Any]:
        """The vocabulary's matches for `text` (genai_tag_db_tools SearchResult: name, count, match, matched):
        prefix matches first, then aliases, substrings and translations."""
        database = self._database()
        if database is None or not text.strip():
            return []
        try:
            return list(database.search(text, limit=limit, prefix_first=True))
        except Exception as exc:  # a broken index must not break typing
            logger.warning("tag vocabulary search failed: {}", exc)
            return []

    def categorize(self, tags: Sequence[str]) -> Mapping[str, str]:
        """Display tag -> category for the tags the vocabulary knows (EditService's categorizer)."""
        database = self._database()
        if database is None:
            return {}
        infos = database.get_tag_info(list(tags))
        return {name: info.category for name, info in infos.items() if info.category != "unknown"}

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db, self._checked = None, False

    def reload(self) -> bool:
        """Worker thread: drop the open database and open it again, with its search index (from the on-disk
        cache or rebuilt), after a vocabulary import. A search running meanwhile finishes on the old object;
        the next one sees the new vocabulary. Returns whether a vocabulary is available now."""
        self.close()
        self.error = None
        return self.warm_up()


class VocabularyEvents(QObject):
    """Tells every view of this process that the shared vocabulary was reloaded (GUI thread)."""

    reloaded = Signal(bool)  # whether a vocabulary is available now


_events: VocabularyEvents | None = None


def vocabulary_events() -> VocabularyEvents:
    """The one event hub (created on the GUI thread on first use; connect bound methods of QObjects)."""
    global _events
    if _events is None:
        _events = VocabularyEvents()
    return _events


_shared_lock = threading.Lock()
_shared: TagVocabulary | None = None


def shared_vocabulary() -> TagVocabulary:
    """The one vocabulary of this process (its search index costs seconds and memory: build it once)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = TagVocabulary()
        return _shared
