"""Shared fixtures: the real tag CSVs (skipped with a reason when absent) and a session-wide Danbooru DB."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from genai_tag_db_tools.database import TagDatabase

REPO_ROOT = Path(__file__).resolve().parents[3]
#: The real vocabulary lists live beside the repository (<repo>/../shared/data/tags), never inside it.
TAG_DATA_DIR = (REPO_ROOT / ".." / "shared" / "data" / "tags").resolve()


def _real_csv(name: str) -> Path:
    path = TAG_DATA_DIR / name
    if not path.is_file():
        pytest.skip(f"real tag list {path} is absent (expected at <repo>/../shared/data/tags/{name})")
    return path


@pytest.fixture(scope="session")
def danbooru_csv() -> Path:
    """The real a1111-tagcomplete Danbooru list."""
    return _real_csv("danbooru.csv")


@pytest.fixture(scope="session")
def e621_csv() -> Path:
    """The real a1111-tagcomplete e621 list."""
    return _real_csv("e621.csv")


@pytest.fixture(scope="session")
def danbooru_db(tmp_path_factory: pytest.TempPathFactory, danbooru_csv: Path) -> Iterator[TagDatabase]:
    """A database with the full Danbooru list imported once per session. Treat it as read-only."""
    db = TagDatabase(tmp_path_factory.mktemp("danbooru-db"))
    db.import_file(danbooru_csv)
    yield db
    db.close()


@pytest.fixture
def tmp_db(tmp_path: Path) -> Iterator[TagDatabase]:
    """An empty database in a fresh folder."""
    db = TagDatabase(tmp_path / "db")
    yield db
    db.close()


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    """Write rows as CSV (quoted the way a1111-tagcomplete quotes its alias column)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _head_of(source: Path, target: Path, rows: int) -> Path:
    """Copy the first ``rows`` lines of a real CSV (real data, faster to import than the whole list)."""
    with source.open(encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(rows)]
    target.write_text("".join(lines), encoding="utf-8")
    return target


@pytest.fixture
def write_csv() -> Callable[[Path, list[list[str]]], Path]:
    """Function (path, rows) -> path that writes a CSV file."""
    return _write_csv


@pytest.fixture
def head_of() -> Callable[[Path, Path, int], Path]:
    """Function (real csv, target, n) -> target holding the first n rows of the real list."""
    return _head_of
