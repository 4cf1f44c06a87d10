"""Rows written straight into a project database, as another connection or process would (the in-memory
indexes' tests: their change logs must see writes that bypass LoRAIro's services)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lorairo.database.engine import Database
from lorairo.database.schema import Base


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


def empty_database(folder: Path) -> Database:
    """A project database with today's tables and triggers and no rows (the in-memory indexes' tests)."""
    db = Database(folder / "database.db")
    Base.metadata.create_all(db.write_engine)
    return db


def answers_of(method: Callable[..., Any], size: Callable[[Any], int]) -> tuple[list[int], Callable[..., Any]]:
    """A stand-in for an index's lookup (`LiveTagIndex.term_ids`, `LiveImageIndex.term_mask`) that records
    `size(answer)` of each answer it gave (not None): a test asserting the list is not empty fails if the index
    was unused, and one asserting it is empty fails if it was used."""
    answered: list[int] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = method(*args, **kwargs)
        if found is not None:
            answered.append(size(found))
        return found

    return answered, spy


def held_build(index: Any) -> tuple[threading.Thread, threading.Event]:
    """Start a background build of `index` (a LiveIndex) that stops after reading its rows, inside its read
    transaction, until the returned event is set: writes made meanwhile land after the snapshot it read."""
    read, release = threading.Event(), threading.Event()

    def hold() -> None:
        read.set()
        assert release.wait(10)

    thread = index.start_build(on_read=hold)
    assert thread is not None and read.wait(10)
    return thread, release
