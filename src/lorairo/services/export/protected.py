"""Paths an export must never replace: every image any project was imported from or stores outside itself."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from lorairo.services.project_service import Project

# (table, column) read from every project; only absolute paths count (a relative file_path lives inside its
# project, and check_target already refuses a target overlapping a project).
_PATH_COLUMNS = (("images", "file_path"), ("images", "original_path"), ("image_sources", "source_path"))


def protected_paths(project: Project, projects_root: Path, target: Path) -> Iterator[tuple[str, str]]:
    """(project, path) of the images any project was imported from or stores outside itself that may lie under
    `target` (check_target decides, on each path's normal form).

    Lazy: only a forced, non-empty target is checked. SQLite keeps only the candidates: a path that starts with
    the target, or one `os.path.normpath` could change (`/.`, `//`, the alternative separator), so the answer is
    the same as testing every path in Python (1M images: 0.7 s instead of 5 s). Other projects are read with a
    read-only SQLite connection (opening them as projects would migrate or lock them).
    """
    prefix = str(target).rstrip(os.sep) + os.sep
    with project.db.read_engine.connect() as own:
        yield from _paths_under(project.name, cast(sqlite3.Connection, own.connection.driver_connection), prefix)
    if not projects_root.is_dir():
        return
    for other in sorted(projects_root.iterdir()):
        db_path = other / "database.db"
        if other.resolve() == project.root.resolve() or not db_path.is_file():
            continue
        yield from _other_project_paths(other.name, db_path, prefix)


def _candidates(column: str, prefix: str) -> tuple[str, tuple[object, ...]]:
    """A WHERE clause keeping the paths that start with `prefix` or that normpath could rewrite."""
    unusual = [f"{os.sep}.", os.sep * 2] + ([os.altsep] if os.altsep else [])
    where = " OR ".join([f"substr({column}, 1, ?) = ?"] + [f"instr({column}, ?) > 0" for _ in unusual])
    return where, (len(prefix), prefix, *unusual)


def _other_project_paths(name: str, db_path: Path, prefix: str) -> Iterator[tuple[str, str]]:
    """Another project's paths, read-only; a database that cannot be read protects nothing more than its folder
    (which check_target already refuses as part of the projects folder)."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return
    try:
        yield from _paths_under(name, conn, prefix)
    finally:
        conn.close()


def _paths_under(name: str, conn: sqlite3.Connection, prefix: str) -> Iterator[tuple[str, str]]:
    """The project's absolute image paths that may lie under `prefix` (a table an old schema lacks is skipped)."""
    for table, column in _PATH_COLUMNS:
        where, params = _candidates(column, prefix)
        try:
            rows = conn.execute(f"SELECT {column} FROM {table} WHERE {where}", params).fetchall()
        except sqlite3.Error:
            continue
        for (path,) in rows:
            if isinstance(path, str) and Path(path).is_absolute():
                yield name, path
