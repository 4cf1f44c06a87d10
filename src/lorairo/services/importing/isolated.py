"""Run `ImageProcessingService.import_paths` in a child process and relay its progress, batches and result.

Why: the import's own Python work (discovery, the writer's SQL, the near-duplicate index, bookkeeping) in a
thread of the desktop app competes with the GUI thread for the GIL. Measured at 100k images, the grid's
event loop stalled 230-310 ms while importing in a thread and 56 ms with the same import in another process
(docs/benchmarks.md). The child opens the project's database itself, takes the import lock as any import
does, and dies with its parent (the pool's initializer does the same for the decoding workers).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lorairo.exceptions import ImageProcessingError
from lorairo.services.importing.summary import ImportSummary

_POLL_S = 0.1
#: Niceness of a background import (the child and its decoding processes, which inherit it). At the default 0
#: its three busy processes took the cores from the desktop app's GUI thread on a 2-core machine: the thread
#: waited 20-60 ms on the run queue per event-loop pass while importing into a 1M project (docs/benchmarks.md).
#: At 5 the scheduler lets the GUI thread in first; with idle cores the import runs as fast as before.
BACKGROUND_NICENESS = 5


def import_in_child(
    config_path: Path,
    project_name: str,
    project_root: Path,
    paths: Sequence[str | Path],
    *,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: threading.Event | None = None,
    on_batch: Callable[[list[int]], None] | None = None,
    background: bool = False,
) -> ImportSummary:
    """Import `paths` into the project at `project_root` from a child process; callbacks run in this thread.
    `background`: the child and its workers run at a lower CPU priority (BACKGROUND_NICENESS) than this process.

    Raises ImageProcessingError with the child's message, or when the child dies without an answer."""
    context = multiprocessing.get_context("spawn")  # a fork of a GUI process would copy its threads' locks
    events = context.Queue()
    stop = context.Event()
    child = context.Process(
        target=_child_main,
        args=(str(config_path), project_name, str(project_root), [str(p) for p in paths], events, stop, background),
        name="lorairo-import",
    )
    child.start()
    try:
        while True:
            if cancel is not None and cancel.is_set():
                stop.set()
            try:
                kind, payload = events.get(timeout=_POLL_S)
            except queue.Empty:
                if child.is_alive():
                    continue
                try:  # it may have answered just before exiting
                    kind, payload = events.get(timeout=1.0)
                except queue.Empty:
                    raise ImageProcessingError(
                        f"the import process stopped unexpectedly (exit code {child.exitcode}); what it committed "
                        "is kept and importing the same folders again continues where it stopped"
                    ) from None
            if kind == "progress":
                if progress is not None:
                    progress(*payload)
            elif kind == "batch":
                if on_batch is not None:
                    on_batch(payload)
            elif kind == "done":
                summary: ImportSummary = payload
                return summary
            else:
                raise ImageProcessingError(str(payload))
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
        events.close()


def _child_main(
    config_path: str,
    project_name: str,
    project_root: str,
    paths: list[str],
    events: Any,
    stop: Any,
    background: bool = False,
) -> None:
    from lorairo.database.engine import Database
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.image_processing_service import ImageProcessingService
    from lorairo.services.importing.worker import init_worker
    from lorairo.services.project_service import DB_NAME, Project
    from lorairo.utils.log import setup_from_config

    init_worker()  # die with the app
    if background:
        try:
            os.nice(BACKGROUND_NICENESS)  # inherited by the decoding processes this child starts
        except (OSError, AttributeError):  # no nice() on this platform: the import runs at normal priority
            pass
    root = Path(project_root)
    project = None
    try:
        config = ConfigurationService(Path(config_path))
        setup_from_config(config, console=False)
        project = Project(project_name, root, Database(root / DB_NAME))
        service = ImageProcessingService(config, project)
        summary = service.import_paths(
            paths,
            progress=lambda done, total, message: events.put(("progress", (done, total, message))),
            cancel=stop,
            on_batch=lambda ids: events.put(("batch", list(ids))),
        )
        events.put(("done", summary))
    except Exception as exc:  # every failure reaches the app as one message naming what went wrong
        events.put(("error", str(exc) or type(exc).__name__))
    finally:
        if project is not None:
            project.close()
        events.close()
        events.join_thread()
