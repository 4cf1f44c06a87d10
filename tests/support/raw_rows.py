"""Rows written straight into a project database, as another connection or process would (the in-memory
indexes' tests: their change logs must see writes that bypass LoRAIro's services)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable


def add_images(
    conn: sqlite3.Connection, ids: Iterable[int], size: Callable[[int], tuple[int, int]] = lambda _i: (8, 8)
) -> None:
    """Image rows with these ids, `size(id)` = (width, height), distinct hashes."""
    conn.executemany(
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height, "
        "format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 1, 1, ?, ?, 'PNG', 'RGB', 0, 1, ?, '0', 0, 0, '2026-01-01', '2026-01-01')",
        [(i, f"images/{i}.png", f"{i}.png", f"/d/{i}.png", *size(i), f"h{i}") for i in ids],
    )


def add_tag(conn: sqlite3.Connection, image: int, text: str, rejected: bool = False, key: str | None = None) -> None:
    """A model tag row; its key is `key`, or SQLite's lower() of the text (ASCII only: a key no filter computes
    for non-ASCII text, which every path must still match as stored)."""
    conn.execute(
        "INSERT INTO tags (image_id, tag, tag_key, source, is_rejected, created_at, updated_at) "
        "VALUES (?, ?, coalesce(?, lower(?)), 'model', ?, '2026-01-01', '2026-01-01')",
        (image, text, key, text, int(rejected)),
    )


def nth_row(conn: sqlite3.Connection, table: str, n: int) -> int | None:
    """The id of the n-th row of `table` (modulo its size), None when it is empty."""
    ids = [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]
    return ids[n % len(ids)] if ids else None
