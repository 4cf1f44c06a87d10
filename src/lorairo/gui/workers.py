"""The ONE way LoRAIro runs work off the GUI thread.

Usage (from the GUI thread)::

    job = jobs.submit(
        "Import",
        lambda ctx: service.import_paths(paths, progress=ctx.progress, cancel=ctx.cancel, on_batch=ctx.emit),
        on_result=self._import_done,        # called in the GUI thread with the function's return value
        on_progress=self._bar.update,       # (done, total, message), throttled to ~20 per second
        on_partial=self._grid.append_ids,   # whatever the function passed to ctx.emit(...)
    )
    job.cancel()                            # sets ctx.cancel (a threading.Event); the service stops cleanly

Every failure of every job reaches one place: `JobManager.error_reported` (the main window shows it in the
errors panel and the status bar) and the log; an `on_error` callback is extra, never instead. Functions run on a
QThreadPool; they receive a `JobContext` and must not touch widgets or share ORM objects (pass IDs and frozen
dataclasses). Writes to a project database go through `pool="write"` (one thread) so they are serialised.

Thread-safety: create and use `JobManager` and `Job` only from the GUI thread; `JobContext` is the worker side.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from lorairo.exceptions import LoRAIroException
from lorairo.utils.log import redact

PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress signals per second: a signal per file would flood the GUI
POOLS = ("default", "write", "thumbnails")


@dataclass(frozen=True)
class JobError:
    """A failed job as the user sees it. `message` is one line, secrets masked; `details` is the traceback."""

    job_name: str
    message: str
    details: str = ""
    exception_type: str = ""


def describe_exception(exc: BaseException) -> str:
    """One clear line: LoRAIro errors carry their own message; others are prefixed with their type."""
    if isinstance(exc, LoRAIroException):
        return redact(str(exc))
    text = str(exc) or type(exc).__name__
    return redact(f"{type(exc).__name__}: {text}")


class JobSignals(QObject):
    """Signals of one job; emitted from the worker thread, delivered (queued) in the GUI thread."""

    progress = Signal(int, int, str)
    partial = Signal(object)
    result = Signal(object)
    error = Signal(object)  # JobError
    finished = Signal()


@dataclass
class JobContext:
    """What a background function gets: report progress, emit partial results, check for cancellation."""

    signals: JobSignals
    cancel: threading.Event = field(default_factory=threading.Event)
    _last_progress: float = 0.0

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report progress; throttled, but the first and the final (done >= total) report always go out."""
        now = time.monotonic()
        if done < total and done > 0 and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self.signals.progress.emit(int(done), int(total), str(message))

    def emit(self, payload: Any) -> None:
        """Hand a partial result (e.g. a batch of new image IDs) to the GUI thread."""
        self.signals.partial.emit(payload)


class _Runnable(QRunnable):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the Job keeps it; Qt must not delete it under Python's feet
        self._job = job

    def run(self) -> None:
        job = self._job
        signals = job.signals
        try:
            value = job.fn(job.context)
        except BaseException as exc:  # every failure must reach the user, whatever its type
            error = JobError(
                job.name,
                describe_exception(exc),
                redact("".join(traceback.format_exception(exc))),
                type(exc).__name__,
            )
            logger.opt(exception=exc).error("{} failed: {}", job.name, error.message)
            signals.error.emit(error)
        else:
            signals.result.emit(value)
        finally:
            signals.finished.emit()


