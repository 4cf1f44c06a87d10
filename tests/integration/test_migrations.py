"""Opening a project migrates it safely: backup first, rows intact; newer or corrupt databases untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from lorairo.database import migrations
from lorairo.database.engine import Database
from lorairo.database.schema import Base
from lorairo.exceptions import DatabaseError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import ProjectService


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_project_at(projects: ProjectService, name: str, revision: str) -> Path:
    root = projects.root / name
    (root / "images").mkdir(parents=True)
    db = Database(root / "database.db")
    migrations.upgrade(db.write_engine, root / "database.db", revision)
    db.dispose()
    return root / "database.db"


@pytest.fixture
def projects() -> ProjectService:
    return ProjectService(ConfigurationService())


def test_first_migration_database_with_rows_is_upgraded_with_backup(projects: ProjectService) -> None:
    db_path = make_project_at(projects, "old", "0001")
    conn = sqlite3.connect(db_path)
    conn.execute(
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height,"
        " format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at)"
        " VALUES (1, 'images/aa/a.png', 'a.png', '/src/a.png', 1, 10, 64, 32, 'PNG', 'RGB', 0, 1, 'aa', '00', 0, 0,"
        " '2025-01-01', '2025-01-01')"
    )
    conn.execute(
        "INSERT INTO tags (image_id, tag, category, source, confidence, is_rejected, created_at, updated_at)"
        " VALUES (1, 'long hair', 'general', 'manual', NULL, 0, '2025-01-01', '2025-01-01')"
    )
    conn.commit()
    conn.close()

    project = projects.open("old")
    try:
        assert project.backup_path is not None and project.backup_path.is_file()
        assert project.backup_path.parent == db_path.parent
        with project.db.session() as session:
            assert session.execute(text("SELECT file_name, width FROM images")).all() == [("a.png", 64)]
            assert session.execute(text("SELECT tag FROM tags")).scalars().all() == ["long hair"]
            # The later migration's tables exist now.
            assert session.execute(text("SELECT count(*) FROM import_runs")).scalar() == 0
        assert migrations.current_revision(project.db.read_engine) == migrations.head_revision()
    finally:
        project.close()
    # The backup is the database as it was: at the first revision, with its row.
    backup = sqlite3.connect(project.backup_path)
    assert backup.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    assert backup.execute("SELECT count(*) FROM images").fetchone() == (1,)
    backup.close()


def test_new_project_is_at_head_in_wal_mode(projects: ProjectService) -> None:
    project = projects.create("fresh")
    try:
        assert project.backup_path is None
        assert migrations.current_revision(project.db.read_engine) == migrations.head_revision()
    finally:
        project.close()
    conn = sqlite3.connect(project.db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_database_from_newer_lorairo_is_refused_and_untouched(projects: ProjectService) -> None:
    db_path = make_project_at(projects, "future", "head")
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    conn.commit()
    conn.close()
    before = digest(db_path)
    with pytest.raises(DatabaseError, match="newer LoRAIro"):
        projects.open("future")
    assert digest(db_path) == before
    assert not list(db_path.parent.glob("database.db.bak-*"))


def test_corrupt_database_is_a_clear_error_and_untouched(projects: ProjectService) -> None:
    root = projects.root / "broken"
    (root / "images").mkdir(parents=True)
    db_path = root / "database.db"
    db_path.write_bytes(b"this is not sqlite at all" * 100)
    before = digest(db_path)
    with pytest.raises(DatabaseError, match="not a SQLite database") as err:
        projects.open("broken")
    assert str(db_path) in str(err.value)
    assert digest(db_path) == before
    # Listing still works and says what is wrong.
    [info] = projects.list_projects()
    assert info.error is not None


def test_truncated_sqlite_file_is_a_clear_error(projects: ProjectService) -> None:
    db_path = make_project_at(projects, "cut", "head")
    data = db_path.read_bytes()
    db_path.write_bytes(data[:100] + b"\x00" * 5000)
    before = digest(db_path)
    with pytest.raises(DatabaseError):
        projects.open("cut")
    assert digest(db_path) == before


# Alembic skips expression indexes (the pHash bands) with a warning; the next test compares those.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_orm_schema_and_migrations_agree(tmp_path: Path) -> None:
    """A schema change without a migration (or the reverse) fails here."""
    db = Database(tmp_path / "x.db")
    migrations.upgrade(db.write_engine, tmp_path / "x.db")
    db.dispose()
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_expression_indexes_of_the_schema_are_those_the_migrations_build(tmp_path: Path) -> None:
    """Alembic cannot compare expression indexes (the pHash bands): their SQL is compared here, as SQLite's
    planner matches a query to such an index by the expression's text."""
    from sqlalchemy.schema import CreateIndex

    db = Database(tmp_path / "x.db")
    migrations.upgrade(db.write_engine, tmp_path / "x.db")
    expected = {
        index.name: str(CreateIndex(index).compile(dialect=db.write_engine.dialect))
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if any(not hasattr(expr, "name") for expr in index.expressions)
    }
    db.dispose()
    conn = sqlite3.connect(tmp_path / "x.db")
    built = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    conn.close()

    def squash(sql: str) -> str:
        # SQLAlchemy quotes a collation name (COLLATE "NOCASE"), a migration's plain SQL need not: same index
        return " ".join(sql.replace('"', "").replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split())

    assert {"idx_images_phash_band0", "idx_images_phash_band1", "idx_images_phash_band2"} <= set(expected)
    assert {name: squash(built.get(name, "")) for name in expected} == {n: squash(s) for n, s in expected.items()}
