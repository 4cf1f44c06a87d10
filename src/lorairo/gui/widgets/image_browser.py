"""The browser page: filter bar over the thumbnail grid. Runs queries on a worker and keeps counts current.

A query shows its first page as soon as the worker has read it (IDs, rows and badges of 200 images: tens of
milliseconds even at 1M images), then the same job reads the whole ID list (about a second at 1M) and the
counts; the grid grows under the user without moving (`ImageListModel.extend_to`).

Listens to the session: a new project resets it; each `changed` broadcast appends added images to the grid
(when the current filter would show every image) or schedules a re-query, refreshes the cached rows of changed
images, and re-queries a filtered view (keeping the selection) since an edit can move an image in or out of it.
GUI thread only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QTimer, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lorairo.gui.models.id_index import IdIndex
from lorairo.gui.models.image_list_model import PAGE_SIZE, ImageListModel
from lorairo.gui.models.selected_ids import SelectedIds
from lorairo.gui.session import ProjectSession
from lorairo.gui.thumbnails import ThumbnailLoader
from lorairo.gui.widgets.filter_bar import FilterBar
from lorairo.gui.widgets.tag_completer import project_and_vocabulary
from lorairo.gui.widgets.thumbnail_grid import ThumbnailGrid
from lorairo.services.changes import Changes
from lorairo.services.image_query_service import ImageFilter, ImageRow
from lorairo.storage.layout import thumbnail_path

if TYPE_CHECKING:
    from lorairo.gui.workers import Job, JobContext
    from lorairo.services.tag_stats_service import Badges

REQUERY_DELAY_MS = 1000  # changes arrive in bursts (import and annotation batches): one re-query per second at most
EMPTY_PROJECT_TEXT = (
    "This project has no images yet.\n\nDrop folders or images here, or use File > Import folder… (Ctrl+I)"
    " or File > Import files… (Ctrl+Shift+I)."
)


@dataclass(frozen=True)
class FirstPage:
    """The first page of a result, read on the worker before the whole list."""

    ids: list[int]
    rows: list[ImageRow]
    badges: dict[int, Badges]


@dataclass(frozen=True)
class QueryResult:
    """The whole result: every ID in grid order with its row index, the project's image count, a note for the bar."""

    index: IdIndex
    total: int
    note: str = ""


@dataclass(frozen=True)
class _Problem:
    """A `similar:` filter that cannot be run (no embeddings...): the message, and the model that would fix it."""

    message: str
    model: str | None


