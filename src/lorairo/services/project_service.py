"""Projects: `database_dir/<name>/database.db` + `images/` (+ `thumbnails/`).

Creation is atomic (built in a hidden temp folder, then renamed), deletion needs the name typed back, and
opening checks the file, backs it up and migrates it. Nothing here ever creates a project silently.

A database that is not LoRAIro's (0 bytes, cut short, not SQLite, SQLite without our tables) is refused
before anything touches it: migrating it in place would make an "empty project" whose next import swept every
image copy and thumbnail. Rename and delete hold the project's lock, so they are refused while an import or an
annotation runs (in this process, another one, or the desktop app's import child). A project folder that is a
symbolic link is refused everywhere: set ``database_dir`` to move projects elsewhere instead, so delete can
never follow a link into someone else's folder.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from loguru import logger

from lorairo.database import migrations
from lorairo.database.engine import Database, diagnose_database
from lorairo.exceptions import DatabaseError, ProjectError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.storage.lock import ProjectLock
from lorairo.utils.config import atomic_write_text

DB_NAME = "database.db"
IMAGES_DIR = "images"
THUMBNAILS_DIR = "thumbnails"
MAX_RECENT = 10
_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}
_FORBIDDEN = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


def validate_project_name(name: str) -> str:
    """Return the (NFC-normalised) name or raise ProjectError saying what is wrong. Unicode is welcome."""
    cleaned = unicodedata.normalize("NFC", name)
    if not cleaned.strip():
        raise ProjectError("project name is empty")
    if cleaned != cleaned.strip() or cleaned.endswith("."):
        raise ProjectError(f"project name {name!r} must not start or end with spaces or end with a dot")
    if cleaned.startswith("."):
        raise ProjectError(f"project name {name!r} must not start with a dot")
    if bad := _FORBIDDEN.search(cleaned):
        raise ProjectError(
            f'project name {name!r} contains {bad.group(0)!r}: path separators and :*?"<>| are not allowed'
        )
    if cleaned.split(".")[0].lower() in _RESERVED:
        raise ProjectError(f"project name {name!r} is a reserved device name on Windows")
    if len(cleaned.encode("utf-8")) > 200:
        raise ProjectError(f"project name {name!r} is too long (200 bytes at most)")
    return cleaned


@dataclass(frozen=True)
class ProjectInfo:
    """What the project list shows. `error` is set when the database cannot be read."""

    name: str
    path: Path
    image_count: int
    last_modified: datetime
    error: str | None = None


@dataclass
class Project:
    """An open project. `db` is shared by services; close() when done."""

    name: str
    root: Path
    db: Database = field(repr=False)
    backup_path: Path | None = None  # set when opening upgraded an older database

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def images_dir(self) -> Path:
        return self.root / IMAGES_DIR

    @property
    def thumbnails_dir(self) -> Path:
        return self.root / THUMBNAILS_DIR

    def close(self) -> None:
        self.db.dispose()


class ProjectService:
    """Create, list, open, rename and delete projects under the configured `database_dir`."""

    def __init__(self, config: ConfigurationService) -> None:
        self.config = config

    @property
    def root(self) -> Path:
        return self.config.database_dir()

    def project_path(self, name: str) -> Path:
        return self.root / validate_project_name(name)

    def exists(self, name: str) -> bool:
        return (self.project_path(name) / DB_NAME).is_file()

    # --- create / list / open ------------------------------------------------------------------------

    def create(self, name: str) -> Project:
        """Create a new, empty project at the current schema head and open it."""
        target = self.project_path(name)
        if target.exists():
            raise ProjectError(f"project '{target.name}' already exists at {target}")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.creating-", dir=self.root))
        try:
            (staging / IMAGES_DIR).mkdir()
            (staging / THUMBNAILS_DIR).mkdir()
            db = Database(staging / DB_NAME)
            try:
                migrations.upgrade(db.write_engine, staging / DB_NAME)
            finally:
                db.dispose()
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        logger.info("created project '{}' at {}", target.name, target)
        return self.open(target.name)

    def list_projects(self) -> list[ProjectInfo]:
        """Every project under database_dir, sorted by last modification (newest first)."""
        if not self.root.is_dir():
            return []
        infos = [
            self._info(path)
            for path in self.root.iterdir()
            if (path / DB_NAME).is_file() and not path.name.startswith(".")
        ]
        return sorted(infos, key=lambda info: info.last_modified, reverse=True)

    def info(self, name: str) -> ProjectInfo:
        path = self.project_path(name)
        if not (path / DB_NAME).is_file():
            raise ProjectError(f"no project named '{path.name}' in {self.root}")
        return self._info(path)

    def _info(self, path: Path) -> ProjectInfo:
        db_path = path / DB_NAME
        stamps = [p.stat().st_mtime for p in (db_path, path / f"{DB_NAME}-wal") if p.exists()]
        modified = datetime.fromtimestamp(max(stamps))
        problem = _symlink_problem(path) or diagnose_database(db_path)
        if problem:
            return ProjectInfo(path.name, path, 0, modified, error=f"{db_path}: {problem}")
        try:
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
            try:
                count = int(conn.execute("SELECT count(*) FROM images").fetchone()[0])
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return ProjectInfo(path.name, path, 0, modified, error=f"unreadable database: {exc}")
        return ProjectInfo(path.name, path, count, modified)

    def open(self, name: str) -> Project:
        """Open a project: check the file, back up and migrate an older schema, remember it as recent."""
        path = self.project_path(name)
        db_path = path / DB_NAME
        if not db_path.is_file():
            raise ProjectError(f"no project named '{path.name}' in {self.root}")
        if problem := _symlink_problem(path):
            raise ProjectError(f"{path}: {problem}")
        if problem := diagnose_database(db_path):
            raise DatabaseError(f"{db_path}: {problem}; not opened, nothing was changed{_backup_hint(db_path)}")
        db = Database(db_path)
        try:
            backup = migrations.upgrade(db.write_engine, db_path)
        except DatabaseError:
            db.dispose()
            raise
        except Exception as exc:
            db.dispose()
            raise DatabaseError(f"{db_path}: upgrading the database failed ({exc}); a backup is beside it") from exc
        self._remember(path.name)
        return Project(path.name, path, db, backup)

    # --- rename / delete -----------------------------------------------------------------------------

    def rename(self, old: str, new: str) -> Path:
        """Rename a project folder (images are stored relative to it, so nothing else changes)."""
        source, target = self.project_path(old), self.project_path(new)
        if not (source / DB_NAME).is_file():
            raise ProjectError(f"no project named '{source.name}' in {self.root}")
        if problem := _symlink_problem(source):
            raise ProjectError(f"{source}: {problem}; not renamed")
        with ProjectLock(source, "rename") as lock:  # never under a running import or annotation
            if target.exists() or target.is_symlink():
                raise ProjectError(f"cannot rename to '{target.name}': a project with that name exists")
            source.rename(target)
            lock.moved_to(target)
        self._replace_recent(source.name, target.name)
        logger.info("renamed project '{}' to '{}'", source.name, target.name)
        return target

    def delete(self, name: str, *, confirm: str) -> None:
        """Delete a project and everything in its folder. `confirm` must repeat the name exactly."""
        path = self.project_path(name)
        if confirm != path.name:
            raise ProjectError(f"not deleted: confirm by giving the project name '{path.name}' exactly")
        if not (path / DB_NAME).is_file():
            raise ProjectError(f"no project named '{path.name}' in {self.root}")
        if problem := _symlink_problem(path):
            raise ProjectError(f"{path}: {problem}; not deleted (remove the link yourself if you mean to)")
        # Under the lock, the folder is moved aside in one rename (the project is gone at once, never half);
        # the files are removed after the lock is released, and a crash meanwhile leaves only a hidden folder
        # that the next delete removes.
        trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.deleting-", dir=self.root))
        try:
            with ProjectLock(path, "delete") as lock:
                path.replace(trash)
                lock.moved_to(trash)
        except BaseException:
            if not any(trash.iterdir()):  # refused before the move: drop the empty placeholder
                trash.rmdir()
            raise
        self._replace_recent(path.name, None)
        for leftover in self.root.glob(".*.deleting-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        logger.info("deleted project '{}'", path.name)

    # --- recent projects -----------------------------------------------------------------------------

    @property
    def _recent_file(self) -> Path:
        return self.config.config_path.parent / "recent_projects.json"

    def recent(self) -> list[str]:
        """Recently opened projects that still exist, newest first."""
        return [n for n in self._stored_recent() if (self.root / n / DB_NAME).is_file()]

    def _stored_recent(self) -> list[str]:
        try:
            names = json.loads(self._recent_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    def _remember(self, name: str) -> None:
        self._write_recent([name, *[n for n in self.recent() if n != name]])

    def _replace_recent(self, old: str, new: str | None) -> None:
        stored = self._stored_recent()
        names = [new if n == old else n for n in stored] if new else [n for n in stored if n != old]
        self._write_recent([n for n in names if n])

    def _write_recent(self, names: list[str]) -> None:
        try:
            atomic_write_text(self._recent_file, json.dumps(names[:MAX_RECENT], ensure_ascii=False))
        except OSError as exc:
            logger.warning("could not save recent projects to {}: {}", self._recent_file, exc)


def _symlink_problem(path: Path) -> str | None:
    """Why a project folder that is a symbolic link is refused (None for a real folder)."""
    if not path.is_symlink():
        return None
    return (
        f"the project folder is a symbolic link to {path.readlink()}; LoRAIro does not follow it "
        "(move the folder into the projects folder, or point `database_dir` at where it lives)"
    )


def _backup_hint(db_path: Path) -> str:
    backups = sorted(db_path.parent.glob(f"{DB_NAME}.bak-*"), key=lambda p: p.stat().st_mtime)
    return f" (the newest backup is {backups[-1]})" if backups else ""
