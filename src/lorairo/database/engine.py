"""Engines and sessions for one project database.

Every connection gets WAL, foreign keys, a busy timeout and synchronous=NORMAL. Writes run in
`BEGIN IMMEDIATE` transactions (a separate engine), so two processes on one project queue on the busy
timeout instead of failing with "database is locked" when a reader tries to upgrade to a writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

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
    """True for an empty file or one with the SQLite header (cheap check before anything opens it)."""
    with db_path.open("rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    return head == b"" or head == SQLITE_HEADER


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
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.read_engine.dispose()
        self.write_engine.dispose()
