"""Import images into a project: discovery, a process pool for the per-file work, one database writer.

Pipeline (the seed's HybridBatchProcessor, measured in docs/benchmarks.md):

1. Discover every candidate file first (cheap: list + stat), so the total is known early.
2. Files whose path is registered with the same size and mtime are skipped without being read; a registered
   path whose stamp changed is only hashed (no decode) and skipped if its bytes are unchanged.
3. The rest go in batches of `resources.batch_size` (100) to a pool of `resources.max_workers` processes,
   which read, hash, sniff, verify, decode once, pHash and write the thumbnail and copy (see
   `services/importing/worker.py`). Two batches are in flight so the pool never waits for the writer.
4. This process writes each batch in one transaction (`services/importing/writer.py`) and only then reports
   it (`on_batch`), so the GUI grid fills while the import runs.

Safe against crashes: a run holds the project's import lock, marks dead runs as interrupted and sweeps the
files a killed run journaled as written but never committed (`storage/layout.py`) before starting, and its
own uncommitted files when it ends; rows are only committed after their files exist.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from loguru import logger

from lorairo.database.engine import Database, is_disk_full
from lorairo.database.import_repository import (
    RUN_CANCELLED,
    RUN_COMPLETED,
    RUN_FAILED,
    ImportRepository,
    SourceStamp,
)
from lorairo.exceptions import DiskFullError, ImageProcessingError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.importing.discovery import DiscoveredFile, discover
from lorairo.services.importing.near_duplicates import NearDuplicateFinder, finder_for
from lorairo.services.importing.summary import (
    REASON_UNREADABLE_FOLDER,
    REASON_UNSUPPORTED_EXTENSION,
    FileOutcome,
    ImportSummary,
)
from lorairo.services.importing.worker import (
    STATUS_REJECTED,
    FileResult,
    FileTask,
    WorkerSettings,
    init_worker,
    process_chunk,
)
from lorairo.services.importing.writer import BatchWriter, Unchanged
from lorairo.services.progress_text import Pace
from lorairo.services.tag_categories import VocabularyCategorizer
from lorairo.storage.layout import sweep_orphans
from lorairo.storage.lock import ImportLock
from lorairo.storage.sidecars import SIDECAR_SUFFIXES, read_sidecars

ProgressCallback = Callable[[int, int, str], None]
BatchCallback = Callable[[list[int]], None]
_IN_FLIGHT_BATCHES = 2


class ImportTarget(Protocol):
    """The parts of an open `Project` an import uses."""

    @property
    def root(self) -> Path: ...

    @property
    def db(self) -> Database: ...


@dataclass
class _Batch:
    """One batch on its way through the pool."""

    futures: list[Future[list[FileResult]]] = field(default_factory=list)
    unchanged: list[Unchanged] = field(default_factory=list)  # fast-skipped files


class _LazyFuture(Future[list[FileResult]]):
    """A chunk for the inline executor: runs when the runner waits for it, so cancel and progress work
    between chunks exactly as with a pool."""

    def __init__(self, fn: Callable[[], list[FileResult]]) -> None:
        super().__init__()
        self._fn = fn

    def run_now(self) -> None:
        if not self.done():
            self.set_result(self._fn())


class _InlineExecutor(Executor):
    """Runs chunks in this process (one job, or too few files to be worth starting processes)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]  # signature fixed by Executor
        return _LazyFuture(lambda: fn(*args, **kwargs))


