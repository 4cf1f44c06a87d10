"""One import at a time per project: an OS file lock on ``<project>/.import.lock``.

The lock dies with its process (even on ``kill -9``), so a stale lock never blocks the next import, and
holding it proves that no other import is writing files: only then is sweeping orphaned files safe.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType

from lorairo.exceptions import ImageProcessingError

LOCK_NAME = ".import.lock"


class ImportLock:
    """Context manager holding the project's import lock; raises ImageProcessingError if another holds it."""

    def __init__(self, project_root: Path) -> None:
        self.path = project_root / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> ImportLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except OSError as exc:
            os.close(fd)
            raise ImageProcessingError(
                f"another import into {self.path.parent.name} is running; wait for it or cancel it"
            ) from exc
        self._fd = fd
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
