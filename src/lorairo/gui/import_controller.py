"""Runs imports for the main window: one at a time, through the worker helper, grid filling as batches land.

GUI thread only. The import itself (`ImageProcessingService.import_paths`) runs in a child process that a
thread of the "import" pool waits on and relays (`services/importing/isolated.py`); edits on the "write" pool
run meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from lorairo.exceptions import ImageProcessingError
from lorairo.gui.session import ProjectSession
from lorairo.gui.workers import Job, JobContext, JobError
from lorairo.services.changes import Changes
from lorairo.services.importing.summary import ImportSummary


class ImportController(QObject):
    """Starts, tracks and cancels imports into the session's project."""

    started = Signal()
    progress = Signal(int, int, str)
    finished = Signal(object)  # ImportSummary, or None when the import failed

    def __init__(self, session: ProjectSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.job: Job | None = None
        self.last_summary: ImportSummary | None = None

    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self, paths: Sequence[str | Path]) -> Job:
        """Import `paths` (files and folders). Raises ImageProcessingError when it cannot start."""
        project = self.session.project
        if project is None:
            raise ImageProcessingError("open or create a project before importing images")
        if self.job is not None:
            raise ImageProcessingError("an import is already running; wait for it or cancel it first")
        if not paths:
            raise ImageProcessingError("nothing to import: no files or folders were given")
        from lorairo.services.importing.isolated import import_in_child

        config_path, name, root = self.session.config.config_path, project.name, project.root
        targets = [str(p) for p in paths]

        def work(ctx: JobContext) -> ImportSummary:
            # In a child process: the import's Python work in a thread here stalled the grid (GIL).
            return import_in_child(
                config_path,
                name,
                root,
                targets,
                progress=ctx.progress,
                cancel=ctx.cancel,
                on_batch=ctx.emit,
                background=True,  # the GUI thread before the import's processes when the cores are busy
            )

        self.job = self.session.jobs.submit(
            f"Import into '{project.name}'",
            work,
            on_progress=self.progress.emit,
            on_partial=self._batch_added,
            on_result=self._done,
            on_error=self._failed,
            # Not "write": this thread only waits on the child process (which writes on its own connection) and
            # would hold the single write thread for the whole import, queueing every edit made meanwhile.
            pool="import",
        )
        self.started.emit()
        return self.job

    def _batch_added(self, ids: object) -> None:
        if isinstance(ids, list) and ids:
            self.session.notify(Changes.images_added(ids))

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _done(self, summary: ImportSummary) -> None:
        self.job = None
        self.last_summary = summary
        # New images were announced batch by batch; images that were already there and took a sidecar's tags
        # or caption (a duplicate's sidecar, an edited sidecar) changed too: the details and tag counts reload.
        if summary.sidecar_merged_ids:
            self.session.notify(Changes.of(summary.sidecar_merged_ids, tags=True, captions=True))
        self.finished.emit(summary)

    def _failed(self, _error: JobError) -> None:  # the JobManager already reported it to the user
        self.job = None
        self.finished.emit(None)