def _pool_context() -> multiprocessing.context.BaseContext:
    """How to start workers. Forking a single-threaded process is instant and inherits the imports; fork is
    unsafe once other threads exist (the GUI, a logging thread), so then a forkserver forks from a clean,
    preloaded server instead (about 2 s once per process)."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and threading.active_count() == 1 and "fork" in methods:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["lorairo.services.importing.worker"])
        return context
    return multiprocessing.get_context("spawn")


def _disk_full_message(exc: BaseException, db_path: Path) -> str | None:
    """ "disk full at PATH" if `exc` is a full disk (OS error, or SQLite's "database or disk is full")."""
    if not is_disk_full(exc):
        return None
    return f"disk full at {(exc.filename if isinstance(exc, OSError) else None) or db_path}"


class ImageProcessingService:
    """Imports files and folders into one open project. One instance per project; call from any one thread."""

    def __init__(self, config: ConfigurationService, project: ImportTarget) -> None:
        self.config = config
        self.project = project

    def _settings(self) -> WorkerSettings:
        get = self.config.get
        return WorkerSettings(
            project_root=str(self.project.root),
            copy_to_project=bool(get("image_processing.copy_to_project")),
            max_file_bytes=int(float(get("image_processing.max_file_size_mb")) * 1024 * 1024),
            max_pixels=int(get("image_processing.max_pixels")),
            thumbnail_size=int(get("image_processing.thumbnail_size")),
            thumbnail_format=str(get("image_processing.thumbnail_format")),
            thumbnail_quality=int(get("image_processing.thumbnail_quality")),
            read_sidecars=bool(get("image_processing.read_sidecars")),
            max_sidecar_bytes=int(get("image_processing.max_sidecar_kb")) * 1024,
            compute_quality=bool(get("quality.compute_at_import")),
        )

    def import_paths(
        self,
        paths: Sequence[str | Path],
        *,
        jobs: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        on_batch: BatchCallback | None = None,
        batch_size: int | None = None,
    ) -> ImportSummary:
        """Import files and folders (recursively) into the project.

        Args:
            paths: Files and folders. A path that does not exist is a fatal error (nothing is imported).
            jobs: Worker processes; None = `resources.max_workers` (0 there = number of cores).
            progress: Called with (done, total, message) from this thread; total is 0 while discovering.
            cancel: Set it to stop: finished work is committed, the run is marked cancelled.
            on_batch: Called after each committed batch with the ids of the images it added.
            batch_size: Files per committed batch; None = `resources.batch_size`.

        Returns:
            Counts by outcome, skipped files by reason, speed, and every file's outcome.

        Raises:
            ImageProcessingError: a path does not exist, another import holds the project, or the project
                cannot be written.
        """
        missing = [str(p) for p in paths if not os.path.lexists(p)]
        if missing:
            raise ImageProcessingError(f"not found: {', '.join(missing)}")
        workers = jobs if jobs and jobs > 0 else self.config.max_workers()
        size = batch_size or int(self.config.get("resources.batch_size"))
        settings = self._settings()
        extensions = list(self.config.get("image_processing.extensions"))
        threshold = int(self.config.get("image_processing.near_duplicate_threshold"))
        with ImportLock(self.project.root):
            started = time.perf_counter()
            found = discover(paths, extensions, cancel=cancel, on_found=self._found_reporter(progress))
            run_id, stamps, finder, sidecar_stamps = self._prepare(
                [str(p) for p in paths], [f.path for f in found.files], found.sidecars, threshold
            )
            categorize = VocabularyCategorizer()
            writer = BatchWriter(self.project.db, self.project.root, run_id, finder, categorize)
            runner = _Runner(found.files, stamps, settings, writer, workers, size, progress, cancel, on_batch)
            runner.sidecars_on_disk, runner.sidecars_read = found.sidecars, sidecar_stamps
            status = RUN_CANCELLED if found.cancelled else RUN_COMPLETED
            try:
                runner.reject(
                    [(path, f"not one of {', '.join(extensions)}") for path in found.ignored],
                    REASON_UNSUPPORTED_EXTENSION,
                )
                runner.reject(list(found.unreadable), REASON_UNREADABLE_FOLDER)
                if not found.cancelled:
                    status = runner.run()
                if writer.disk_full is not None:
                    raise DiskFullError(
                        f"{writer.disk_full}: the import stopped; {len(runner.image_ids):,} image(s) committed are "
                        "kept, free some space and run the import again to continue"
                    )
            except BaseException as exc:
                self._finish(run_id, RUN_FAILED, len(runner.outcomes))
                self._sweep()
                full = None if isinstance(exc, DiskFullError) else _disk_full_message(exc, self.project.db.path)
                if full is not None:
                    raise DiskFullError(
                        f"{full}: the import stopped; what was committed is kept, free some space and run "
                        "the import again to continue"
                    ) from exc
                raise
            finally:
                categorize.close()
            self._finish(run_id, status, len(runner.outcomes))
            self._sweep()
            summary = ImportSummary.build(
                run_id,
                status,
                runner.outcomes,
                time.perf_counter() - started,
                runner.image_ids,
                sidecar_notes=writer.sidecar_notes,
                sidecars_changed=writer.sidecars_changed,
                sidecar_tags_added=writer.sidecar_tags_added,
                sidecar_merged_ids=writer.sidecar_merged_ids,
            )
        logger.info(
            "import run {} {}: {} imported, {} duplicates, {} near-duplicates, {} skipped {}, {} sidecars changed, "
            "{} sidecars not UTF-8 in {:.1f}s",
            run_id, status, summary.imported, summary.duplicates, summary.near_duplicates, summary.skipped,
            summary.skipped_by_reason, summary.sidecars_changed, len(summary.non_utf8_sidecars), summary.elapsed_s,
        )  # fmt: skip
        return summary

    @staticmethod
    def _found_reporter(progress: ProgressCallback | None) -> Callable[[int], None] | None:
        if progress is None:
            return None
        return lambda count: progress(0, 0, f"scanning: {count:,} files found")

    def _prepare(
        self, roots: list[str], files: Collection[str], sidecars: Collection[str], threshold: int
    ) -> tuple[int, dict[str, SourceStamp], NearDuplicateFinder, dict[str, tuple[int, float | None]]]:
        """Under the lock: close dead runs, sweep orphaned files, start a run, load what is registered."""
        with self.project.db.session(write=True) as session:
            repo = ImportRepository(session)
            interrupted = repo.mark_interrupted_runs()
            # Only files a killed run journaled as being written and never committed: never "every file the
            # database does not list" (a database restored from a backup would lose every newer image).
            swept = sweep_orphans(self.project.root, repo.referenced_files)
            if interrupted or swept:
                logger.warning(
                    "recovered from an interrupted import: {} run(s), {} orphaned file(s)", interrupted, swept
                )
            run_id = repo.start_run(roots)
            # Only the paths this run found are looked up: the cost follows the import, not the project.
            stamps = repo.source_stamps(files)
            # Thresholds up to 8 search the database's pHash band indexes and load nothing; larger ones read
            # every pHash once (16 MB at 1M images) and scan it.
            finder = finder_for(threshold, repo)
            sidecar_stamps = repo.sidecar_stamps(sidecars)
        return run_id, stamps, finder, sidecar_stamps

    def _sweep(self) -> None:
        """At the end of a run, under the lock: the run's journaled files without a row (a batch that failed to
        commit, a duplicate's copy) go now rather than at the next import."""
        try:
            with self.project.db.session() as session:
                swept = sweep_orphans(self.project.root, ImportRepository(session).referenced_files)
        except Exception as exc:  # the journals stay, so the next import sweeps them
            logger.warning("could not sweep the files of this import yet: {}", exc)
            return
        if swept:
            logger.info("removed {} file(s) this import wrote but did not keep", swept)

    def _finish(self, run_id: int, status: str, total: int) -> None:
        try:
            with self.project.db.session(write=True) as session:
                ImportRepository(session).finish_run(run_id, status, total)
        except Exception as exc:  # the run row is bookkeeping; never hide the original error behind it
            logger.error("could not record the end of import run {}: {}", run_id, exc)


class _Runner:
    """Feeds batches through the pool and the writer, keeping two in flight; reports progress."""

    def __init__(
        self,
        files: Sequence[DiscoveredFile],
        stamps: dict[str, SourceStamp],
        settings: WorkerSettings,
        writer: BatchWriter,
        workers: int,
        batch_size: int,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        on_batch: BatchCallback | None,
    ) -> None:
        self.files, self.stamps, self.settings, self.writer = files, stamps, settings, writer
        self.workers, self.batch_size = workers, batch_size
        self.progress, self.cancel, self.on_batch = progress, cancel, on_batch
        self.outcomes: list[FileOutcome] = []
        self.image_ids: list[int] = []
        self.done = 0  # files with a result: finished chunks plus fast-skipped files of written batches
        self._counted: set[int] = set()
        self.started = time.perf_counter()
        # Sidecar path -> (size, mtime): as found by discovery, and as last read (re-import edit check).
        self.sidecars_on_disk: dict[str, tuple[int, float | None]] = {}
        self.sidecars_read: dict[str, tuple[int, float | None]] = {}

    def reject(self, items: Sequence[tuple[str, str]], reason: str) -> None:
        """Record (path, detail) of files and folders skipped without being read (not images, unreadable)."""
        if items:
            results = [FileResult(path, STATUS_REJECTED, reason=reason, detail=detail) for path, detail in items]
            self.outcomes.extend(self.writer.write(results, []))

    def _cancelled(self) -> bool:
        return (self.cancel is not None and self.cancel.is_set()) or self.writer.disk_full is not None

    def _unchanged(self, path: str, image_id: int) -> Unchanged:
        """A fast-skipped file; its sidecars are read again only if one is new or its size / mtime changed."""
        if not self.settings.read_sidecars:
            return Unchanged(path, image_id)
        stem = os.path.splitext(path)[0]  # noqa: PTH122 - plain strings: this runs for every unchanged file
        for suffix in SIDECAR_SUFFIXES:
            on_disk = self.sidecars_on_disk.get(stem + suffix)
            if on_disk is not None and self.sidecars_read.get(stem + suffix) != on_disk:
                return Unchanged(path, image_id, read_sidecars(Path(path), self.settings.max_sidecar_bytes))
        return Unchanged(path, image_id)

    def _split(self, chunk: Sequence[DiscoveredFile]) -> tuple[list[FileTask], list[Unchanged]]:
        tasks: list[FileTask] = []
        unchanged: list[Unchanged] = []
        for item in chunk:
            stamp = self.stamps.get(item.path)
            if stamp is None:
                tasks.append(FileTask(item.path))
            elif stamp.is_original and stamp.file_size == item.size and stamp.file_mtime == item.mtime:
                unchanged.append(self._unchanged(item.path, stamp.image_id))
            else:
                tasks.append(FileTask(item.path, known_hash=stamp.hash_value))
        return tasks, unchanged

    def run(self) -> str:
        batches = [self._split(self.files[i : i + self.batch_size]) for i in range(0, len(self.files), self.batch_size)]
        to_process = sum(len(tasks) for tasks, _ in batches)
        workers = max(1, min(self.workers, to_process))
        executor: Executor = (
            _InlineExecutor()
            if workers == 1
            else ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(), initializer=init_worker)
        )
        chunk = max(1, min(8, math.ceil(self.batch_size / (workers * 4))))
        self._report("starting")
        pending: deque[_Batch] = deque()
        queue = iter(batches)
        try:
            self._loop(executor, queue, pending, chunk)
        except BrokenProcessPool as exc:
            raise ImageProcessingError(
                "a worker process died (out of memory, or a crash inside an image decoder); the images "
                "committed so far are kept: run the import again to continue"
            ) from exc
        finally:
            # On cancel: drop what has not started, let running chunks finish, and commit all finished
            # work (its files are already written, so it would otherwise be swept).
            executor.shutdown(wait=True, cancel_futures=True)
        for batch in pending:
            self._write(batch)
        return RUN_CANCELLED if self._cancelled() else RUN_COMPLETED

    def _loop(
        self,
        executor: Executor,
        queue: Iterator[tuple[list[FileTask], list[Unchanged]]],
        pending: deque[_Batch],
        chunk: int,
    ) -> None:
        """Keep two batches in flight; write the oldest when it is complete."""
        while True:
            while len(pending) < _IN_FLIGHT_BATCHES and not self._cancelled():
                nxt = next(queue, None)
                if nxt is None:
                    break
                tasks, unchanged = nxt
                futures = [
                    executor.submit(process_chunk, tasks[i : i + chunk], self.settings)
                    for i in range(0, len(tasks), chunk)
                ]
                pending.append(_Batch(futures, unchanged))
            if not pending:
                break
            batch = pending.popleft()
            if not self._await(batch):
                pending.appendleft(batch)
                break
            self._write(batch)

    def _await(self, batch: _Batch) -> bool:
        """Wait for a batch, reporting progress per finished chunk; False if cancelled meanwhile."""
        for lazy in batch.futures:
            if isinstance(lazy, _LazyFuture):
                if self._cancelled():
                    return False
                lazy.run_now()
                self._count(lazy)
                self._report("importing")
        waiting = set(batch.futures)
        while waiting:
            if self._cancelled():
                return False
            finished, waiting = wait(waiting, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                self._count(future)
            if finished:
                self._report("importing")
        return True

    def _count(self, future: Future[list[FileResult]]) -> None:
        if id(future) not in self._counted:
            self._counted.add(id(future))
            self.done += len(future.result())

    def _write(self, batch: _Batch) -> None:
        finished = [f for f in batch.futures if f.done() and not f.cancelled()]
        for future in finished:
            self._count(future)
        # Forget them: once this batch is dropped, CPython may give a new future the same id().
        self._counted.difference_update(id(future) for future in batch.futures)
        results = [result for future in finished for result in future.result()]
        if not results and not batch.unchanged:
            return
        outcomes = self.writer.write(results, batch.unchanged)
        self.outcomes.extend(outcomes)
        self.done += len(batch.unchanged)
        added = [o.image_id for o in outcomes if o.image_id is not None and o.outcome in ("imported", "near_duplicate")]
        self.image_ids.extend(added)
        self._report("importing")
        if self.on_batch is not None and added:
            self.on_batch(added)

    def _report(self, stage: str) -> None:
        if self.progress is None:
            return
        total = len(self.files)
        pace = Pace(self.done, total, time.perf_counter() - self.started)
        self.progress(
            self.done, total, f"{stage}: {self.done:,}/{total:,} files, {pace.rate_text()}, ETA {pace.eta_text}"
        )
