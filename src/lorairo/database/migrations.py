"""Alembic migrations applied programmatically when a project opens.

A new database goes straight to head. An older one is copied aside (`database.db.bak-<rev>-<time>`) and
then upgraded. A database stamped with a revision this LoRAIro does not know (made by a newer version) gets
a clear DatabaseError and is left untouched.

Alembic is imported only when a database is not at head: importing it costs about a second, and almost every
open finds the database current (checked by reading the stamp and the version files' text).
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from lorairo.exceptions import DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Engine

_REVISION = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=]*=\s*(.+)$", re.MULTILINE)


def alembic_dir() -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "alembic", here.parents[1] / "_defaults" / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise DatabaseError("migration scripts not found: the installation is incomplete")


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(alembic_dir()))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _head_from_scripts() -> str | None:
    """The head revision from the version files' text; None unless there is exactly one (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (alembic_dir() / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found = _REVISION.search(text)
        if found is None:
            return None
        revisions.add(found.group(1))
        if down := _DOWN_REVISION.search(text):
            parents.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stamp(engine: Engine) -> str | None:
    """The revision stamped in the database (Alembic's `alembic_version` table), or None."""
    with engine.connect() as conn:
        try:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
        except Exception:  # no table yet: a new database
            return None
    return str(rows[0][0]) if len(rows) == 1 else None


def _backup_database(db_path: Path, backup: Path) -> None:
    """A consistent copy (including pages still in the WAL) via SQLite's online backup API."""
    source = sqlite3.connect(db_path)
    target = sqlite3.connect(backup)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def upgrade(engine: Engine, db_path: Path, revision: str = "head") -> Path | None:
    """Bring the database to `revision`; returns the backup path when an existing database was upgraded."""
    if revision == "head" and (head := _head_from_scripts()) is not None and _stamp(engine) == head:
        return None  # already current: no need to load Alembic
    from alembic.script import ScriptDirectory

    from alembic import command

    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    current = current_revision(engine)
    target = script.get_current_head() if revision == "head" else revision
    if current == target:
        return None
    if current is not None:
        try:
            script.get_revision(current)
        except Exception:
            raise DatabaseError(
                f"{db_path}: this project was created by a newer LoRAIro (schema revision {current}); "
                "update LoRAIro to open it. The file was not changed."
            ) from None
    backup: Path | None = None
    if current is not None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        backup = db_path.with_name(f"{db_path.name}.bak-{current}-{stamp}")
        _backup_database(db_path, backup)
        logger.info("backed up {} to {} before upgrading from {} to {}", db_path, backup, current, target)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return backup
