"""The dataset tags panel: every tag of the project (or of the current filter) with its count and category.

Counts come from one aggregated SQL query (`TagStatsService.project_tags`) on a worker; the panel reloads when
a write's `Changes` says tags changed (`session.changed`), when a project opens and, in "current filter"
scope, when the grid's filter changes. Click filters the grid by a tag, Ctrl+click adds it to the filter;
the context menu renames, merges or deletes a tag across the whole project (one undoable edit, run by the
details panel so it shares the Edit menu's history; the number of images affected is asked first).
GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.details.tag_chips import category_color
from lorairo.services.changes import Changes
from lorairo.services.image_query_service import ImageFilter
from lorairo.services.tag_stats_service import ProjectTag, TagStatsService

COLUMN_TAG, COLUMN_COUNT, COLUMN_CATEGORY = 0, 1, 2
RELOAD_DELAY_MS = 300  # a burst of edits (an annotation run's batches) reloads once

Index = QModelIndex | QPersistentModelIndex


MIN_TABLE_WIDTH = 220  # room for a tag name beside its count and category
COUNT_PADDING = 10  # each side of the count column's text (cell margins and the header's sort arrow)


class TagCountModel(QAbstractTableModel):
    """Rows of `ProjectTag`: tag (with its category colour), number of images, category."""

    HEADERS = ("Tag", "Images", "Category")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tags: list[ProjectTag] = []
        self._sort_column, self._descending = COLUMN_COUNT, True

    def set_tags(self, tags: list[ProjectTag]) -> None:
        self.beginResetModel()
        self.tags = sorted(tags, key=self._key(self._sort_column), reverse=self._reverse())
        self.endResetModel()

    @staticmethod
    def _key(column: int) -> Callable[[ProjectTag], Any]:
        if column == COLUMN_COUNT:  # most used first when descending; equal counts by name either way
            return lambda t: (-t.count, t.tag.lower())
        if column == COLUMN_CATEGORY:
            return lambda t: (t.category or "~", t.tag.lower())
        return lambda t: t.tag.lower()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort_column, self._descending = column, order == Qt.SortOrder.DescendingOrder
        self.layoutAboutToBeChanged.emit()
        self.tags.sort(key=self._key(column), reverse=self._reverse())
        self.layoutChanged.emit()

    def _reverse(self) -> bool:
        return not self._descending if self._sort_column == COLUMN_COUNT else self._descending

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.tags)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else 3

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.tags[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (item.tag, f"{item.count:,}", item.category or "—")[column]
        if role == Qt.ItemDataRole.ForegroundRole and column in (COLUMN_TAG, COLUMN_CATEGORY):
            return category_color(item.category)
        if role == Qt.ItemDataRole.DecorationRole and column == COLUMN_TAG:
            return QColor(category_color(item.category))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == COLUMN_COUNT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{item.tag}: {item.count:,} images ({item.category or 'no category'})"
        return None


class _Proxy(QSortFilterProxyModel):
    """Search over the source; sorting is the source's own (one Python list.sort, not a Python comparison per
    pair: thousands of tags sorted through lessThan stalled the GUI thread ~0.7 s)."""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        source = self.sourceModel()
        if source is not None:
            source.sort(column, order)


class TagsPanel(QWidget):
    """The dock's content. `filter_requested(ImageFilter)`: the grid should show this filter."""

    filter_requested = Signal(object)
    loaded = Signal(int)  # number of tags shown after a reload (tests and the benchmark wait on it)

    SORTS = (("Count", COLUMN_COUNT, Qt.SortOrder.DescendingOrder), ("Name", COLUMN_TAG, Qt.SortOrder.AscendingOrder),
             ("Category", COLUMN_CATEGORY, Qt.SortOrder.AscendingOrder))  # fmt: skip

    def __init__(
        self,
        session: ProjectSession,
        current_filter: Callable[[], ImageFilter],
        *,
        rename: Callable[[str, str], None],
        delete: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("tags_panel")
        self.session = session
        self.current_filter = current_filter
        self._rename = rename
        self._delete = delete
        self._generation = 0
        self.model = TagCountModel(self)
        self.proxy = _Proxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(COLUMN_TAG)

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search tags")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._search)
        self.search.setMinimumWidth(60)
        self.sort = QComboBox(self)
        for name, _column, _order in self.SORTS:
            self.sort.addItem(name)
        self.sort.setToolTip("Sort by")
        self.sort.currentIndexChanged.connect(self._sort)
        self.scope = QCheckBox("Current filter only", self)
        self.scope.setToolTip("Count only the images the grid's filter shows")
        self.scope.toggled.connect(lambda _on: self.reload())
        self.summary = QLabel(self)
        self.summary.setStyleSheet("color: palette(placeholder-text);")
        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setShowGrid(False)
        self.table.setSortingEnabled(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COLUMN_TAG, QHeaderView.ResizeMode.Stretch)
        # Sized from the largest count when tags arrive (`_fit_count_column`), not ResizeToContents: that asked the
        # model for ~32k data() values over 3,000 tags on every reset (0.35 s idle, 0.86 s with busy workers
        # at 1M images: the opening stall of docs/benchmarks.md, "Desktop app at 1,000,000 images").
        header.setSectionResizeMode(COLUMN_COUNT, QHeaderView.ResizeMode.Interactive)
        # The category is also the name's colour: its column is narrow and may be cut, the name never is
        # (in a narrow dock at 1024 px the stretched name column used to get no room at all).
        header.setSectionResizeMode(COLUMN_CATEGORY, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(COLUMN_CATEGORY, 64)
        self.table.setMinimumWidth(MIN_TABLE_WIDTH)
        self.table.clicked.connect(self._clicked)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)

        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.sort)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        row = QHBoxLayout()
        row.addWidget(self.scope)
        row.addStretch(1)
        row.addWidget(self.summary)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        self._sort(0)

        self._timer = QTimer(self, singleShot=True, interval=RELOAD_DELAY_MS)
        self._timer.timeout.connect(self.reload)
        session.changed.connect(self._session_changed)
        # Counted once the grid has the new project's first result: at 1M images the count started with the grid's
        # id list competed with it for the GIL and the two cores (docs/benchmarks.md, GUI stalls at 1M).
        session.project_changed.connect(self._project_changed)
        session.project_settled.connect(lambda _p: self.reload())
        self.reload()

    def sizeHint(self) -> QSize:
        return QSize(300, 480)  # room for a tag name, its count and category side by side

    # --- loading ---------------------------------------------------------------------------------------

    def _project_changed(self, _project: object) -> None:
        """The last project's tags go at once (a click on one would filter the new project by it)."""
        self._generation += 1
        self.model.set_tags([])
        self.summary.setText("")

    def _enable(self, on: bool) -> None:
        for widget in (self.search, self.sort, self.scope, self.table):
            widget.setEnabled(on)

    def _session_changed(self, changes: Changes) -> None:
        if changes.tags or changes.added or changes.removed:
            self._timer.start()

    def filter_changed(self) -> None:
        """The grid's filter changed: counts in 'current filter' scope are stale."""
        if self.scope.isChecked():
            self._timer.start()

    def reload(self) -> None:
        """Count every tag on a worker; a stale answer (another reload since) is dropped."""
        project = self.session.project
        self._generation += 1
        generation = self._generation
        self._enable(project is not None)
        if project is None:
            self.model.set_tags([])
            self.summary.setText("Open a project first")  # as the details panel says: nothing to search yet
            return
        image_filter = self.current_filter() if self.scope.isChecked() else None
        stats = TagStatsService(project.db, self.session.query)  # the configured quality thresholds

        def done(tags: list[ProjectTag]) -> None:
            if generation == self._generation:
                self._show(tags)

        self.session.jobs.submit(
            "Count tags", lambda _ctx: stats.project_tags(image_filter), on_result=done, visible=False
        )

    def _show(self, tags: list[ProjectTag]) -> None:
        self.model.set_tags(tags)
        self._fit_count_column(max((t.count for t in tags), default=0))
        self._update_summary()
        self.loaded.emit(len(tags))

    def _fit_count_column(self, largest: int) -> None:
        """Room for the widest count (the largest number is the widest text) and the header's title."""
        header = self.table.horizontalHeader()
        cell = self.table.fontMetrics().horizontalAdvance(f"{largest:,}") + 2 * COUNT_PADDING
        header.resizeSection(COLUMN_COUNT, max(cell, header.sectionSizeHint(COLUMN_COUNT)))

    def _update_summary(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        noun = "tag" if total == 1 else "tags"
        self.summary.setText(f"{total:,} {noun}" if shown == total else f"{shown:,} of {total:,} {noun}")

    def _search(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip().replace("_", " "))
        self._update_summary()

    def _sort(self, which: int) -> None:
        _name, column, order = self.SORTS[which]
        self.table.sortByColumn(column, order)

    def counts(self) -> dict[str, int]:
        return {item.tag: item.count for item in self.model.tags}

    def visible_tags(self) -> list[str]:
        """Tags in the order shown (after search and sort)."""
        return [str(self.proxy.index(row, COLUMN_TAG).data()) for row in range(self.proxy.rowCount())]

    # --- filtering the grid ----------------------------------------------------------------------------

    def _clicked(self, index: QModelIndex) -> None:
        add = bool(QApplication.keyboardModifiers() & Qt.KeyboardModifier.ControlModifier)
        self.filter_by(str(self.proxy.index(index.row(), COLUMN_TAG).data()), add=add)

    def filter_by(self, tag: str, *, add: bool = False) -> ImageFilter:
        """Show the images with `tag` (`add`: also keep the current filter's conditions)."""
        if add:
            current = self.current_filter()
            tags = current.tags_all if tag in current.tags_all else (*current.tags_all, tag)
            image_filter = current.with_changes(tags_all=tags)
        else:
            image_filter = ImageFilter(tags_all=(tag,))
        self.filter_requested.emit(image_filter)
        return image_filter

    # --- project-wide edits ----------------------------------------------------------------------------

    def _context_menu(self, point: QPoint) -> None:
        index = self.table.indexAt(point)
        if not index.isValid():
            return
        tag = str(self.proxy.index(index.row(), COLUMN_TAG).data())
        menu = QMenu(self)
        menu.addAction("Show images with this tag", lambda: self.filter_by(tag))
        menu.addAction("Add to the filter", lambda: self.filter_by(tag, add=True))
        menu.addSeparator()
        menu.addAction(f"Rename '{tag}' in every image…", lambda: self.ask_rename(tag))
        menu.addAction(f"Merge '{tag}' into another tag…", lambda: self.ask_rename(tag, merge=True))
        menu.addAction(f"Delete '{tag}' from every image…", lambda: self.ask_delete(tag))
        menu.popup(self.table.viewport().mapToGlobal(point))

    def ask_text(self, title: str, label: str, text: str) -> str | None:
        """Ask for a tag name (a method so tests can answer without a modal dialog)."""
        value, ok = QInputDialog.getText(self, title, label, QLineEdit.EchoMode.Normal, text)
        return value.strip() if ok and value.strip() else None

    def confirm(self, title: str, text: str) -> bool:
        """Ask before a project-wide edit (a method so tests can answer without a modal dialog)."""
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def ask_rename(self, tag: str, *, merge: bool = False) -> None:
        """Rename `tag` in every image; a name that exists already merges the two (the counts are shown)."""
        title = "Merge tag" if merge else "Rename tag"
        new = self.ask_text(title, f"{'Merge' if merge else 'Rename'} '{tag}' into:", "" if merge else tag)
        if new is None or new == tag:
            return
        project = self.session.project
        if project is None:
            return
        stats = TagStatsService(project.db)

        def counted(found: tuple[int, int]) -> None:
            having, existing = found
            if existing:
                text = (
                    f"'{new}' already exists on {existing:,} images: '{tag}' ({having:,} images) will be merged "
                    f"into it. Images with both keep one '{new}'. Undo with Ctrl+Z."
                )
            else:
                text = f"Rename '{tag}' to '{new}' on {having:,} images? Undo with Ctrl+Z."
            if self.confirm(title, text):
                self._rename(tag, new)

        self.session.jobs.submit(
            "Count images with a tag",
            lambda _ctx: (_count(stats, tag), _count(stats, new)),
            on_result=counted,
            visible=False,
        )

    def ask_delete(self, tag: str) -> None:
        project = self.session.project
        if project is None:
            return
        stats = TagStatsService(project.db)

        def counted(having: int) -> None:
            text = f"Delete '{tag}' from {having:,} images? Undo with Ctrl+Z."
            if self.confirm("Delete tag", text):
                self._delete(tag)

        self.session.jobs.submit(
            "Count images with a tag", lambda _ctx: _count(stats, tag), on_result=counted, visible=False
        )


def _count(stats: TagStatsService, tag: str) -> int:
    """Images of the project carrying `tag` (case-insensitive, like the rename itself)."""
    return stats.images_with_tag_count(tag)
