"""The open project of a main window and the services bound to it.

`ProjectSession` is the only GUI object that holds a `Project`; widgets get services from it and listen to
`project_changed` / `changed` instead of calling each other: every write in the GUI ends in `notify(changes)`.
Open and create run through the worker helper (opening may back up and migrate a database).
Call only from the GUI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from PySide6.QtCore import QMetaMethod, QObject, QTimer, Signal

from lorairo.gui.workers import JobContext, JobManager
from lorairo.services.changes import Changes
from lorairo.services.configuration_service import ConfigurationService

if TYPE_CHECKING:  # SQLAlchemy and Alembic load on first use, after the window is shown
    from lorairo.services.image_query_service import ImageQueryService
    from lorairo.services.project_service import Project, ProjectService


SETTLE_FALLBACK_MS = 5000  # project_settled at the latest this long after project_changed


class ProjectSession(QObject):
    """Current project + services. `project_changed(Project | None)` after open/create/close."""

    project_changed = Signal(object)
    changed = Signal(object)  # Changes: the one broadcast of every write (services/changes.py)
    images_changed = Signal(object)  # list[int] of images whose data changed (edits, annotation, import)
    images_added = Signal(object)  # list[int] of images new in the project (import batches)
    item_failed = Signal(str, str, str)  # where (e.g. a model name), message, item (file / image): errors panel
    #: The project's grid has its first whole result (or no grid waits for one): the side panels' counts and
    #: listings start now. Started with `project_changed` at 1M images they ran beside the grid's id list on two
    #: cores, and the GUI thread waited for the GIL and a core (stalls of 100-220 ms while opening).
    project_settled = Signal(object)

    def __init__(self, config: ConfigurationService, jobs: JobManager, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.jobs = jobs
        self._projects: ProjectService | None = None
        self._projects_lock = threading.Lock()
        self.project: Project | None = None
        self.query: ImageQueryService | None = None
        self._grid_waits = False  # a grid shows this session's projects and reports its first result
        self.settled = True  # project_settled was emitted for the current project
        self._settle_timer = QTimer(self, singleShot=True, interval=SETTLE_FALLBACK_MS)
        self._settle_timer.timeout.connect(self.grid_settled)

    @property
    def projects(self) -> ProjectService:
        """The project service (built on first use, from any thread: its import pulls in SQLAlchemy/Alembic)."""
        with self._projects_lock:
            if self._projects is None:
                from lorairo.services.project_service import ProjectService

                self._projects = ProjectService(self.config)
            return self._projects

    @property
    def name(self) -> str:
        return self.project.name if self.project else ""

    def open(self, name: str, on_done: Callable[[Project], None] | None = None) -> None:
        """Open an existing project in the background, then switch to it."""
        self._load(f"Open project '{name}'", lambda _ctx: self.projects.open(name), on_done)

    def create(self, name: str, on_done: Callable[[Project], None] | None = None) -> None:
        """Create a new project (the user asked for it by name) and switch to it."""
        self._load(f"Create project '{name}'", lambda _ctx: self.projects.create(name), on_done)

    def _load(self, title: str, fn: Callable[[JobContext], Project], on_done: Callable[[Project], None] | None) -> None:
        def done(project: Project) -> None:
            self.set_project(project)
            if on_done:
                on_done(project)

        self.jobs.submit(title, fn, on_result=done)

    def set_project(self, project: Project | None) -> None:
        """Switch to `project` (closing the previous one) and tell every listener."""
        old = self.project
        self.project = project
        if project is not None:
            from lorairo.services.embeddings.search import FilterRanker
            from lorairo.services.image_query_service import ImageQueryService
            from lorairo.services.quality_rules import QualityThresholds

            # The similar: ranker reads the user's registered models (text search) from this configuration.
            ranker = FilterRanker(project, self.config)
            self.query = ImageQueryService(project.db, QualityThresholds.from_config(self.config.get), ranker)
        else:
            self.query = None
        if old is not None and old is not project:
            old.close()
        self.settled = False
        self.project_changed.emit(project)
        if project is None or not self._grid_waits:
            self.grid_settled()
        else:
            self._settle_timer.start()  # in case the grid's query never answers (it failed: reported)

    def wait_for_grid(self) -> None:
        """Called by the grid that shows this session's projects: `project_settled` follows its `grid_settled()`."""
        self._grid_waits = True

    def grid_settled(self, images: int | None = None) -> None:
        """The grid has the current project's first whole result: emit `project_settled` (once per project).
        `images`: how many the result holds (the project has at least as many), when known."""
        self._settle_timer.stop()
        if not self.settled:
            self.settled = True
            self.project_settled.emit(self.project)
            if images is not None and self.project is not None:
                self._start_indexes(images)

    def _start_indexes(self, images: int) -> None:
        """Build the in-memory tag and image indexes of a large project in the background once it has settled, so
        that the first filters' whole id lists (tags alone, or with score / rating / size / aspect terms) and the
        first broad tags panel / statistics view after opening are answered from them (at 1M images: p95 under
        150 ms against 250-1000 ms in SQL, docs/benchmarks.md "Scale") instead of waiting for a build. A small
        project is counted in SQL and never holds them (live_tag_index.BUILD_FROM). Each build runs on its own
        thread with its own connection; the GUI thread only starts them."""
        from lorairo.services.live_image_index import LiveImageIndex
        from lorairo.services.live_tag_index import BUILD_FROM, LiveTagIndex

        assert self.project is not None
        if images >= BUILD_FROM:
            for index in (LiveTagIndex.of(self.project.db), LiveImageIndex.of(self.project.db)):
                if index.snapshot is None and not index.building:
                    index.start_build()

    def close(self) -> None:
        self.set_project(None)

    def notify(self, changes: Changes) -> None:
        """Broadcast one write's `Changes` to every view (the only way views learn of writes)."""
        if changes.is_empty():
            return
        self.changed.emit(changes)
        # The legacy signals carry sorted lists: built only when something listens (sorting a project-wide
        # change's 65k ids on the GUI thread for no listener was part of the rename's stall).
        if changes.added and self.isSignalConnected(QMetaMethod.fromSignal(self.images_added)):
            self.images_added.emit(sorted(changes.added))
        if (changes.image_ids or changes.removed) and self.isSignalConnected(
            QMetaMethod.fromSignal(self.images_changed)
        ):
            self.images_changed.emit(sorted(changes.image_ids | changes.removed))

    def notify_changed(self, ids: Iterable[int]) -> None:
        """Legacy form (kinds unknown): everything about `ids` may have changed."""
        self.notify(Changes.of(ids, tags=True, captions=True, scores=True, ratings=True, exclusion=True))

    def notify_added(self, ids: Iterable[int]) -> None:
        self.notify(Changes.images_added(ids))

    def report_failure(self, where: str, message: str, item: str = "") -> None:
        """A per-file or per-model failure the user should see (the window lists it in its errors panel)."""
        self.item_failed.emit(where, message, item)
