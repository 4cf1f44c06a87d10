"""Tag row writes in plain SQL on the session's own sqlite3 connection: insert, delete, reject, and the
project-wide rename / merge / delete of one tag.

Why not SQLAlchemy here: a project-wide rename touches 50k-100k rows. Through SQLAlchemy every row became Python
objects in the worker thread (parameters, result rows, ORM bookkeeping), which held the GIL long enough to stall the
GUI thread (274 ms measured, docs/benchmarks.md "Review loop"). Here the set work is done by SQLite itself
(`INSERT ... SELECT`, `UPDATE` / `DELETE ... RETURNING` over the `tag_key` index), and CPython's sqlite3 releases
the GIL around every step of a statement, so the GUI thread runs while SQLite works. Python touches only what the
undo record needs (the deleted rows, the rejected keys, the new ids).

Everything runs inside the caller's write transaction (`Database.session(write=True)`): the statements use the
session's connection, so they commit or roll back with it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from genai_tag_db_tools.normalize import tag_key
from sqlalchemy.orm import Session

from lorairo.database.schema import SOURCE_MANUAL, utcnow

#: Rows per statement where Python builds the parameters (ids as a JSON array): a statement over a few thousand
#: rows keeps each GIL-holding stretch short, and one statement per chunk keeps the statement count low.
JSON_CHUNK = 5000
_ROW_COLUMNS = "image_id, tag, category, source, model_id, annotation_id, confidence, is_rejected, position"


def raw_connection(session: Session) -> sqlite3.Connection:
    """The sqlite3 connection under `session`, inside its current transaction."""
    connection = session.connection().connection.driver_connection
    if not isinstance(connection, sqlite3.Connection):  # pragma: no cover - LoRAIro only opens SQLite
        raise TypeError(f"expected a sqlite3 connection, got {type(connection).__name__}")
    return connection


def timestamp() -> str:
    """`utcnow()` as SQLAlchemy's SQLite DateTime stores it (so ORM reads parse it back)."""
    return utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")


