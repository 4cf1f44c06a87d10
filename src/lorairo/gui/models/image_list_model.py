"""`ImageListModel`: the thumbnail grid's model. It holds only image IDs (an `IdIndex`: one int64 array)
plus a cache of row snapshots.

Rows are fetched a page at a time through `ImageQueryService.fetch_rows` on a worker when the view first asks
for them; until then the item shows a placeholder. Thumbnails come from `ThumbnailLoader`; when one arrives
only the rows showing it get `dataChanged`. `data()` never touches the database or decodes an image.
Call only from the GUI thread.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap

from lorairo.gui.models.id_index import IdIndex
from lorairo.gui.thumbnails import ThumbnailLoader
from lorairo.gui.workers import JobManager
from lorairo.services.image_query_service import ImageQueryService, ImageRow
from lorairo.services.tag_stats_service import Badges, grid_badges

PAGE_SIZE = 200
MAX_PAGES = 40  # pages of row snapshots kept (8,000 rows); others are fetched again when scrolled back to
ImageIdRole = Qt.ItemDataRole.UserRole + 1
ImageRowRole = Qt.ItemDataRole.UserRole + 2
BadgesRole = Qt.ItemDataRole.UserRole + 3  # tag_stats_service.Badges: the cell overlays (tag count, caption...)

Index = QModelIndex | QPersistentModelIndex


# Qt reads 8 hex digits as #AARRGGBB and has no #RGBA form ("#8884" was invalid: an opaque black square).
LOADING_COLOUR = "#44888888"  # a faint grey tile while the thumbnail is read
MISSING_COLOUR = "#66cc4444"  # a faint red tile: the file is gone


def _placeholder(size: int, colour: str) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    inset = max(2, size // 12)
    painter.drawRoundedRect(inset, inset, size - 2 * inset, size - 2 * inset, 6, 6)
    painter.end()
    return pixmap


class ImageListModel(QAbstractListModel):
    """IDs of the images the current filter shows; rows and thumbnails fetched lazily."""

    page_loaded = Signal(int)  # page number whose rows arrived (tests and the benchmark wait on it)

    def __init__(self, jobs: JobManager, thumbnails: ThumbnailLoader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.thumbnails = thumbnails
        self.query: ImageQueryService | None = None
        self.project_root: Path | None = None
        self._thumb_path: Callable[[str], Path] | None = None
        self._index = IdIndex()
        self._rows: dict[int, ImageRow] = {}
        self._badges: dict[int, Badges] = {}
        self._pages: OrderedDict[int, list[int]] = OrderedDict()
        self._pending_pages: set[int] = set()
        self._rows_by_hash: dict[str, set[int]] = {}
        self._generation = 0  # bumped on reset: late page results of an older list are dropped
        self._placeholder = _placeholder(thumbnails.size, LOADING_COLOUR)
        self._missing = _placeholder(thumbnails.size, MISSING_COLOUR)
        thumbnails.loaded.connect(self._thumbnails_ready)
        thumbnails.failed.connect(lambda h, _e: self._thumbnails_ready([h]))

    # --- contents -----------------------------------------------------------------------------------------

    def set_source(self, query: ImageQueryService | None, thumb_path: Callable[[str], Path] | None) -> None:
        """Bind to a project's query service and thumbnail path function (None: no project)."""
        self.query = query
        self._thumb_path = thumb_path
        self.thumbnails.clear()
        self.set_ids([])

    @property
    def _ids(self) -> array[int]:
        return self._index.ids

    def set_ids(self, ids: Sequence[int] | IdIndex) -> None:
        """Show exactly these images (a query result), in this order. Pass an `IdIndex` built on the worker
        that ran the query: at 1M images building it here would block the GUI thread (the sort of a non-import
        order takes ~100 ms)."""
        index = ids if isinstance(ids, IdIndex) else IdIndex(ids)
        self.beginResetModel()
        self._generation += 1
        self._index = index
        self._rows.clear()
        self._badges.clear()
        self._pages.clear()
        self._pending_pages.clear()
        self._rows_by_hash.clear()
        self.endResetModel()

    def show_first_page(self, ids: Sequence[int], rows: list[ImageRow], badges: dict[int, Badges]) -> None:
        """Show the first page of a new result with its rows already read (the worker read them with the
        page): painted at once, no second round trip. `extend_to` adds the rest of the list when it arrives."""
        self.set_ids(ids)
        self._page_ready(self._generation, 0, rows, badges)

    def extend_to(self, index: IdIndex) -> bool:
        """The whole result arrived and begins with what is shown (the first page): append the rest as new
        rows, so the scroll position, the selection and the cached rows stay. False (nothing changed) when it
        does not begin with the shown list: replace it with `set_ids` then."""
        shown = len(self._ids)
        if not index.starts_with(self._ids):
            return False
        if len(index) == shown:
            self._index = index
            return True
        self.beginInsertRows(QModelIndex(), shown, len(index) - 1)
        self._index = index
        self._pages.pop(shown // PAGE_SIZE, None)  # a partial last page is fetched again when shown
        self.endInsertRows()
        return True

    def append_ids(self, ids: Sequence[int]) -> None:
        """Add images at the end (an import batch) without disturbing the selection or scroll position."""
        first = len(self._ids)
        new = [i for i in dict.fromkeys(ids) if self._index.row(i) is None]
        if not new:
            return
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        self._index.append(new)
        # The last page may have been fetched before it was full: fetch it again when shown.
        page = first // PAGE_SIZE
        self._pages.pop(page, None)
        self.endInsertRows()

    def refresh_rows(self, ids: Collection[int]) -> None:
        """Forget cached snapshots of `ids` (they were edited) so the view fetches them again.

        Runs on the GUI thread after every write. Only cached rows matter (the others are fetched fresh when
        shown), and the cache holds at most MAX_PAGES pages, so an edit of 65k images walks the cache, not the
        65k ids (that walk cost ~100 ms of GUI time after a project-wide rename)."""
        changed = ids if isinstance(ids, set | frozenset) else set(ids)
        if not changed:
            return
        rows: list[int] = []
        if len(changed) <= len(self._rows):
            stale = [i for i in changed if i in self._rows or i in self._badges]
        else:
            stale = [i for i in self._rows.keys() | self._badges.keys() if i in changed]
        for image_id in stale:
            self._rows.pop(image_id, None)
            self._badges.pop(image_id, None)
            row = self._index.row(image_id)
            if row is not None:
                rows.append(row)
        for page, page_ids in list(self._pages.items()):
            if not changed.isdisjoint(page_ids):
                del self._pages[page]
                rows += (page * PAGE_SIZE, page * PAGE_SIZE + len(page_ids) - 1)
        if rows:  # one signal for the span: an edit over 100k images must not send 100k of them
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)))

    def ids(self) -> list[int]:
        return self._ids.tolist()

    def id_array(self) -> array[int]:
        """The shown IDs in order, without a copy (do not modify it)."""
        return self._ids

    def id_index(self) -> IdIndex:
        """The shown IDs with their row lookup, without a copy (do not modify it)."""
        return self._index

    def image_id(self, row: int) -> int:
        return self._ids[row]

    def row_of(self, image_id: int) -> int | None:
        return self._index.row(image_id)

    def cached_row(self, image_id: int) -> ImageRow | None:
        return self._rows.get(image_id)

    def set_icon_size(self, size: int) -> None:
        self.thumbnails.set_size(size)
        self._placeholder = _placeholder(size, LOADING_COLOUR)
        self._missing = _placeholder(size, MISSING_COLOUR)
        if self._ids:
            self.dataChanged.emit(self.index(0), self.index(len(self._ids) - 1))

    # --- Qt model -------------------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._ids):
            return None
        image_id = self._ids[index.row()]
        if role == ImageIdRole:
            return image_id
        row = self._rows.get(image_id)
        if row is None:
            self._request_page(index.row() // PAGE_SIZE)
            return self._placeholder if role == Qt.ItemDataRole.DecorationRole else None
        if role == Qt.ItemDataRole.DecorationRole:
            pixmap = self.thumbnails.get(row.hash_value)
            if pixmap is not None:
                return pixmap
            if self.thumbnails.is_missing(row.hash_value):
                return self._missing
            if self._thumb_path is not None:
                self.thumbnails.request(row.hash_value, self._thumb_path)
            return self._placeholder
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.file_name}\n{row.width} x {row.height} px, {row.format}, #{row.id}" + (
                "\nexcluded from export" if row.excluded else ""
            )
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return row.file_name
        if role == ImageRowRole:
            return row
        if role == BadgesRole:
            return self._badges.get(image_id)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # --- paging -------------------------------------------------------------------------------------------

    def _request_page(self, page: int) -> None:
        if page in self._pending_pages or self.query is None:
            return
        self._pending_pages.add(page)
        ids = self._ids[page * PAGE_SIZE : (page + 1) * PAGE_SIZE].tolist()
        query, generation = self.query, self._generation

        def work(_ctx: object) -> tuple[list[ImageRow], dict[int, Badges]]:
            return query.fetch_rows(ids, details=False), grid_badges(query.db, ids)

        self.jobs.submit(
            "Load image rows",
            work,
            on_result=lambda result: self._page_ready(generation, page, *result),
            pool="grid",  # never behind the side panels' counts
            visible=False,
        )

    def _page_ready(
        self, generation: int, page: int, rows: list[ImageRow], badges: dict[int, Badges] | None = None
    ) -> None:
        if generation != self._generation:
            return
        self._badges.update(badges or {})
        self._pending_pages.discard(page)
        self._pages[page] = [row.id for row in rows]
        self._pages.move_to_end(page)
        for row in rows:
            self._rows[row.id] = row
            self._rows_by_hash.setdefault(row.hash_value, set()).add(row.id)
        while len(self._pages) > MAX_PAGES:
            _old, old_ids = self._pages.popitem(last=False)
            for image_id in old_ids:
                self._badges.pop(image_id, None)
                gone = self._rows.pop(image_id, None)
                if gone is not None:
                    self._rows_by_hash.get(gone.hash_value, set()).discard(image_id)
        first = page * PAGE_SIZE
        last = min(len(self._ids), first + PAGE_SIZE) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first), self.index(last))
        self.page_loaded.emit(page)

    def _thumbnails_ready(self, hashes: list[str]) -> None:
        """One dataChanged over the rows showing these thumbnails (they are near each other: one screen)."""
        rows = [
            row
            for hash_value in hashes
            for image_id in self._rows_by_hash.get(hash_value, ())
            if (row := self._index.row(image_id)) is not None
        ]
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)), [Qt.ItemDataRole.DecorationRole])

    def icon_size(self) -> QSize:
        return QSize(self.thumbnails.size, self.thumbnails.size)
