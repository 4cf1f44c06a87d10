"""Engines and sessions for one project database.

Every connection gets WAL, foreign keys, a busy timeout and synchronous=NORMAL. Writes run in
`BEGIN IMMEDIATE` transactions (a separate engine), so two processes on one project queue on the busy
timeout instead of failing with "database is locked" when a reader tries to upgrade to a writer.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from lorairo.exceptions import DiskFullError
from lorairo.utils.faults import fault_point

BUSY_TIMEOUT_MS = 30_000
SQLITE_HEADER = b"SQLite format 3\x00"


def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin event emit BEGIN itself (pysqlite's implicit transactions defeat IMMEDIATE).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def make_engine(db_path: Path, *, immediate: bool = False) -> Engine:
    """An engine for `db_path`; `immediate=True` makes every transaction take the write lock up front."""
    engine = create_engine(
        f"sqlite:///{db_path}",
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    event.listen(engine, "connect", _configure_connection)

    begin_sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin_sql)

    return engine


def looks_like_sqlite(db_path: Path) -> bool:
    """True for a file with the SQLite header (cheap check before anything opens it). An empty file is not:
    a 0-byte ``database.db`` is a damaged project, never an empty one to be created in place."""
    with db_path.open("rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    return head == SQLITE_HEADER


# Tables every LoRAIro database has had since its first schema revision; a SQLite file without them was not
# made by LoRAIro (or lost its schema) and must not be migrated or trusted as an empty project.
REQUIRED_TABLES = frozenset({"alembic_version", "images", "image_sources", "tags", "captions", "annotations"})


def diagnose_database(db_path: Path) -> str | None:
    """What is wrong with a project database, in words, or None when it looks like LoRAIro's.

    Read-only and cheap (header, size and ``sqlite_master``; no full integrity check): run before every open so
    a file that is empty, cut short, not SQLite or not LoRAIro's is refused instead of being migrated in place
    (and its project's files swept as orphans of an "empty" database).
    """
    try:
        size = db_path.stat().st_size
        with db_path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if size == 0:
        return "the file is empty (0 bytes): it was truncated or replaced"
    if not header.startswith(SQLITE_HEADER):
        return "not a SQLite database (overwritten by another file?)"
    if len(header) < 100:
        return f"truncated: only {size} bytes, shorter than a SQLite header"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    # The in-header page count is valid when the "version-valid-for" number equals the change counter. With a
    # non-empty WAL beside it, a checkpoint cut short by a crash can leave the file shorter than its header
    # until SQLite replays the WAL: that database is fine, so the size is only compared without one.
    wal = db_path.with_name(f"{db_path.name}-wal")
    has_wal = wal.is_file() and wal.stat().st_size > 0
    if not has_wal and header[92:96] == header[24:28] and page_count and size < page_size * page_count:
        return f"truncated: {size:,} bytes, but its header says {page_size * page_count:,}"
    try:
        check_readable(db_path)
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"unreadable SQLite database ({exc})"
    missing = sorted(REQUIRED_TABLES - names)
    if missing:
        what = "no tables at all" if not names else f"no {', '.join(missing)} table(s)"
        return f"a SQLite database, but not a LoRAIro project ({what})"
    return None


def is_disk_full(exc: BaseException) -> bool:
    """True for SQLite's SQLITE_FULL ("database or disk is full") and the OS's ENOSPC, however wrapped."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if isinstance(seen, sqlite3.OperationalError) and "disk is full" in str(seen):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def check_readable(db_path: Path) -> None:
    """Raise sqlite3.DatabaseError if the file is not a usable database (without changing it)."""
    uri = f"file:{db_path}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute("PRAGMA schema_version").fetchone()
        conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    finally:
        conn.close()


class Database:
    """The engines and session factories of one open project database. Safe to share between threads;
    sessions are not: open one per unit of work with `session()`."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path
        self.read_engine = make_engine(db_path)
        self.write_engine = make_engine(db_path, immediate=True)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session for one unit of work: committed on success, rolled back on error, always closed."""
        factory = self._write if write else self._read
        session = factory()
        try:
            yield session
            if write:
                fault_point("commit")  # the crash tests' hooks (utils/faults.py); nothing unless configured
            session.commit()
            if write:
                fault_point("committed")
        except BaseException as exc:
            session.rollback()
            if is_disk_full(exc):  # one line naming the place, not a SQLAlchemy traceback
                raise DiskFullError(
                    f"disk full at {self.path}: nothing of this step was saved; free some space and run it again"
                ) from exc
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.read_engine.dispose()
        self.write_engine.dispose()
