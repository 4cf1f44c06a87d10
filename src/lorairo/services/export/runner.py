"""Run image jobs on all cores (a process pool), reporting each result as it finishes and honouring cancel."""

from __future__ import annotations

import ctypes
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from lorairo.services.export.imaging import ImageJob, ImageJobResult, process_image

#: Below this many images the pool's start-up (a second or so with spawn) costs more than it saves.
MIN_JOBS_FOR_POOL = 32
MAX_CHUNK = 8


def run_jobs(
    jobs: Iterable[ImageJob],
    workers: int,
    on_result: Callable[[ImageJobResult], None],
    cancel: threading.Event | None = None,
    total: int | None = None,
) -> bool:
    """Process ``jobs``; call ``on_result`` in the calling thread for each one. Returns False when cancelled.

    ``jobs`` may be a generator (an export of 500k images makes its jobs as they are sent, so only the jobs in
    flight are held); then ``total`` says how many it yields. Workers are spawned (not forked): the caller may
    be a GUI or database thread, and forking a process that holds other threads' locks can deadlock the child.
    """
    if total is None:
        if not isinstance(jobs, Sized):
            raise TypeError("run_jobs needs total= when jobs has no len()")
        total = len(jobs)
    if workers <= 1 or total < MIN_JOBS_FOR_POOL:
        for job in jobs:
            if cancel is not None and cancel.is_set():
                return False
            on_result(process_image(job))
        return True

    if cancel is not None and cancel.is_set():
        return False
    context = multiprocessing.get_context("spawn")
    size = min(workers, total)
    # Jobs go out in small chunks (fewer round trips between processes) and only a few chunks per worker are
    # in flight at a time: wait() is linear in the pending futures, so thousands at once would be quadratic.
    chunk = max(1, min(MAX_CHUNK, total // (size * 8)))
    chunks = _batches(iter(jobs), chunk)
    executor = ProcessPoolExecutor(
        max_workers=size, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    )
    completed = False
    try:
        futures: dict[Future[list[ImageJobResult]], list[ImageJob]] = {}
        for batch in itertools.islice(chunks, size * 3):
            futures[executor.submit(process_images, batch)] = batch
        while futures:
            if cancel is not None and cancel.is_set():
                return False
            done, _pending = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                batch = futures.pop(future)
                try:
                    results = future.result()
                except Exception as exc:  # a dead worker or a pool error: report it per image and go on
                    reason = f"worker process died: {exc}" if isinstance(exc, BrokenProcessPool) else repr(exc)
                    results = [ImageJobResult(job.image_id, error=reason) for job in batch]
                for result in results:
                    on_result(result)
                next_batch = next(chunks, None)
                if next_batch is not None:
                    try:
                        futures[executor.submit(process_images, next_batch)] = next_batch
                    except BrokenProcessPool as exc:
                        # The pool is gone, so nothing not yet sent can run: every such image is reported too.
                        for job in itertools.chain(next_batch, *chunks):
                            on_result(ImageJobResult(job.image_id, error=f"worker process died: {exc}"))
        completed = True
        return True
    finally:
        executor.shutdown(wait=True, cancel_futures=not completed)


def _batches(jobs: Iterator[ImageJob], size: int) -> Iterator[list[ImageJob]]:
    """Lists of ``size`` jobs, made only when the pool asks for the next one."""
    while batch := list(itertools.islice(jobs, size)):
        yield batch


def process_images(jobs: list[ImageJob]) -> list[ImageJobResult]:
    """Worker-side: one chunk of jobs (``process_image`` never raises)."""
    return [process_image(job) for job in jobs]


#: prctl(2) option: the kernel sends this signal to the process when its parent dies (Linux only).
_PR_SET_PDEATHSIG = 1
_PARENT_POLL_S = 0.5


def die_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker when the export's process dies (kill -9 included), so no worker is
    left running under init.

    On Linux the kernel does it (PR_SET_PDEATHSIG); everywhere a daemon thread also watches the parent's pid
    (the parent-death signal follows the thread that started the worker, and macOS / Windows have none).
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the watcher below still ends the worker
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent is gone: no one will read our results
        time.sleep(_PARENT_POLL_S)
