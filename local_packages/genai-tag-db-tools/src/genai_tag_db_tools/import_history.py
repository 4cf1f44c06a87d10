"""The record of vocabulary imports: list them with the rows each still owns, and take one back.

Every import writes its rows with its ``import_id`` (:mod:`.importers`), so :func:`remove_import` can undo
one (``tag-db imports remove ID``) without touching the user overlay or rows a later import replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, select

from . import schema as s
from .errors import ImportFormatError


@dataclass(frozen=True)
class ImportRecord:
    """One recorded import: what it read, and how many of its rows are still in the database.

    ``live_rows`` falls to 0 when a later import of the same vocabulary replaced this one's rows.
    """

    id: int
    kind: str
    format: str | None
    path: str
    rows: int
    live_rows: int
    imported_at: str
    undoable: bool

    def as_dict(self) -> dict[str, Any]:
        """Return plain JSON-serialisable data."""
        return dict(self.__dict__)


_OWNED_SQL = (
    "SELECT import_id, COUNT(*) FROM tag_formats GROUP BY import_id "
    "UNION ALL SELECT import_id, COUNT(*) FROM aliases GROUP BY import_id "
    "UNION ALL SELECT import_id, COUNT(*) FROM implications GROUP BY import_id "
    "UNION ALL SELECT import_id, COUNT(*) FROM translations GROUP BY import_id "
    "UNION ALL SELECT import_id, COUNT(*) FROM deprecations GROUP BY import_id"
)


def list_imports(engine: Engine) -> list[ImportRecord]:
    """Every recorded import, oldest first, with the rows it still owns."""
    with engine.connect() as conn:
        live: dict[int, int] = {}
        for import_id, count in conn.exec_driver_sql(_OWNED_SQL):
            if import_id is not None:
                live[import_id] = live.get(import_id, 0) + int(count)
        rows = conn.execute(select(s.imports).order_by(s.imports.c.id)).all()
    return [
        ImportRecord(
            id=row.id,
            kind=row.kind,
            format=row.format,
            path=row.path,
            rows=row.rows,
            live_rows=live.get(row.id, 0),
            imported_at=row.imported_at,
            undoable=bool(row.undoable),
        )
        for row in rows
    ]


def resolve_import_id(engine: Engine, which: str | int) -> int:
    """``LAST`` (any case) or a number -> an existing import id.

    Raises:
        ImportFormatError: No such import (or no import at all).
    """
    with engine.connect() as conn:
        if isinstance(which, str) and which.strip().lower() == "last":
            last = conn.exec_driver_sql("SELECT MAX(id) FROM imports").scalar()
            if last is None:
                raise ImportFormatError("no import is recorded; nothing to remove")
            return int(last)
        try:
            import_id = int(which)
        except ValueError:
            raise ImportFormatError(f"{which!r} is not an import ID (see `tag-db imports list`) or LAST") from None
        if conn.execute(select(s.imports.c.id).where(s.imports.c.id == import_id)).first() is None:
            raise ImportFormatError(f"no import with ID {import_id} (see `tag-db imports list`)")
        return import_id


def remove_import(engine: Engine, import_id: int) -> dict[str, Any]:
    """Take back what one import wrote, in one transaction; the user overlay is a separate file, untouched.

    Tag formats, aliases, implications and translations the import wrote are deleted; tags it deprecated are
    un-deprecated unless another list (or ``set_deprecated``) also names them; tag names nothing refers to any
    more are dropped. Rows that a later import replaced belong to that import and are not touched.
    """
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        record = conn.execute(select(s.imports).where(s.imports.c.id == import_id)).first()
        if record is None:
            raise ImportFormatError(f"no import with ID {import_id} (see `tag-db imports list`)")
        if not record.undoable:
            raise ImportFormatError(
                f"import {import_id} ({record.path}) was recorded before imports could be undone; its rows cannot "
                "be told apart. Delete the base database and import the files you want again"
            )
        for table in s.IMPORT_OWNED:
            counts[table] = conn.exec_driver_sql(f"DELETE FROM {table} WHERE import_id = ?", (import_id,)).rowcount
        deprecated = [
            tag_id
            for (tag_id,) in conn.exec_driver_sql("SELECT tag_id FROM deprecations WHERE import_id = ?", (import_id,))
        ]
        counts["deprecations"] = conn.exec_driver_sql(
            "DELETE FROM deprecations WHERE import_id = ?", (import_id,)
        ).rowcount
        counts["undeprecated"] = 0
        if deprecated:
            counts["undeprecated"] = conn.exec_driver_sql(
                "UPDATE tags SET deprecated = 0 WHERE id = ? "
                "AND NOT EXISTS (SELECT 1 FROM deprecations d WHERE d.tag_id = tags.id)",
                [(t,) for t in deprecated],
            ).rowcount
        counts["orphan_tags"] = conn.exec_driver_sql(
            "DELETE FROM tags WHERE deprecated = 0 "
            "AND NOT EXISTS (SELECT 1 FROM tag_formats f WHERE f.tag_id = tags.id) "
            "AND NOT EXISTS (SELECT 1 FROM aliases a WHERE a.tag_id = tags.id) "
            "AND NOT EXISTS (SELECT 1 FROM translations r WHERE r.tag_id = tags.id) "
            "AND NOT EXISTS (SELECT 1 FROM implications i WHERE i.tag_id = tags.id OR i.implied_tag_id = tags.id) "
            "AND NOT EXISTS (SELECT 1 FROM deprecations d WHERE d.tag_id = tags.id)"
        ).rowcount
        conn.execute(delete(s.imports).where(s.imports.c.id == import_id))
        s.bump_revision(conn)
    return {
        "import_id": import_id,
        "kind": record.kind,
        "format": record.format,
        "path": record.path,
        "removed": {k: v for k, v in counts.items() if k in (*s.IMPORT_OWNED, "deprecations")},
        "undeprecated": counts["undeprecated"],
        "orphan_tags_dropped": counts["orphan_tags"],
    }
