"""The images of a filter evaluated ONCE for the counts of the statistics view and the tags panel.

Each figure used to carry the filter's SQL as its own `IN (...)` sub-select, so a filter was evaluated once
per figure (five times for the statistics view: 18 s of CPU for `-"tag 0"` at 1M images, docs/benchmarks.md
"Scale"). A scope runs it once into a temporary table of ids on one read connection (TEMP tables live in the
connection's own temporary database, so a read-only connection can hold them) and every figure joins that.

When the filter holds more than half of the project, the table holds the OTHER images instead and the figures
are the project's counters (kept by triggers: tag_stats, rating_stats, score_bins) minus the counts over those
images. That is exact, because the filter's images and the others partition the project and every counter
counts each image (or each score row) once; it reads the tag / score rows of the smaller side.

Qt-free; worker side.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from lorairo.database.engine import Database
    from lorairo.services.image_query_service import ImageFilter, ImageQueryService

#: The temporary table of a scope: the filter's image ids, or the other images' ids when `complement`.
TABLE = "temp.lorairo_scope_ids"


@dataclass(frozen=True)
class FilterScope:
    """A read connection holding the filter's images (or, when `complement`, every other image) in TABLE."""

    conn: sqlite3.Connection
    images: int  # images of the filter
    total: int  # images of the project
    complement: bool
    ids: np.ndarray  # the filter's image ids, sorted (int64), whichever side the table holds

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(sql, params)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()


@contextmanager
def filter_scope(
    db: Database, query: ImageQueryService, image_filter: ImageFilter, ids: np.ndarray | None = None
) -> Iterator[FilterScope]:
    """Evaluate `image_filter` (selected by `query`, with its quality thresholds) once; see the module doc.

    The ids come from ImageQueryService.ids_array (the filter language's one evaluation: tag-only filters are
    combined from the tag index's id lists, 0.1-0.7 s at 1M instead of 1.6-2.6 s for a count and an
    `INSERT ... SELECT` of the filter's SQL) and are written into the table in one statement (json_each). A
    caller that already holds them passes `ids` (the filter is not evaluated again)."""
    import numpy as np

    ids = query.ids_array(image_filter) if ids is None else ids
    if ids.size > 1 and bool(np.any(ids[1:] <= ids[:-1])):  # a `similar:` filter's are in ranking order
        ids = np.unique(ids)
    chosen = ids
    with db.read_engine.connect() as connection:
        conn = connection.connection.driver_connection
        assert isinstance(conn, sqlite3.Connection)
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY)")
        try:
            total = int(conn.execute("SELECT count(*) FROM images").fetchone()[0])
            complement = int(ids.size) * 2 > total
            if complement:  # every image id, less the filter's
                text = conn.execute("SELECT group_concat(id) FROM images").fetchone()[0]
                every = np.fromstring(text or "", dtype=np.int64, sep=",") if text else np.empty(0, np.int64)
                ids = np.setdiff1d(every, ids, assume_unique=True)
                total = int(every.size)
            conn.execute(f"INSERT INTO {TABLE} SELECT value FROM json_each(?)", (json.dumps(ids.tolist()),))
            images = total - int(ids.size) if complement else int(ids.size)
            yield FilterScope(conn, images, total, complement, chosen)
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def scoped_counts(scope: FilterScope, sql: str, project_sql: str) -> dict[tuple[Any, ...], int]:
    """Counts per key over the filter's images: `sql` groups rows of the images in TABLE (the count last, the
    key before it); `project_sql` reads the same keys and counts from the project's counters. Keys whose count
    is 0 are left out."""
    counted = {tuple(row[:-1]): int(row[-1]) for row in scope.rows(sql)}
    if not scope.complement:
        return {key: n for key, n in counted.items() if n > 0}
    found: dict[tuple[Any, ...], int] = {}
    for row in scope.rows(project_sql):
        key = tuple(row[:-1])
        n = int(row[-1]) - counted.get(key, 0)
        if n > 0:
            found[key] = n
    return found