class ImageBrowser(QWidget):
    """Filter bar + grid. `counts_changed(shown, total)` after every query; `selection_changed(ids)`."""

    counts_changed = Signal(int, int)
    selection_changed = Signal(object)
    first_page_shown = Signal(int)  # rows of a new result's first page in the grid (the list follows)
    query_finished = Signal(int)  # number of matching images (tests and benchmarks wait on it)
    query_failed = Signal(str)  # a similar: filter that could not be run: the message under the filter bar

    def __init__(self, session: ProjectSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.thumbnails = ThumbnailLoader(session.jobs, parent=self)
        self.model = ImageListModel(session.jobs, self.thumbnails, self)
        self._suggest = project_and_vocabulary(lambda: session.project)
        self.filter_bar = FilterBar(session.jobs, self._suggest, self)
        self.grid = ThumbnailGrid(self.model, self)
        self.filter: ImageFilter = ImageFilter()
        self.sort = "import"  # a key of tag_stats_service.SORTS
        self.total = 0
        self._generation = 0
        self._job: Job | None = None  # the running query: cancelled when a newer one starts
        self._requery = QTimer(self, singleShot=True, interval=REQUERY_DELAY_MS)
        self._requery.timeout.connect(self.run_query)
        self._keep_selection = False  # the pending re-query refreshes the same filter: keep what is selected
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.grid, 1)
        self.filter_bar.filter_changed.connect(self.set_filter)
        self.grid.selection_changed.connect(self.selection_changed)
        session.project_changed.connect(self._project_changed)
        session.changed.connect(self._changed)
        session.wait_for_grid()  # the side panels count once this grid has a project's first whole result

    def project_opened(self, project: object) -> None:
        """Show `project` (the browser is created after the first project_changed, so this is public)."""
        self._project_changed(project)

    def _project_changed(self, project: object) -> None:
        query = self.session.query
        root = self.session.project
        self.model.set_source(query, (lambda h: thumbnail_path(root, h)) if root is not None else None)
        self.total = 0
        self._keep_selection = False
        self.filter_bar.clear()  # emits the empty filter -> run_query

    def set_sort(self, sort: str) -> None:
        """Order the grid by `sort` (a key of tag_stats_service.SORTS) and query again."""
        if sort != self.sort:
            self.sort = sort
            self.run_query()

    def set_filter(self, image_filter: ImageFilter) -> None:
        self.filter = image_filter
        self._keep_selection = False
        self.run_query()

    def run_query(self) -> None:
        """Query the current filter on a worker: its first page is shown as soon as it is read, then the whole
        ID list and the total follow from the same job. A re-query of the same filter after edits (the pending
        re-query) skips the first page and swaps the list in keeping the scroll position and the selection.
        Stale answers are dropped, and a superseded job stops before reading its whole list."""
        if self._job is not None:
            self._job.cancel()
            self._job = None
        query = self.session.query
        if query is None:
            self.model.set_ids([])
            return
        self._generation += 1
        generation, image_filter, sort = self._generation, self.filter, self.sort
        refresh = self._keep_selection
        self._keep_selection = False

        def work(ctx: JobContext) -> QueryResult | _Problem | None:
            from lorairo.services.tag_stats_service import grid_badges

            if image_filter.similar is not None:  # ranked: keeps its own order, whatever the sort
                from lorairo.services.embeddings.common import EmbeddingError

                try:
                    ranking = query.ranked(image_filter)
                except EmbeddingError as exc:  # the user's to fix, shown under the bar (not an error report)
                    return _Problem(str(exc), exc.model)
                note = f"Most similar first ({ranking.model})."
                if ranking.unembedded:
                    note += f" {ranking.unembedded} images without an embedding are left out."
                return QueryResult(IdIndex(ranking.ids), query.count(), note)
            if not refresh:
                first = query.first_page(image_filter, sort, PAGE_SIZE)
                ctx.emit(FirstPage(first, query.fetch_rows(first, details=False), grid_badges(query.db, first)))
                if len(first) < PAGE_SIZE:  # that was all of it
                    total = len(first) if image_filter.is_empty() else query.count()
                    return QueryResult(IdIndex(first), total)
            if ctx.cancelled:
                return None
            ids = query.ids_array(image_filter, sort)
            if ctx.cancelled:
                return None
            total = len(ids) if image_filter.is_empty() else query.count()
            return QueryResult(IdIndex(ids), total)  # the index is built here, not on the GUI thread

        self._job = self.session.jobs.submit(
            "Filter images",
            work,
            on_partial=lambda page: self._show_first_page(generation, page),
            on_result=lambda result: self._show(generation, result, refresh),
            pool="grid",
            visible=False,
        )

    def _show_first_page(self, generation: int, page: FirstPage) -> None:
        if generation != self._generation:
            return
        self.model.show_first_page(page.ids, page.rows, page.badges)
        if not page.ids:
            self.grid.set_empty_text(EMPTY_PROJECT_TEXT if self.filter.is_empty() else "No images match this filter.")
        self.selection_changed.emit([])  # a new result starts with nothing selected
        self.first_page_shown.emit(len(page.ids))

    def _show(self, generation: int, result: QueryResult | _Problem | None, refresh: bool) -> None:
        if generation != self._generation or result is None:
            return
        self._job = None
        if isinstance(result, _Problem):  # the grid keeps the last result, as for a syntax error
            model = result.model
            action = (f"Compute embeddings ({model})", lambda: self.compute_embeddings(model)) if model else None
            self.filter_bar.show_error(result.message, action)
            self.query_failed.emit(result.message)
            self.session.grid_settled()
            return
        if result.note:
            self.filter_bar.show_error(result.note, note=True)
        index, total = result.index, result.total
        self.total = total
        if refresh or not self.model.extend_to(index):
            self._replace_keeping_view(index)
        self.grid.set_empty_text(EMPTY_PROJECT_TEXT if total == 0 else "No images match this filter.")
        self.filter_bar.set_count(len(index), total)
        self.counts_changed.emit(len(index), total)
        self.query_finished.emit(len(index))
        self.session.grid_settled(total)

    def _replace_keeping_view(self, index: IdIndex) -> None:
        """Show `index` in place of the current list with the same scroll position, current image and the
        selected images that are still in it (a re-query after an edit must not make the grid jump)."""
        view = self.grid.view
        offset = view.verticalScrollBar().value()
        keep = self.grid.selected_ids()
        current_row = view.currentIndex().row()
        current = self.model.image_id(current_row) if 0 <= current_row < self.model.rowCount() else None
        self.model.set_ids(index)
        view.updateGeometries()  # the scroll range of the new list, before the offset is put back
        view.verticalScrollBar().setValue(offset)
        if current is not None and (row := index.row(current)) is not None:
            view.selectionModel().setCurrentIndex(self.model.index(row), QItemSelectionModel.SelectionFlag.NoUpdate)
        kept = [image_id for image_id in keep if image_id in index]
        if kept:
            self.grid.select_ids(kept)  # the grid reports the selection itself
        elif keep:
            self.selection_changed.emit([])

    def _changed(self, changes: Changes) -> None:
        if changes.added:
            self._images_added(sorted(changes.added))
        if changes.image_ids:
            self.model.refresh_rows(changes.image_ids)  # the set itself: sorting 65k ids cost the GUI thread
        if changes.removed or (changes.image_ids and not self.filter.is_empty()):
            self._keep_selection = True
            if not self._requery.isActive():
                self._requery.start()

    def _images_added(self, ids: list[int]) -> None:
        """An import committed a batch: show it at once when no filter hides anything (appending costs the grid
        no layout pass), else re-query soon."""
        self.total += len(ids)
        if not self.filter.is_empty() or self.sort != "import":  # new images belong somewhere in the middle
            if not self._requery.isActive():
                self._requery.start()
            return
        self.model.append_ids(ids)
        shown = self.model.rowCount()
        self.filter_bar.set_count(shown, self.total)
        self.counts_changed.emit(shown, self.total)

    def import_finished(self, summary: object) -> None:
        """After an import: with no filter every added image is already in the grid (appended batch by batch),
        so only a filtered view is queried again."""
        if self._requery.isActive() or not self.filter.is_empty() or self.sort != "import":
            self._requery.stop()
            self.run_query()

    def selected_ids(self) -> SelectedIds:
        return self.grid.selected_ids()

    # --- find similar -----------------------------------------------------------------------------------

    def find_similar(self, image_id: int) -> None:
        """Show the images most like `image_id`, ranked (the filter `similar:#ID`); Back returns to the filter
        shown before."""
        self.filter_bar.push_filter_text(f"similar:#{image_id}")

    def compute_embeddings(self, model: str) -> None:
        """Embed every image `model` has not embedded yet (a cancellable job with progress), then query again."""
        project, config = self.session.project, self.session.config
        if project is None:
            return

        def work(ctx: JobContext) -> object:
            from lorairo.services.annotation_service import configure_annotator_library
            from lorairo.services.embeddings.service import EmbeddingService

            configure_annotator_library(config)
            service = EmbeddingService(project, api_keys=config.api_keys(), workers=config.max_workers())
            return service.embed(model, progress=ctx.progress, cancel=ctx.cancel)

        self.session.jobs.submit(f"Compute embeddings ({model})", work, on_result=lambda _summary: self.run_query())
