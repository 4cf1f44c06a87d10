"""Tag counts over a whole project or over the images of a filter.

The dataset tags panel and the autocomplete read from here. `project_tags` counts, per tag text, the DISTINCT
images with a live row (`is_rejected = 0`) of it (an image tagged `cat` by two models counts once): the project's
`tag_stats` counters, or over a filter the tag rows of the filter's images, evaluated once (filter_scope).

Qt-free; call from any thread (each call opens its own read connection).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lorairo.services import live_tag_index
from lorairo.services.filter_scope import TABLE as SCOPE_TABLE
from lorairo.services.filter_scope import FilterScope, filter_scope, scoped_counts
from lorairo.services.filter_sql import sqlite_value
from lorairo.services.image_query_service import SORTS as QUERY_SORTS
from lorairo.services.image_query_service import ImageFilter, ImageQueryService
from lorairo.services.live_tag_index import LiveTagIndex

if TYPE_CHECKING:  # SQLAlchemy loads with the first project, after the window is shown
    import numpy as np

    from lorairo.database.engine import Database


@dataclass(frozen=True)
class ProjectTag:
    """One tag of the project: how many images carry it and its category (None: unknown)."""

    tag: str
    count: int
    category: str | None


def _rows(db: Database, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    # The DB-API cursor directly: 50k grouped rows through SQLAlchemy's row processing cost several times more.
    with db.read_engine.connect() as conn:
        raw = conn.connection.driver_connection
        cursor = raw.execute(sql, {k: sqlite_value(v) for k, v in params.items()})  # type: ignore[union-attr]
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()


class TagStatsService:
    """Read-only tag statistics of one project database. `query` selects a filter's images with the user's
    quality thresholds (the GUI passes its session's); without it the shipped defaults apply."""

    def __init__(self, db: Database, query: ImageQueryService | None = None) -> None:
        self.db = db
        self.query = query or ImageQueryService(db)

    def project_tags(self, image_filter: ImageFilter | None = None) -> list[ProjectTag]:
        """Every live tag of the project (or of the filter's images), most used first. A tag's category is
        that of its first row in the project (model and sidecar rows, which carry categories, usually come first).

        The whole project reads the counters triggers keep (`tag_stats`, database/counters.py): 3,000 rows
        instead of grouping 9M tag rows at 1M images. A filter's images are evaluated once and counted off the
        in-memory tag index (services/live_tag_index.py: 3-7 s -> 0.2-0.4 s for 350k-650k images at 1M; the
        first broad count builds it, ~1.2 s more). A few thousand images are counted in SQL over their ids."""
        if image_filter is None or image_filter.is_empty():
            counts = {str(tag): int(n) for tag, n in _rows(self.db, "SELECT tag, images FROM tag_stats", {})}
            return self._with_categories(counts)
        return self.tags_of_ids(self.query.ids_array(image_filter), image_filter)  # the filter evaluated once

    def tags_of_ids(self, ids: np.ndarray, image_filter: ImageFilter) -> list[ProjectTag]:
        """project_tags over `ids`, the ids of `image_filter` already evaluated (the statistics view's)."""
        indexed = LiveTagIndex.of(self.db).counts(ids)
        if indexed is not None:
            return self._with_categories(indexed)
        if len(ids) >= live_tag_index.BUILD_FROM:  # no index could be built: the smaller side's rows in SQL
            with filter_scope(self.db, self.query, image_filter, ids) as scope:
                return self._with_categories(self._sql_counts(scope))
        rows = _rows(
            self.db,
            "SELECT tag, count(DISTINCT image_id) FROM tags WHERE is_rejected = 0 "
            "AND image_id IN (SELECT value FROM json_each(:ids)) GROUP BY tag",
            {"ids": json.dumps(ids.tolist())},
        )
        return self._with_categories({str(tag): int(n) for tag, n in rows})

    def tags_of_selection(self, ids: np.ndarray) -> list[ProjectTag] | None:
        """The live tags of the images `ids` (distinct) off the in-memory tag index, most used first; None when
        SQL should count them (see LiveTagIndex.counts). Waits for a first build: call on a worker."""
        counts = LiveTagIndex.of(self.db).counts(ids)
        return None if counts is None else self._with_categories(counts)

    @staticmethod
    def _sql_counts(scope: FilterScope) -> dict[str, int]:
        counts = scoped_counts(
            scope,
            f"SELECT t.tag, count(DISTINCT t.image_id) FROM {SCOPE_TABLE} s CROSS JOIN tags t ON t.image_id = s.id "
            "WHERE t.is_rejected = 0 GROUP BY t.tag",
            "SELECT tag, images FROM tag_stats",
        )
        return {str(key[0]): n for key, n in counts.items()}

    def _with_categories(self, counts: dict[str, int]) -> list[ProjectTag]:
        first = {str(tag): int(first_id) for tag, first_id in _rows(self.db, "SELECT tag, first_id FROM tag_stats", {})}
        first_ids = [first[tag] for tag in counts if tag in first]
        categories: dict[int, str | None] = {}
        for start in range(0, len(first_ids), 900):
            marks = ",".join(str(i) for i in first_ids[start : start + 900])  # ints only: safe to inline
            categories.update(_rows(self.db, f"SELECT id, category FROM tags WHERE id IN ({marks})", {}))
        found = []
        for tag, count in counts.items():
            category = categories.get(first.get(tag, -1))
            found.append(ProjectTag(tag, count, str(category) if category else None))
        found.sort(key=lambda t: (-t.count, t.tag))
        return found

    def images_with_tag_count(self, tag: str) -> int:
        """How many images carry `tag` (case-insensitive, as the project-wide rename matches it)."""
        from genai_tag_db_tools.normalize import normalize_tag

        rows = _rows(
            self.db,
            "SELECT count(DISTINCT image_id) FROM tags WHERE is_rejected = 0 AND lower(tag) = :t",
            {"t": normalize_tag(tag).lower()},
        )
        return int(rows[0][0])

    def search(self, text: str, limit: int = 15) -> list[ProjectTag]:
        """Project tags containing `text` (case-insensitive substring; prefix matches first), most used first."""
        needle = " ".join(text.replace("_", " ").split()).lower()
        if not needle:
            return []
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        sql = (
            "SELECT tag, count(DISTINCT image_id), max(category) FROM tags "
            "WHERE is_rejected = 0 AND lower(tag) LIKE :p ESCAPE '\\' GROUP BY tag "
            "ORDER BY (lower(tag) LIKE :prefix ESCAPE '\\') DESC, 2 DESC, tag LIMIT :limit"
        )
        rows = _rows(self.db, sql, {"p": f"%{escaped}%", "prefix": f"{escaped}%", "limit": limit})
        return [ProjectTag(str(t), int(n), str(c) if c else None) for t, n, c in rows]


@dataclass(frozen=True)
class Badges:
    """What the grid's cell overlays show about one image."""

    tag_count: int = 0
    has_caption: bool = False
    failed: bool = False  # an annotation failure is recorded


def grid_badges(db: Database, image_ids: Sequence[int]) -> dict[int, Badges]:
    """Badges of a page of the grid (a few hundred ids): three grouped queries, ints inlined."""
    if not image_ids:
        return {}
    marks = ",".join(str(int(i)) for i in image_ids)  # ints only: safe to inline
    counts = {
        int(i): int(n)
        for i, n in _rows(
            db,
            f"SELECT image_id, count(DISTINCT tag) FROM tags WHERE is_rejected = 0 AND image_id IN ({marks}) "
            "GROUP BY image_id",
            {},
        )
    }
    captioned = {
        int(r[0]) for r in _rows(db, f"SELECT DISTINCT image_id FROM captions WHERE image_id IN ({marks})", {})
    }
    failed = {
        int(r[0])
        for r in _rows(db, f"SELECT DISTINCT image_id FROM annotation_failures WHERE image_id IN ({marks})", {})
    }
    return {int(i): Badges(counts.get(int(i), 0), int(i) in captioned, int(i) in failed) for i in image_ids}


#: Grid orders: key -> (menu label, ORDER BY over `images i`); ImageQueryService.SORTS is the source (it also names
#: each order's index). Kept here for the widgets that list them.
SORTS: dict[str, tuple[str, str]] = {key: (label, order) for key, (label, order, _index) in QUERY_SORTS.items()}


def sorted_ids(
    db: Database, image_filter: ImageFilter | None, sort: str, query: ImageQueryService | None = None
) -> list[int]:
    """Ids of the filter's images in the grid order `sort` (a key of SORTS) as a list, selected by `query` (the
    configured quality thresholds; the defaults without it). A `similar:` filter keeps its own order: most similar
    first. ImageQueryService.ids_array gives the same as one int64 array, first_page the first page."""
    query = query or ImageQueryService(db)
    return [int(i) for i in query.ids_array(image_filter, sort)]
