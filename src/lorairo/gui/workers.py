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
An import runs in a child process that writes the database itself; the job that starts it and relays its
progress waits on the "import" pool, so edits made meanwhile are saved at once instead of queueing behind it.

Thread-safety: create and use `JobManager` and `Job` only from the GUI thread; `JobContext` is the worker side.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from lorairo.exceptions import LoRAIroException
from lorairo.utils.log import redact

PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress signals per second: a signal per file would flood the GUI
POOLS = ("default", "write", "import", "thumbnails", "grid", "viewer")
SINGLE_THREAD_POOLS = ("write", "import")
#: The viewer's lane: its decodes never queue behind the grid's page fetches or the tags panel's counts (a cold
#: open waited 100 ms there). Two threads: the image asked for is decoded while a neighbour is prefetched.
VIEWER_THREADS = 2
#: `submit(priority=...)` within a pool: the image the user asked for before the neighbours being prefetched.
PRIORITY_NOW, PRIORITY_LATER = 1, 0


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


class _Dispatcher(QObject):
    """The one signal worker threads emit: (job, kind, payload), delivered queued in the GUI thread.

    Workers never emit signals of per-job objects: one long-lived sender keeps cross-thread delivery simple
    (and avoids creating and deleting a QObject per short job while other threads talk to it).
    """

    job_event = Signal(object)  # not `event`: that name is QObject.event(), which Qt calls