def _chunks(values: Sequence[Any], size: int = JSON_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class TagTexts:
    """The stored spellings of one tag (case variants, e.g. `Cat` and `cat`), found through the `tag_key` index.

    `keys` and `texts` go into `WHERE tag_key IN (...) AND tag IN (...)`: the key finds the rows by index, the
    texts keep a rename to the spelling the user picked (`green_eyes` and `green eyes` are separate entries of the
    tags panel, matched case-insensitively as before)."""

    keys: tuple[str, ...]
    texts: tuple[str, ...]

    def where(self, alias: str = "") -> tuple[str, list[str]]:
        prefix = f"{alias}." if alias else ""
        sql = (
            f"{prefix}tag_key IN ({', '.join('?' * len(self.keys))}) "
            f"AND {prefix}tag IN ({', '.join('?' * len(self.texts))})"
        )
        return sql, [*self.keys, *self.texts]

    def __bool__(self) -> bool:
        return bool(self.texts)


def find_texts(conn: sqlite3.Connection, spellings: Iterable[str]) -> TagTexts:
    """Every spelling of the tag written as any of `spellings` that some image carries (case-insensitive;
    Unicode-aware, which SQLite's ASCII-only `lower()` is not)."""
    wanted = {s.lower() for s in spellings}
    keys = tuple(sorted({tag_key(s) for s in spellings}))
    marks = ", ".join("?" * len(keys))
    # Live rows only (what a rename or delete changes): `is_rejected = 0` lets SQLite find them through the partial
    # `idx_tags_live` index instead of scanning all tag rows (0.9 s at 828k rows).
    rows = conn.execute(
        f"SELECT DISTINCT tag FROM tags WHERE tag_key IN ({marks}) AND is_rejected = 0", keys
    ).fetchall()
    return TagTexts(keys, tuple(sorted(str(t) for (t,) in rows if str(t).lower() in wanted)))


def images_with(conn: sqlite3.Connection, texts: TagTexts) -> list[int]:
    """Images carrying the tag (live rows, any source), ascending."""
    if not texts:
        return []
    where, params = texts.where()
    rows = conn.execute(f"SELECT DISTINCT image_id FROM tags WHERE {where} AND is_rejected = 0", params)
    return sorted(int(i) for (i,) in rows)


def first_category(conn: sqlite3.Connection, texts: TagTexts) -> str | None:
    """The category a tag has somewhere in the project (its first row that has one)."""
    if not texts:
        return None
    where, params = texts.where()
    row = conn.execute(
        f"SELECT category FROM tags WHERE {where} AND category IS NOT NULL ORDER BY id LIMIT 1", params
    ).fetchone()
    return str(row[0]) if row else None


# --- generic row writes (used by every edit's apply, and so by every undo / redo) ---------------------------


def insert_rows(conn: sqlite3.Connection, rows: Sequence[Any]) -> list[int]:
    """Insert `TagRow`s; return the new row ids.

    One executemany (sqlite3 binds and steps in C). The new ids are the rows above the previous maximum: `tags` has
    no AUTOINCREMENT, so SQLite gives max(id) + 1, and this write transaction is the only writer."""
    if not rows:
        return []
    now = timestamp()
    keys: dict[str, str] = {}
    values = [
        (
            row.image_id,
            row.tag,
            keys.get(row.tag) or keys.setdefault(row.tag, tag_key(row.tag)),
            row.category,
            row.source,
            row.model_id,
            row.annotation_id,
            row.confidence,
            1 if row.is_rejected else 0,
            row.position,
            now,
            now,
        )
        for row in rows
    ]
    (before,) = conn.execute("SELECT coalesce(max(id), 0) FROM tags").fetchone()
    conn.executemany(
        "INSERT INTO tags (image_id, tag, tag_key, category, source, model_id, annotation_id, confidence,"
        " is_rejected, position, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        values,
    )
    new_ids = [int(i) for (i,) in conn.execute("SELECT id FROM tags WHERE id > ? ORDER BY id", (before,))]
    if len(new_ids) != len(values):
        raise RuntimeError(f"inserted {len(values)} tag rows but found {len(new_ids)} new ids")
    return new_ids


def delete_rows(conn: sqlite3.Connection, tag_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """Delete tag rows by id; return their data (the `TagRow` fields, in order) for the undo record."""
    found: list[tuple[Any, ...]] = []
    for chunk in _chunks(tag_ids):
        found.extend(
            conn.execute(
                f"DELETE FROM tags WHERE id IN (SELECT value FROM json_each(?)) RETURNING {_ROW_COLUMNS}",
                (json.dumps(list(chunk)),),
            ).fetchall()
        )
    return found


def set_rejected(
    conn: sqlite3.Connection, groups: dict[tuple[str, str, int | None], list[int]], rejected: bool
) -> list[tuple[int, str, str, int | None]]:
    """Flip `is_rejected` for (tag, source, model) -> images; return the (image, tag, source, model) flipped."""
    flipped: list[tuple[int, str, str, int | None]] = []
    now = timestamp()
    for (tag, source, model_id), image_ids in groups.items():
        for chunk in _chunks(sorted(set(image_ids))):
            hit = conn.execute(
                "UPDATE tags SET is_rejected = ?, updated_at = ? WHERE tag = ? AND source = ? AND model_id IS ?"
                " AND is_rejected = ? AND image_id IN (SELECT value FROM json_each(?)) RETURNING image_id",
                (int(rejected), now, tag, source, model_id, int(not rejected), json.dumps(list(chunk))),
            ).fetchall()
            flipped.extend((image_id, tag, source, model_id) for image_id in sorted({int(i) for (i,) in hit}))
    return flipped


# --- project-wide rename / merge / delete ------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectTagEdit:
    """What a project-wide edit did, in the shape of the undo record: rows deleted (manual ones), rows rejected
    (model / sidecar ones, by content), rows inserted (the renamed tag's), and every image touched."""

    deleted: list[tuple[Any, ...]]
    rejected: list[tuple[int, str, str, int | None]]
    inserted: list[int]
    touched: set[int]


def remove_everywhere(conn: sqlite3.Connection, old: TagTexts, *, below_id: int | None = None) -> ProjectTagEdit:
    """Take the tag off every image: manual rows are deleted, model / sidecar rows marked rejected (so a
    re-annotation or re-import cannot bring them back). `below_id`: only rows up to this id (a rename's own new
    rows, inserted just before, are above it)."""
    if not old:
        return ProjectTagEdit([], [], [], set())
    where, params = old.where()
    bound = "" if below_id is None else f" AND id <= {int(below_id)}"
    deleted = conn.execute(
        f"DELETE FROM tags WHERE {where} AND is_rejected = 0 AND source = ?{bound} RETURNING {_ROW_COLUMNS}",
        [*params, SOURCE_MANUAL],
    ).fetchall()
    rejected = conn.execute(
        f"UPDATE tags SET is_rejected = 1, updated_at = ? WHERE {where} AND is_rejected = 0 AND source != ?{bound}"
        " RETURNING image_id, tag, source, model_id",
        [timestamp(), *params, SOURCE_MANUAL],
    ).fetchall()
    keys = list(dict.fromkeys((int(i), str(t), str(s), m) for i, t, s, m in rejected))
    touched = {int(r[0]) for r in deleted} | {k[0] for k in keys}
    return ProjectTagEdit(deleted, keys, [], touched)


def rename_everywhere(
    conn: sqlite3.Connection, old: TagTexts, new_tag: str, new: TagTexts, category: str | None
) -> ProjectTagEdit:
    """Replace `old` by the manual tag `new_tag` on every image carrying `old`; where an image already has `new`
    (a merge) it only loses `old`. The new row takes the place (position) the old tag had in that image's order.
    `new`: the stored spellings of `new_tag` (empty if the project has none)."""
    if not old:
        return ProjectTagEdit([], [], [], set())
    where, params = old.where()
    (before,) = conn.execute("SELECT coalesce(max(id), 0) FROM tags").fetchone()
    case_only = new_tag.lower() in {t.lower() for t in old.texts}
    skip, skip_params = "", list[str]()
    if new and not case_only:  # a merge: images that already carry the new tag get no second row
        new_where, skip_params = new.where()
        skip = f" AND image_id NOT IN (SELECT image_id FROM tags WHERE {new_where} AND is_rejected = 0)"
    now = timestamp()
    inserted = conn.execute(
        "INSERT INTO tags (image_id, tag, tag_key, category, source, is_rejected, position, created_at, updated_at)"
        f" SELECT image_id, ?, ?, ?, ?, 0, min(position), ?, ? FROM tags WHERE {where} AND is_rejected = 0{skip}"
        " GROUP BY image_id RETURNING id",
        [new_tag, tag_key(new_tag), category, SOURCE_MANUAL, now, now, *params, *skip_params],
    ).fetchall()
    removed = remove_everywhere(conn, old, below_id=int(before))
    return ProjectTagEdit(removed.deleted, removed.rejected, sorted(int(i) for (i,) in inserted), removed.touched)
