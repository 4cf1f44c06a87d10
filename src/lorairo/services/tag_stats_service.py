"""Tag counts over a whole project or over the images of a filter: one aggregated SQL query.

The dataset tags panel and the autocomplete read from here. `project_tags` groups the live tag rows
(`is_rejected = 0`) by tag text with the number of DISTINCT images carrying each (an image tagged `cat` by
two models counts once), the category most rows agree on being the one the project knows. With a filter the
image set is the filter's own SQL (`build_query`), as a sub-select: nothing is materialised in Python.

Qt-free; call from any thread (each call opens its own read connection).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lorairo.database.engine import Database
from lorairo.services.image_query_service import ImageFilter, _sqlite_value, build_query


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
        cursor = raw.execute(sql, {k: _sqlite_value(v) for k, v in params.items()})  # type: ignore[union-attr]
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()


def tag_counts_sql(image_filter: ImageFilter | None) -> tuple[str, dict[str, Any]]:
    """The aggregated query: (tag, images, category) for the project or the filter's images."""
    where = "t.is_rejected = 0"
    params: dict[str, Any] = {}
    if image_filter is not None and not image_filter.is_empty():
        ids_sql, params = build_query(image_filter)
        ids_sql = ids_sql.removesuffix(" ORDER BY i.id")
        where += f" AND t.image_id IN ({ids_sql})"
    sql = (
        "SELECT t.tag, count(DISTINCT t.image_id), max(t.category) "
        f"FROM tags t WHERE {where} GROUP BY t.tag ORDER BY 2 DESC, t.tag"
    )
    return sql, params


class TagStatsService:
    """Read-only tag statistics of one project database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def project_tags(self, image_filter: ImageFilter | None = None) -> list[ProjectTag]:
        """Every live tag of the project (or of the filter's images), most used first."""
        sql, params = tag_counts_sql(image_filter)
        return [
            ProjectTag(str(tag), int(count), str(category) if category else None)
            for tag, count, category in _rows(self.db, sql, params)
        ]

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
