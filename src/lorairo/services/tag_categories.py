"""Categories of tags from the tag vocabulary (genai-tag-db-tools), for tags that arrive without one.

Sidecar tags carry no category; without one, `export --categories` and category ordering treat them as
"general". At import they are looked up in the vocabulary if the user imported one (`tag-db import ...`);
:func:`recategorize_tags` fills in every still-uncategorised tag of a project later, after a vocabulary was
imported (`lorairo tags recategorize --project P`). The vocabulary is never created here: without it tags
simply stay uncategorised. This is the Qt-free twin of the details panel's `TagVocabulary.categorize`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger
from sqlalchemy import func, select, update

from lorairo.database.chunks import chunked
from lorairo.database.engine import Database
from lorairo.database.schema import TagRecord, utcnow

_UNKNOWN = "unknown"


def vocabulary_exists() -> bool:
    """Cheap check (no database opened): has a vocabulary been imported into the default location?"""
    try:
        from genai_tag_db_tools import default_data_dir
        from genai_tag_db_tools.paths import BASE_DB_NAME
    except ImportError:
        return False
    return (default_data_dir() / BASE_DB_NAME).is_file()


class VocabularyCategorizer:
    """Display tag -> category, opening the vocabulary on first use (and only if it exists)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._db: Any = None
        self._checked = False

    def _database(self) -> Any:
        with self._lock:
            if not self._checked:
                self._checked = True
                if vocabulary_exists():
                    try:
                        from genai_tag_db_tools import TagDatabase

                        database = TagDatabase()
                        if database.formats():
                            self._db = database
                        else:
                            database.close()
                    except Exception as exc:  # an unreadable vocabulary leaves tags uncategorised, nothing more
                        logger.warning("tag database unavailable, tags stay uncategorised: {}", exc)
            return self._db

    def available(self) -> bool:
        return self._database() is not None

    def __call__(self, tags: Sequence[str]) -> Mapping[str, str]:
        database = self._database()
        if database is None or not tags:
            return {}
        infos = database.get_tag_info(list(tags))
        return {name: info.category for name, info in infos.items() if info.category and info.category != _UNKNOWN}

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
            self._db, self._checked = None, False


@dataclass(frozen=True)
class RecategorizeResult:
    """How many uncategorised tag names were looked up, and how many rows got a category."""

    names_looked_up: int
    names_found: int
    rows_updated: int
    vocabulary: bool  # False: no vocabulary imported, nothing could be looked up
    image_ids: tuple[int, ...] = ()


def recategorize_tags(project: Any, categorize: VocabularyCategorizer | None = None) -> RecategorizeResult:
    """Give every uncategorised tag of `project` the category the vocabulary knows for it.

    Tags that already have a category (from a model or set by hand) are left alone. Cheap enough to run
    after every vocabulary import: one query for the distinct uncategorised names, one batched lookup, one
    UPDATE per category.
    """
    lookup = categorize or VocabularyCategorizer()
    try:
        if not lookup.available():
            return RecategorizeResult(0, 0, 0, vocabulary=False)
        database: Database = project.db
        with database.session() as session:
            names = list(session.scalars(select(TagRecord.tag).where(TagRecord.category.is_(None)).distinct()))
        categories = lookup(names) if names else {}
        by_category: dict[str, list[str]] = {}
        for name, category in categories.items():
            by_category.setdefault(category, []).append(name)
        updated = 0
        image_ids: set[int] = set()
        with database.session(write=True) as session:
            for category, tags in sorted(by_category.items()):
                for chunk in chunked(sorted(tags)):
                    where = (TagRecord.category.is_(None), TagRecord.tag.in_(chunk))
                    image_ids.update(session.scalars(select(TagRecord.image_id).where(*where).distinct()))
                    result = session.execute(
                        update(TagRecord).where(*where).values(category=category, updated_at=utcnow())
                    )
                    updated += int(getattr(result, "rowcount", 0) or 0)
        return RecategorizeResult(len(names), len(categories), updated, True, tuple(sorted(image_ids)))
    finally:
        if categorize is None:
            lookup.close()


def uncategorised_count(database: Database) -> int:
    """Tag rows without a category (what `recategorize_tags` would look up)."""
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(TagRecord).where(TagRecord.category.is_(None))) or 0)