@dataclass
class JobContext:
    """What a background function gets: report progress, emit partial results, check for cancellation."""

    _job: Job
    _dispatcher: _Dispatcher
    cancel: threading.Event = field(default_factory=threading.Event)
    _last_progress: float = 0.0
    _held_progress: tuple[int, int, str] | None = None  # the newest report the throttle held back

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report progress; throttled, but the first and the final (done >= total) report always go out, and a
        report held back goes out before the next partial result and before the job ends."""
        report = (int(done), int(total), str(message))
        now = time.monotonic()
        if done < total and done > 0 and now - self._last_progress < PROGRESS_INTERVAL_S:
            self._held_progress = report
            return
        self._last_progress = now
        self._held_progress = None
        self._dispatcher.job_event.emit((self._job, "progress", report))

    def emit(self, payload: Any) -> None:
        """Hand a partial result (e.g. a batch of new image IDs) to the GUI thread."""
        self.flush_progress()  # a bar never says fewer images than the batches a grid already shows
        self._dispatcher.job_event.emit((self._job, "partial", payload))

    def flush_progress(self) -> None:
        """Send the report the throttle held back, if any."""
        report, self._held_progress = self._held_progress, None
        if report is not None:
            self._last_progress = time.monotonic()
            self._dispatcher.job_event.emit((self._job, "progress", report))


class _Runnable(QRunnable):
    def __init__(self, job: Job, dispatcher: _Dispatcher) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the Job keeps it; Qt must not delete it under Python's feet
        self._job = job
        self._dispatcher = dispatcher

    def run(self) -> None:
        job = self._job
        outcome: tuple[str, Any] | None = None  # stays None only if reporting the failure itself failed
        try:
            outcome = ("result", job.fn(job.context))
        except BaseException as exc:  # every failure must reach the user, whatever its type
            error = JobError(
                job.name,
                describe_exception(exc),
                redact("".join(traceback.format_exception(exc))),
                type(exc).__name__,
            )
            logger.opt(exception=exc).error("{} failed: {}", job.name, error.message)
            outcome = ("error", error)
        finally:
            job.context.flush_progress()
            # The outcome and `finished` travel as ONE event: sent apart, the GUI thread could show a result
            # ("Cancelled …") for an event-loop turn while the job still looked running (Cancel enabled).
            self._dispatcher.job_event.emit((job, "end", outcome))


class Job(QObject):
    """A submitted background function. Its signals are emitted in the GUI thread only."""

    progress = Signal(int, int, str)
    partial = Signal(object)
    result = Signal(object)
    error = Signal(object)
    finished = Signal()

    def __init__(self, name: str, fn: Callable[[JobContext], Any], dispatcher: _Dispatcher) -> None:
        super().__init__()
        self.name = name
        self.fn = fn
        self.context = JobContext(self, dispatcher)
        self.started_at = time.monotonic()
        self.done = False
        self.failed: JobError | None = None
        self.value: Any = None
        self.last_progress: tuple[int, int, str] = (0, 0, "")
        self.runnable: _Runnable | None = _Runnable(self, dispatcher)

    def cancel(self) -> None:
        """Ask the function to stop (it sees ctx.cancel set); `finished` still follows."""
        self.context.cancel.set()

    @property
    def cancelled(self) -> bool:
        return self.context.cancel.is_set()

    def _deliver(self, kind: str, payload: Any) -> None:
        if kind == "progress":
            self.last_progress = payload
            self.progress.emit(*payload)
        elif kind == "partial":
            self.partial.emit(payload)
        elif kind == "result":
            self.value = payload
            self.result.emit(payload)
        elif kind == "error":
            self.failed = payload
            self.error.emit(payload)
        else:
            self.done = True
            self.finished.emit()


class JobManager(QObject):
    """Runs jobs on thread pools, tracks the running ones and funnels every error to `error_reported`.

    One per main window; pass it to widgets that need background work (never a global).
    Pools: "default" (several threads), "write" (one thread: project database writes are serialised),
    "import" (one thread: waits on an import's child process, which writes on its own connection; SQLite's WAL
    lets the "write" pool's edits land meanwhile), "thumbnails" (decoding/reading cached thumbnails, so they
    never wait behind an import), "grid" (the grid's filter results and row pages: at 1M images the side
    panels' counts, run on "default" when a project opens, take seconds, and rows scrolled to must not queue
    behind them),
    "viewer" (the viewer's decodes and look-ups: the image being opened never waits
    behind other work; `priority=PRIORITY_NOW` puts it ahead of queued prefetches).
    """

    error_reported = Signal(object)  # JobError, for every failed job
    jobs_changed = Signal(int)  # number of running user-visible jobs

    def __init__(self, parent: QObject | None = None, *, max_threads: int = 4) -> None:
        super().__init__(parent)
        self._pools: dict[str, QThreadPool] = {}
        for name in POOLS:
            pool = QThreadPool(self)
            single = name in SINGLE_THREAD_POOLS
            pool.setMaxThreadCount(1 if single else VIEWER_THREADS if name == "viewer" else max(2, max_threads))
            pool.setExpiryTimeout(-1 if single else 30_000)
            self._pools[name] = pool
        self._running: list[Job] = []
        self._hidden: set[int] = set()
        self._closed = False
        self._retired: deque[_Runnable | None] = deque(maxlen=512)
        self._dispatcher = _Dispatcher(self)
        self._dispatcher.job_event.connect(self._route, Qt.ConnectionType.QueuedConnection)

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
        priority: int = PRIORITY_LATER,
    ) -> Job:
        """Run `fn(ctx)` in the background. `visible=False` keeps it out of the status bar's job count
        (thumbnail loads, page fetches); its errors are still reported. Queued jobs of a pool start in order of
        `priority` (higher first), then of submission."""
        if pool not in self._pools:
            raise ValueError(f"unknown pool {pool!r}; expected one of {', '.join(POOLS)}")
        job = Job(name, fn, self._dispatcher)
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
        if on_finished:
            job.finished.connect(on_finished)
        self._running.append(job)
        if not visible:
            self._hidden.add(id(job))
        self._emit_count()
        assert job.runnable is not None  # dropped only when the job has finished
        self._pools[pool].start(job.runnable, priority)
        return job

    def running(self) -> list[Job]:
        """User-visible jobs still running (for the status bar)."""
        return [job for job in self._running if id(job) not in self._hidden]

    def _route(self, event: tuple[Job, str, Any]) -> None:
        job, kind, payload = event
        if kind != "end":
            job._deliver(kind, payload)
            return
        # The result or error, then `finished`, in this one event-loop turn.
        if payload is not None:
            job._deliver(*payload)
        # The pool thread may still be returning from run(): keep the runnable alive a while longer
        # (QThreadPool reads it after run() returns) and break the Job <-> runnable cycle.
        self._retired.append(job.runnable)
        job.runnable = None
        if job in self._running:
            # Forget it before telling listeners, so `running()` is already current in their slots.
            self._running.remove(job)
            self._hidden.discard(id(job))
            self._emit_count()
        job._deliver("finished", None)

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