class Job(QObject):
    """A submitted background function. Signals are re-emitted here so callers can connect late."""

    progress = Signal(int, int, str)
    partial = Signal(object)
    result = Signal(object)
    error = Signal(object)
    finished = Signal()

    def __init__(self, name: str, fn: Callable[[JobContext], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.fn = fn
        self.signals = JobSignals()
        self.context = JobContext(self.signals)
        self.started_at = time.monotonic()
        self.done = False
        self.failed: JobError | None = None
        self.value: Any = None
        self.last_progress: tuple[int, int, str] = (0, 0, "")
        self.signals.progress.connect(self._on_progress)
        self.signals.partial.connect(self.partial)
        self.signals.result.connect(self._on_result)
        self.signals.error.connect(self._on_error)
        self.signals.finished.connect(self._on_finished)
        self.runnable = _Runnable(self)

    def cancel(self) -> None:
        """Ask the function to stop (it sees ctx.cancel set); `finished` still follows."""
        self.context.cancel.set()

    @property
    def cancelled(self) -> bool:
        return self.context.cancel.is_set()

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.last_progress = (done, total, message)
        self.progress.emit(done, total, message)

    def _on_result(self, value: Any) -> None:
        self.value = value
        self.result.emit(value)

    def _on_error(self, error: JobError) -> None:
        self.failed = error
        self.error.emit(error)

    def _on_finished(self) -> None:
        self.done = True
        self.finished.emit()


class JobManager(QObject):
    """Runs jobs on thread pools, tracks the running ones and funnels every error to `error_reported`.

    One per main window; pass it to widgets that need background work (never a global).
    Pools: "default" (several threads), "write" (one thread: project database writes are serialised),
    "thumbnails" (decoding/reading cached thumbnails, so they never wait behind an import).
    """

    error_reported = Signal(object)  # JobError, for every failed job
    jobs_changed = Signal(int)  # number of running user-visible jobs

    def __init__(self, parent: QObject | None = None, *, max_threads: int = 4) -> None:
        super().__init__(parent)
        self._pools: dict[str, QThreadPool] = {}
        for name in POOLS:
            pool = QThreadPool(self)
            pool.setMaxThreadCount(1 if name == "write" else max(2, max_threads))
            self._pools[name] = pool
        self._running: list[Job] = []
        self._hidden: set[int] = set()
        self._closed = False

    def submit(
        self,
        name: str,
        fn: Callable[[JobContext], Any],
        *,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[JobError], None] | None = None,
        on_progress: Callable[[int, int, str], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        pool: str = "default",
        visible: bool = True,
    ) -> Job:
        """Run `fn(ctx)` in the background. `visible=False` keeps it out of the status bar's job count
        (thumbnail loads, page fetches); its errors are still reported."""
        if pool not in self._pools:
            raise ValueError(f"unknown pool {pool!r}; expected one of {', '.join(POOLS)}")
        job = Job(name, fn, self)
        if self._closed:  # the window is closing: nothing new may start (its signals would outlive it)
            logger.debug("not starting {!r}: shutting down", name)
            return job
        if on_progress:
            job.progress.connect(on_progress)
        if on_partial:
            job.partial.connect(on_partial)
        if on_result:
            job.result.connect(on_result)
        if on_error:
            job.error.connect(on_error)
        job.error.connect(self.error_reported)
        job.finished.connect(lambda: self._forget(job))
        if on_finished:
            job.finished.connect(on_finished)
        self._running.append(job)
        if not visible:
            self._hidden.add(id(job))
        self._emit_count()
        self._pools[pool].start(job.runnable)
        return job

    def running(self) -> list[Job]:
        """User-visible jobs still running (for the status bar)."""
        return [job for job in self._running if id(job) not in self._hidden]

    def _forget(self, job: Job) -> None:
        if job in self._running:
            self._running.remove(job)
        self._hidden.discard(id(job))
        self._emit_count()
        job.deleteLater()

    def _emit_count(self) -> None:
        self.jobs_changed.emit(len(self.running()))

    def cancel_all(self) -> None:
        for job in list(self._running):
            job.cancel()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until every pool is idle (shutdown and tests); True if all finished in time."""
        deadline = time.monotonic() + timeout_ms / 1000
        for pool in self._pools.values():
            left = max(0, int((deadline - time.monotonic()) * 1000))
            if not pool.waitForDone(left):
                return False
        return True

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Refuse new jobs, cancel everything and wait for the threads (called when the window closes)."""
        self._closed = True
        self.cancel_all()
        return self.wait(timeout_ms)
