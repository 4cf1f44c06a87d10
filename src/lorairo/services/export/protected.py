"""Paths an export must never replace: every image any project was imported from or stores outside itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select

from lorairo.database.schema import ImageRecord, ImageSourceRecord
from lorairo.services.project_service import Project


def protected_paths(project: Project, projects_root: Path) -> Iterator[tuple[str, str]]:
    """(project, absolute path) of every image any project was imported from or stores outside itself.

    Lazy: only a forced, non-empty target is checked against it. Other projects are read with a read-only
    SQLite connection (opening them as projects would migrate or lock them).
    """
    with project.db.session() as session:
        rows = session.execute(select(ImageRecord.file_path, ImageRecord.original_path).where(ImageRecord.id > 0)).all()
        sources = session.scalars(select(ImageSourceRecord.source_path)).all()
    for file_path, original in rows:
        if Path(file_path).is_absolute():
            yield project.name, file_path
        yield project.name, original
    for source in sources:
        yield project.name, source
    if not projects_root.is_dir():
        return
    for other in sorted(projects_root.iterdir()):
        db_path = other / "database.db"
        if other.resolve() == project.root.resolve() or not db_path.is_file():
            continue
        yield from _project_sources(other.name, db_path)


def _project_sources(name: str, db_path: Path) -> Iterator[tuple[str, str]]:
    """Absolute image paths of another project, read-only; a database that cannot be read protects nothing
    more than its folder (which check_target already refuses as part of the projects folder)."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return
    try:
        for query in (
            "SELECT file_path FROM images",
            "SELECT original_path FROM images",
            "SELECT source_path FROM image_sources",
        ):
            try:
                rows = conn.execute(query).fetchall()
            except sqlite3.Error:
                continue
            for (path,) in rows:
                if isinstance(path, str) and Path(path).is_absolute():
                    yield name, path
    finally:
        conn.close()
