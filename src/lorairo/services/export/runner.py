"""Run image jobs on all cores (a process pool), reporting each result as it finishes and honouring cancel."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from lorairo.services.export.imaging import ImageJob, ImageJobResult, process_image

#: Below this many images the pool's start-up (a second or so with spawn) costs more than it saves.
MIN_JOBS_FOR_POOL = 8


def run_jobs(
    jobs: Sequence[ImageJob],
    workers: int,
    on_result: Callable[[ImageJobResult], None],
    cancel: threading.Event | None = None,
) -> bool:
    """Process ``jobs``; call ``on_result`` in the calling thread for each one. Returns False when cancelled.

    Workers are spawned (not forked): the caller may be a GUI or database thread, and forking a process
    that holds other threads' locks can deadlock the child.
    """
    if workers <= 1 or len(jobs) < MIN_JOBS_FOR_POOL:
        for job in jobs:
            if cancel is not None and cancel.is_set():
                return False
            on_result(process_image(job))
        return True

    if cancel is not None and cancel.is_set():
        return False
    context = multiprocessing.get_context("spawn")
    size = min(workers, len(jobs))
    executor = ProcessPoolExecutor(max_workers=size, mp_context=context)
    completed = False
    queue = iter(jobs)
    # A bounded window of submitted jobs: wait() is linear in the number of pending futures, so submitting
    # thousands at once would make the loop quadratic; a few per worker keeps every worker busy.
    window = size * 4
    try:
        futures: dict[Future[ImageJobResult], ImageJob] = {}
        for job in itertools.islice(queue, window):
            futures[executor.submit(process_image, job)] = job
        while futures:
            if cancel is not None and cancel.is_set():
                return False
            done, _pending = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                job = futures.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool as exc:
                    result = ImageJobResult(job.image_id, error=f"worker process died: {exc}")
                except Exception as exc:  # pickling or pool errors: report them per image and go on
                    result = ImageJobResult(job.image_id, error=f"{type(exc).__name__}: {exc}")
                on_result(result)
                next_job = next(queue, None)
                if next_job is not None:
                    try:
                        futures[executor.submit(process_image, next_job)] = next_job
                    except BrokenProcessPool as exc:
                        on_result(ImageJobResult(next_job.image_id, error=f"worker process died: {exc}"))
        completed = True
        return True
    finally:
        executor.shutdown(wait=True, cancel_futures=not completed)
