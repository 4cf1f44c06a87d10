"""One writer operation at a time per project: an OS file lock on ``<project>/.project.lock`` (filelock).

Import, annotate (local, cloud, Ray), Batch API result import, rename and delete all hold it, so two of them
can never interleave: two annotate runs would store every result and send every cloud request twice, a rename
during an import would leave rows pointing at moved files. Manual edits do not take it: SQLite's WAL and
``BEGIN IMMEDIATE`` serialise single transactions, and an edit must never wait behind a long import.

The lock is an ``flock`` held by the process (filelock's ``UnixFileLock`` / ``WindowsFileLock``), so it dies
with its process, even on ``kill -9``: a stale lock never blocks the next run, and holding it proves that no
other writer operation is running, which is what makes sweeping orphaned files safe. Who holds it (operation,
pid, start time) is written to ``.project.lock.json`` beside it so the refusal can say so; that file is only a
message, the flock alone decides.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from lorairo.exceptions import ProjectBusyError, ProjectError

LOCK_NAME = ".project.lock"
HOLDER_NAME = ".project.lock.json"
_DB_NAME = "database.db"  # the project's database (project_service.DB_NAME; storage cannot import services)


class ProjectLock:
    """Context manager holding the project's writer lock for ``operation`` ("import", "annotate", ...).

    Raises :class:`ProjectBusyError` at once (no waiting) when another process, or another ``ProjectLock`` in
    this one, holds it; the message names the operation holding it, its pid and since when.
    """

    def __init__(self, project_root: Path, operation: str) -> None:
        self.root = Path(project_root)
        self.operation = operation
        self.path = self.root / LOCK_NAME
        self._lock = FileLock(self.path, timeout=0, thread_local=False, is_singleton=False)

    def __enter__(self) -> ProjectLock:
        # filelock creates missing parent folders: locking a project renamed or deleted meanwhile would leave
        # a ghost folder under the old name, so the folder must exist, and still hold its database once locked.
        if not self.root.is_dir():
            raise ProjectError(f"project folder {self.root} is gone (renamed or deleted meanwhile?)")
        had_database = (self.root / _DB_NAME).is_file()
        try:
            self._lock.acquire()
        except Timeout:
            raise ProjectBusyError(
                f"project '{self.root.name}' is busy: {describe_holder(self.root)} is running; "
                f"the {_noun(self.operation)} needs it to finish first (or cancel it)"
            ) from None
        if had_database and not (self.root / _DB_NAME).is_file():  # moved away between the check and the lock
            self._lock.release()
            raise ProjectError(f"project folder {self.root} was renamed or deleted meanwhile; {self.operation} stopped")
        self._write_holder()
        return self

    def moved_to(self, new_root: Path) -> None:
        """Tell the lock its folder was renamed while held (rename, delete), so release cleans up there."""
        self.root = Path(new_root)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            (self.root / HOLDER_NAME).unlink(missing_ok=True)
        except OSError:  # a read-only or vanished folder: the flock below is what matters
            pass
        self._lock.release()

    @property
    def is_locked(self) -> bool:
        return self._lock.is_locked

    def _write_holder(self) -> None:
        info = {"operation": self.operation, "pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        try:
            (self.root / HOLDER_NAME).write_text(json.dumps(info), encoding="utf-8")
        except OSError:
            pass


def describe_holder(project_root: Path) -> str:
    """'an import (pid 1234, since 14:02:11)', or 'another operation' when the holder file is unreadable."""
    try:
        info = json.loads((Path(project_root) / HOLDER_NAME).read_text(encoding="utf-8"))
        since = time.strftime("%H:%M:%S", time.localtime(float(info["since"])))
        operation = _noun(str(info["operation"]))
        article = "an" if operation[:1].lower() in "aeiou" else "a"
        return f"{article} {operation} (pid {int(info['pid'])}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another operation"


def _noun(operation: str) -> str:
    """'annotate' -> 'annotation run' (messages read as sentences); other operations are nouns already."""
    return _NOUNS.get(operation, operation)


_NOUNS = {"annotate": "annotation run", "check": "project check"}


def is_project_busy(project_root: Path) -> bool:
    """True while some process holds the project's lock (probes by trying to take it)."""
    probe = FileLock(Path(project_root) / LOCK_NAME, timeout=0, thread_local=False, is_singleton=False)
    try:
        probe.acquire()
    except Timeout:
        return True
    probe.release()
    return False


def ImportLock(project_root: Path) -> ProjectLock:  # noqa: N802 - kept for callers of the import-only lock
    """The project lock taken for an import."""
    return ProjectLock(project_root, "import")
