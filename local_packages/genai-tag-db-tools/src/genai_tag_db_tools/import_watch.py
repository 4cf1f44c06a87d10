"""Progress and cancellation hooks of a running vocabulary import (an app's progress bar and Cancel button).

`TagDatabase.import_file` sets the hooks for the duration of one call; the file readers
(:mod:`.import_files`) report characters read and poll for a cancel, and the importers
(:mod:`.importers`) poll once more inside their write transaction before it commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from .errors import ImportCancelled

#: Rows between progress reports and cancel checks while a file is read.
_WATCH_EVERY = 5000


@dataclass(frozen=True)
class ImportWatch:
    """Progress and cancellation hooks of one running import (for an app's progress bar and Cancel button).

    ``progress(done, total, phase)`` gets characters read of the file's size while reading (phase
    ``"reading"``), then ``(total, total, "writing")`` once before the single write transaction.
    ``cancelled()`` is polled while reading and once more inside the transaction just before it commits;
    when it returns True the import raises :class:`ImportCancelled` and the transaction rolls back.
    """

    progress: Callable[[int, int, str], None] | None = None
    cancelled: Callable[[], bool] | None = None

    def check(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise ImportCancelled("import cancelled; nothing was written")


# The importers read it instead of taking two more parameters each; TagDatabase.import_file sets it for the
# duration of one call (a ContextVar, so concurrent imports on other threads do not see each other's hooks).
_WATCH: ContextVar[ImportWatch | None] = ContextVar("genai_tag_db_import_watch", default=None)


def watched(watch: ImportWatch | None) -> Any:
    """Set the hooks for imports run in this context; returns the token for :func:`unwatch`."""
    return _WATCH.set(watch)


def unwatch(token: Any) -> None:
    _WATCH.reset(token)


def counted_lines(fh: Iterable[str], watch: ImportWatch, total: int) -> Iterator[str]:
    done = 0
    for number, line in enumerate(fh, 1):
        done += len(line)
        if number % _WATCH_EVERY == 0:
            watch.check()
            if watch.progress is not None:
                watch.progress(min(done, total), total, "reading")
        yield line
    watch.check()
    if watch.progress is not None:
        watch.progress(total, total, "writing")


def current_watch() -> ImportWatch | None:
    """The hooks set for imports run in this context (None: nobody is watching)."""
    return _WATCH.get()
