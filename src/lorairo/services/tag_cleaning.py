"""Tag text as LoRAIro stores it, through genai-tag-db-tools.

Every tag is normalised to display form (spaces, the 19 kaomoji verbatim, `\\(` unescaped). When the user has
imported a tag vocabulary (`tag-db import ...`), aliases are resolved to their canonical tag as well
(`1girls` -> `1girl`); without one, normalisation alone applies and nothing fails.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from genai_tag_db_tools.normalize import normalize_tag
from loguru import logger


def display_form(tag: str) -> str:
    return normalize_tag(tag)


class TagCleaner:
    """Normalise and (when a vocabulary is available) de-alias tags. Thread-safe."""

    def __init__(self, *, use_database: bool = True) -> None:
        self._lock = threading.Lock()
        self._db: object | None = None
        self._checked = not use_database

    def _database(self) -> object | None:
        with self._lock:
            if not self._checked:
                self._checked = True
                try:
                    from genai_tag_db_tools.database import TagDatabase
                    from genai_tag_db_tools.paths import BASE_DB_NAME, default_data_dir

                    if (default_data_dir() / BASE_DB_NAME).is_file():  # never create an empty one
                        self._db = TagDatabase()
                except Exception as exc:  # a broken vocabulary must not stop annotation
                    logger.warning("tag database unavailable, tags are normalised only: {}", exc)
            return self._db

    @property
    def has_vocabulary(self) -> bool:
        return self._database() is not None

    def clean_many(self, names: Iterable[str]) -> dict[str, str]:
        """raw name -> cleaned display form."""
        names = list(dict.fromkeys(names))
        db = self._database()
        if db is None:
            return {n: display_form(n) for n in names}
        try:
            resolved = db.resolve_aliases(names)  # type: ignore[attr-defined]
        except Exception as exc:
            logger.warning("alias resolution failed, tags are normalised only: {}", exc)
            return {n: display_form(n) for n in names}
        return {n: display_form(resolved.get(n, n)) for n in names}
