"""The review loop's wiring: viewer page, keyboard path between grid, viewer and tag field, and its menus.

`ReviewController` is built once by the main window after the browser and the details panel exist. It owns
the viewer (a page of the window's central stack, next to the grid), filters keys on the grid and on the
tag fields, and moves the grid's selection (which the details panel follows). Every shortcut it handles is
listed in `SHORTCUTS` (Help > Keyboard shortcuts and docs/shortcuts.md show the same table).
GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, QPoint, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QHeaderView,
    QLabel,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from lorairo.gui.models.image_list_model import ImageIdRole
from lorairo.gui.widgets.auto_mask_action import AutoMaskAction
from lorairo.gui.widgets.region_editor import RegionEditor
from lorairo.gui.widgets.tags_panel import TagsPanel
from lorairo.gui.widgets.viewer import ImageViewer
from lorairo.services.export.data import resolve_image_path
from lorairo.services.filter_language import ImageFilter
from lorairo.services.tag_stats_service import SORTS

if TYPE_CHECKING:
    from lorairo.gui.main_window import MainWindow
    from lorairo.gui.widgets.details.panel import DetailsPanel
    from lorairo.gui.widgets.image_browser import ImageBrowser

#: (where, keys, what it does): the one list shown in Help > Keyboard shortcuts and docs/shortcuts.md.
SHORTCUTS: tuple[tuple[str, str, str], ...] = (
    ("Grid", "Arrow keys, Page Up/Down, Home, End", "Move the current image"),
    ("Grid", "Shift+arrows, Ctrl+click, Ctrl+A", "Extend / toggle / select all"),
    ("Grid", "Enter or F2", "Put the cursor in the tag field of the details panel"),
    ("Grid", "Space or double-click", "Open the current image in the viewer"),
    ("Grid", "C", "Compare the two selected images side by side"),
    ("Grid", "S", "Find similar images: the current image's nearest, ranked (filter similar:#ID)"),
    ("Window", "Alt+Left", "Back to the filter shown before Find similar"),
    ("Grid", "Delete", "Exclude the selection from export (again: include it); undo with Ctrl+Z"),
    ("Tag field", "Enter", "Add the typed tags (comma-separated) and stay in the field"),
    ("Tag field", "Ctrl+Enter or Alt+Down", "Save and go to the next image, cursor stays in the tag field"),
    ("Tag field", "Alt+Up", "Save and go to the previous image"),
    ("Tag field", "Escape", "Back to the viewer if it is open, else to the grid"),
    ("Viewer", "Right / Left (Page Down / Up)", "Next / previous image"),
    ("Viewer", "F, 1, + / -, wheel, drag", "Fit, 100%, zoom (around the cursor with the wheel), pan"),
    ("Viewer", "Enter or F2", "Put the cursor in the tag field"),
    ("Viewer", "Escape", "Back to the grid"),
    ("Viewer", "V / M / C", "View, Mask and Crop tools"),
    ("Viewer", "Mask: wheel or [ / ], right button, middle button", "Brush size, erase, pan (Ctrl+wheel zooms)"),
    ("Viewer", "Crop: drag, handles, Shift", "Draw, move or resize the crop; Shift draws without bucket snapping"),
    ("Window", "Ctrl+Z / Ctrl+Shift+Z", "Undo / redo the last edit"),
    ("Window", "Ctrl+F", "Filter by tags"),
    ("Window", "Ctrl+Shift+F", "Clear the filter"),
    ("Window", "Ctrl+I / Ctrl+E", "Import a folder / export the dataset"),
    ("Window", "Ctrl++ / Ctrl+-", "Larger / smaller thumbnails"),
    ("Window", "Ctrl+Shift+S", "Show / hide the Statistics view"),
    ("Window", "F1", "This list of shortcuts"),
)

_ENTER = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
WIDE_SCREEN = 1400  # narrower: the tags dock is a tab beside the details panel (a left column would not fit)


class ShortcutsDialog(QDialog):
    """Help > Keyboard shortcuts: the `SHORTCUTS` table."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.table = QTableWidget(len(SHORTCUTS), 3, self)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "Does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, cells in enumerate(SHORTCUTS):
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(760, 520)


class ReviewController(QObject):
    """Viewer + keyboard path for one main window (built after its browser and details panel)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.browser: ImageBrowser = window.ensure_browser()
        self.viewer = ImageViewer(window.jobs, self._lookup, window.stack)
        window.stack.addWidget(self.viewer)
        self.viewer.navigate_requested.connect(self.move)
        self.viewer.close_requested.connect(self.show_grid)
        self.viewer.edit_requested.connect(self.focus_tags)
        grid_view = self.browser.grid.view
        grid_view.installEventFilter(self)
        grid_view.doubleClicked.connect(lambda index: self.open_viewer(int(index.data(ImageIdRole))))
        self._filtered: list[QObject] = []
        self._popups: list[QObject] = []
        self._compare_connected = False
        self.auto_mask = AutoMaskAction(
            window, window.session, window.jobs, lambda text: window.status.showMessage(text, 8000)
        )
        self.attach_panel()
        self._build_actions()
        self._build_tags_dock()
        self._build_grid_extras()
        self._build_statistics_dock()
        self.regions = RegionEditor(
            self.viewer,
            window.session,
            window.jobs,
            lambda: self.details.undo_stack if self.details is not None else None,
            lambda text: window.status.showMessage(text, 8000),
        )
        window.session.project_changed.connect(self._project_changed)
        self._project_changed(window.session.project)

    def _project_changed(self, project: object) -> None:
        """A project opened: the grid takes the keyboard (the keyboard path starts there, see SHORTCUTS)."""
        self._viewer_shown(False)  # the window shows the grid or the welcome page now
        self.viewer.cache.clear()
        if project is not None:
            QTimer.singleShot(0, lambda: self.show_grid() if self.window.session.project is not None else None)

    # --- wiring ----------------------------------------------------------------------------------------

    @property
    def details(self) -> DetailsPanel | None:
        panel = self.window.panels.get("DetailsPanel")
        return panel  # type: ignore[return-value]

    def attach_panel(self) -> None:
        """Filter keys on the details panel's tag fields (call again if the panel is created later)."""
        panel = self.details
        if panel is None:
            return
        if not self._compare_connected:
            panel.compare_requested.connect(self.compare)
            self._compare_connected = True
        for field in (panel.tag_input, panel.batch.add_input):
            if field not in self._filtered:
                field.installEventFilter(self)
                self._filtered.append(field)
            # While suggestions are open the popup gets the keys (and hands them to the field past any filter).
            popup = field.completer_.popup()
            if popup is not None and popup not in self._popups:
                popup.installEventFilter(self)
                self._popups.append(popup)

    def _build_actions(self) -> None:
        window = self.window
        self.shortcuts_action = QAction("&Keyboard shortcuts", window)
        self.shortcuts_action.setShortcut(QKeySequence("F1"))
        self.shortcuts_action.triggered.connect(self.show_shortcuts)
        window.addAction(self.shortcuts_action)
        window.help_menu.insertAction(window.help_menu.actions()[0], self.shortcuts_action)
        self.viewer_action = QAction("Open in &viewer", window)
        self.viewer_action.triggered.connect(self.open_current)
        self.compare_action = QAction("&Compare two selected images", window)
        self.compare_action.triggered.connect(self.compare_selection)
        self.similar_action = QAction("Find &similar images", window)
        self.similar_action.setToolTip("The images most like the current one, ranked by their embeddings")
        self.similar_action.triggered.connect(self.find_similar)
        window.view_menu.addSeparator()
        window.view_menu.addActions([self.viewer_action, self.compare_action, self.similar_action])

    def _build_tags_dock(self) -> None:
        """The dataset tags panel, docked left; its project-wide edits run through the details panel (one undo
        history, one broadcast)."""
        window = self.window

        def rename(old: str, new: str) -> None:
            if self.details is not None:
                self.details.rename_everywhere(old, new)

        def delete(tag: str) -> None:
            if self.details is not None:
                self.details.delete_everywhere(tag)

        self.tags_panel = TagsPanel(
            window.session, lambda: self.browser.filter, rename=rename, delete=delete, parent=window
        )
        self.tags_panel.filter_requested.connect(self.browser.filter_bar.set_filter)
        self.browser.query_finished.connect(lambda _count: self.tags_panel.filter_changed())
        self.tags_dock = QDockWidget("Dataset tags", window)
        self.tags_dock.setObjectName("tags_dock")  # saveState / restoreState key
        self.tags_dock.setWidget(self.tags_panel)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.tags_dock)
        if not self._restore_dock(self.tags_dock):
            self.tags_dock.show()  # first time: shown; on a laptop screen as a tab beside the details
            screen = window.screen()
            details = window.panel_docks.get("DetailsPanel")
            if details is not None and screen is not None and screen.availableGeometry().width() < WIDE_SCREEN:
                window.tabifyDockWidget(details, self.tags_dock)
                QTimer.singleShot(0, details.raise_)  # the details stay the tab in front
        window.view_menu.addAction(self.tags_dock.toggleViewAction())

    def _build_statistics_dock(self) -> None:
        """View > Statistics: plots for the project or the current filter, tabbed with the log (hidden at first).
        pyqtgraph is imported when the dock is built, after the window is shown."""
        from lorairo.gui.widgets.statistics import StatisticsView

        window = self.window
        self.statistics = StatisticsView(window.session, lambda: self.browser.filter, window)
        self.statistics.tag_clicked.connect(lambda tag: self.tags_panel.filter_by(tag))
        self.browser.query_finished.connect(lambda _count: self.statistics.filter_changed())
        self.statistics_dock = QDockWidget("Statistics", window)
        self.statistics_dock.setObjectName("statistics_dock")
        self.statistics_dock.setWidget(self.statistics)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.statistics_dock)
        if not self._restore_dock(self.statistics_dock):
            # First time: a tab beside the log (side by side, the plots got half a 1024 px window), hidden until
            # asked for from the View menu.
            log_dock = getattr(window, "log_dock", None)
            if log_dock is not None:
                window.tabifyDockWidget(log_dock, self.statistics_dock)
            self.statistics_dock.hide()
        self.statistics_dock.visibilityChanged.connect(self._statistics_shown)
        action = self.statistics_dock.toggleViewAction()
        action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        window.addAction(action)
        window.view_menu.addAction(action)

    def _restore_dock(self, dock: QDockWidget) -> bool:
        """Put a dock built after the window's restoreState() where the last session left it (shown or hidden).
        False the first time (Qt's restoreDockWidget says True even without a saved place, and hides it)."""
        settings = QSettings()
        key = f"docks/{dock.objectName()}_known"
        known = settings.value(key) is not None and settings.value("window/state") is not None
        settings.setValue(key, "1")
        return known and self.window.restoreDockWidget(dock)

    def _statistics_shown(self, visible: bool) -> None:
        if visible:
            self.statistics_dock.raise_()  # the tab in front of the log when asked for
        if visible and self.statistics_dock.height() < 260 and not self.statistics_dock.isFloating():
            self.window.resizeDocks([self.statistics_dock], [320], Qt.Orientation.Vertical)

    def _build_grid_extras(self) -> None:
        """Sort order (remembered), cell overlays (can be turned off) and the grid's context menu."""
        settings = QSettings()
        self.sort_combo = QComboBox(self.browser.grid)
        self.sort_combo.setToolTip("Order of the grid")
        for key, (label, _sql) in SORTS.items():
            self.sort_combo.addItem(label, key)
        saved = str(settings.value("grid/sort", "import"))
        self.sort_combo.setCurrentIndex(max(0, self.sort_combo.findData(saved)))
        self.sort_combo.currentIndexChanged.connect(self._sort_chosen)
        footer = self.browser.grid.footer
        footer.insertWidget(0, QLabel("Sort", self.browser.grid))
        footer.insertWidget(1, self.sort_combo)
        self.browser.sort = str(self.sort_combo.currentData())
        if self.browser.sort != "import" and self.window.session.project is not None:
            self.browser.run_query()
        self.browser.filter_bar.filter_changed.connect(self._sort_applies)

        self.overlays_action = QAction("Cell &overlays (tag count, caption, failures)", self.window)
        self.overlays_action.setCheckable(True)
        self.overlays_action.setChecked(str(settings.value("grid/overlays", "true")) == "true")
        self.overlays_action.toggled.connect(self.set_overlays)
        self.set_overlays(self.overlays_action.isChecked())
        self.window.view_menu.addAction(self.overlays_action)

        view = self.browser.grid.view
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._grid_menu)

    def _sort_applies(self, image_filter: ImageFilter) -> None:
        """A similar: filter orders the grid itself (most similar first): the Sort box says so and waits."""
        ranked = image_filter.similar is not None
        self.sort_combo.setEnabled(not ranked)
        self.sort_combo.setToolTip("similar: shows the most similar first" if ranked else "Order of the grid")

    def _sort_chosen(self, _index: int) -> None:
        key = str(self.sort_combo.currentData())
        QSettings().setValue("grid/sort", key)
        self.browser.set_sort(key)

    def set_overlays(self, shown: bool) -> None:
        delegate = self.browser.grid.view.itemDelegate()
        if delegate is not None:
            delegate.show_overlays = shown  # type: ignore[attr-defined]
        QSettings().setValue("grid/overlays", "true" if shown else "false")
        self.browser.grid.view.viewport().update()

    def grid_menu(self) -> QMenu:
        """The grid's context menu for the current selection (built fresh: its entries depend on it)."""
        ids = self.browser.selected_ids()
        menu = QMenu(self.browser.grid.view)
        count = f" ({len(ids)} images)" if len(ids) > 1 else ""
        menu.addAction("Open in viewer\tSpace", self.open_current).setEnabled(bool(ids))
        compare = menu.addAction("Compare side by side\tC", self.compare_selection)
        compare.setEnabled(len(ids) == 2)
        menu.addAction("Find similar images\tS", self.find_similar).setEnabled(bool(ids))
        menu.addSeparator()
        menu.addAction(f"Exclude from export{count}\tDelete", lambda: self._set_excluded(ids, True)).setEnabled(
            bool(ids)
        )
        menu.addAction(f"Include in export{count}", lambda: self._set_excluded(ids, False)).setEnabled(bool(ids))
        menu.addSeparator()
        menu.addAction("Copy path" + ("s" if len(ids) > 1 else ""), lambda: self.copy_paths(ids)).setEnabled(bool(ids))
        menu.addAction("Show in file manager", lambda: self.show_in_file_manager(ids[:1])).setEnabled(bool(ids))
        menu.addSeparator()
        menu.addAction(f"Annotate selection{count}…", self._annotate).setEnabled(bool(ids))
        menu.addAction(f"Auto mask (background removal){count}…", lambda: self.auto_mask.start(ids)).setEnabled(
            bool(ids)
        )
        menu.addAction(f"Export selection{count}…", self.window.open_export_dialog).setEnabled(bool(ids))
        menu.addSeparator()
        for text, action in self.regions.grid_actions(len(ids)):
            menu.addAction(text, self._region_action(action, ids)).setEnabled(bool(ids))
        return menu

    def _region_action(self, action: str, ids: Sequence[int]) -> Callable[[], None]:
        return lambda: self.regions.run_selection(action, ids)

    def _grid_menu(self, point: QPoint) -> None:
        view = self.browser.grid.view
        index = view.indexAt(point)
        if index.isValid() and not view.selectionModel().isSelected(index):
            view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            self.browser.grid.flush_selection()
        self.grid_menu().popup(view.viewport().mapToGlobal(point))

    def _set_excluded(self, ids: Sequence[int], excluded: bool) -> None:
        if self.details is not None and ids:
            self.details.set_excluded(ids, excluded)

    def _paths(self, ids: Sequence[int], then: Callable[[list[Path]], None]) -> None:
        lookup = self._lookup
        self.window.jobs.submit(
            "Find image files", lambda _ctx: [lookup(i)[0] for i in ids], on_result=then, visible=False
        )

    def copy_paths(self, ids: Sequence[int]) -> None:
        """Copy the files' paths to the clipboard (one a line)."""

        def copy(paths: list[Path]) -> None:
            QGuiApplication.clipboard().setText("\n".join(str(p) for p in paths))
            self.window.status.showMessage(f"Copied {len(paths)} path(s).", 4000)

        self._paths(ids, copy)

    def show_in_file_manager(self, ids: Sequence[int]) -> None:
        def show(paths: list[Path]) -> None:
            for path in paths:
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))

        self._paths(ids, show)

    def _annotate(self) -> None:
        dock = self.window.panel_docks.get("AnnotatePanel")
        if dock is not None:
            dock.show()
            dock.raise_()

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _lookup(self, image_id: int) -> tuple[Path, str]:
        """Worker side: the file to decode for `image_id` and its display name."""
        session = self.window.session
        query, project = session.query, session.project
        if query is None or project is None:
            raise RuntimeError("no project is open")
        rows = query.fetch_rows([image_id], details=False)
        if not rows:
            raise RuntimeError(f"image {image_id} is no longer in the project")
        return resolve_image_path(project.root, rows[0].file_path), rows[0].file_name

    # --- actions ---------------------------------------------------------------------------------------

    @property
    def viewer_open(self) -> bool:
        return self.window.stack.currentWidget() is self.viewer

    def current_id(self) -> int | None:
        index = self.browser.grid.view.currentIndex()
        if index.isValid():
            return int(index.data(ImageIdRole))
        selected = self.browser.selected_ids()
        return selected[0] if selected else None

    def open_current(self) -> None:
        image_id = self.current_id()
        if image_id is not None:
            self.open_viewer(image_id)

    def open_viewer(self, image_id: int) -> None:
        """Show the viewer page with `image_id` (the details panel keeps showing the grid's selection)."""
        self.window.stack.setCurrentWidget(self.viewer)
        self._viewer_shown(True)
        self.viewer.show_image(image_id, self._known(image_id))
        self.viewer.setFocus(Qt.FocusReason.OtherFocusReason)
        self._prefetch_neighbours()

    def find_similar(self) -> None:
        """The current image's nearest images, ranked, in the grid (from the viewer too); Back returns."""
        image_id = self.current_id()
        if image_id is None:
            self.window.status.showMessage("Select an image to find images like it.", 6000)
            return
        if self.viewer_open:
            self.show_grid()
        self.browser.find_similar(image_id)

    def compare_selection(self) -> bool:
        """Side by side compare of the first two selected images; False (and a status message) otherwise."""
        ids = self.browser.selected_ids()
        if len(ids) != 2:
            self.window.status.showMessage("Select exactly two images to compare them.", 6000)
            return False
        self.compare(ids[0], ids[1])
        return True

    def _known(self, image_id: int) -> tuple[Path, str] | None:
        """The file of an image whose row the grid already holds (no look-up job needed)."""
        row, project = self.browser.model.cached_row(image_id), self.window.session.project
        if row is None or project is None:
            return None
        return resolve_image_path(project.root, row.file_path), row.file_name

    def _prefetch_neighbours(self, direction: int = 1) -> None:
        """Decode the next images in the direction of travel (and the one behind) while the user looks."""
        view, model = self.browser.grid.view, self.browser.model
        row = view.currentIndex().row()
        if row < 0:
            return
        step = 1 if direction >= 0 else -1
        wanted = [row + step, row + 2 * step, row - step]
        paths = [
            known[0]
            for r in wanted
            if 0 <= r < model.rowCount() and (known := self._known(model.image_id(r))) is not None
        ]
        self.viewer.prefetch(paths)

    def _viewer_shown(self, shown: bool) -> None:
        if self.details is not None:
            self.details.set_preview_enabled(not shown)

    def compare(self, first: int, second: int) -> None:
        """Two images side by side in the window's viewer (the near-duplicate review asks for it too)."""
        self.window.stack.setCurrentWidget(self.viewer)
        self._viewer_shown(True)
        self.viewer.compare(first, second)
        self.window.raise_()
        self.window.activateWindow()
        self.viewer.setFocus(Qt.FocusReason.OtherFocusReason)

    def show_grid(self) -> None:
        self._viewer_shown(False)
        self.window.stack.setCurrentWidget(self.browser)
        self.browser.grid.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def focus_tags(self) -> None:
        panel = self.details
        if panel is None:
            return
        dock = self.window.panel_docks.get("DetailsPanel")
        if dock is not None:
            dock.show()
            dock.raise_()
        view = self.browser.grid.view
        if not self.browser.selected_ids() and view.currentIndex().isValid():
            # The current cell is not always selected (Home on the first cell moves nothing): edit that one.
            view.selectionModel().select(view.currentIndex(), QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.browser.grid.flush_selection()
        panel.focus_tag_input()

    def move(self, delta: int) -> bool:
        """Select the image `delta` places away from the current one; the viewer and details follow.
        Returns False at either end of the grid."""
        view, model = self.browser.grid.view, self.browser.model
        count = model.rowCount()
        if count == 0:
            return False
        current = view.currentIndex()
        row = current.row() + delta if current.isValid() else (0 if delta > 0 else count - 1)
        if not 0 <= row < count:
            self.window.status.showMessage("Last image." if delta > 0 else "First image.", 4000)
            return False
        index = model.index(row)
        view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        view.scrollTo(index)
        self.browser.grid.flush_selection()
        if self.viewer_open:
            image_id = int(index.data(ImageIdRole))
            self.viewer.show_image(image_id, self._known(image_id))
            self._prefetch_neighbours(delta)
        return True

    def toggle_excluded(self) -> None:
        """Delete on the grid: exclude the selection, or include it again when all of it is excluded."""
        panel, ids = self.details, self.browser.selected_ids()
        if panel is None or not ids:
            return
        rows = [self.browser.model.cached_row(i) for i in ids]
        all_excluded = all(row is not None and row.excluded for row in rows)
        panel.set_excluded(ids, not all_excluded)
        what = "Included" if all_excluded else "Excluded"
        self.window.status.showMessage(f"{what} {len(ids)} image(s) {'in' if all_excluded else 'from'} export.", 6000)

    # --- keys ------------------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent):
            return False
        if watched is self.browser.grid.view:
            return self._grid_key(event)
        if watched in self._filtered:
            return self._tag_field_key(event)
        if watched in self._popups and self._moves(event):
            watched.hide()  # type: ignore[attr-defined]
            return self._tag_field_key(event)
        return False

    @staticmethod
    def _moves(event: QKeyEvent) -> bool:
        """Ctrl+Enter, Alt+Down or Alt+Up: the keys that save and go to another image."""
        key, mods = event.key(), event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        ctrl, alt = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier
        return (key in _ENTER and mods == ctrl) or (key in (Qt.Key.Key_Down, Qt.Key.Key_Up) and mods == alt)

    def _grid_key(self, event: QKeyEvent) -> bool:
        key, mods = event.key(), event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods != Qt.KeyboardModifier.NoModifier:
            return False
        if key in (*_ENTER, Qt.Key.Key_F2):
            self.focus_tags()
        elif key == Qt.Key.Key_Space:
            self.open_current()
        elif key == Qt.Key.Key_Delete:
            self.toggle_excluded()
        elif key == Qt.Key.Key_C:
            self.compare_selection()
        elif key == Qt.Key.Key_S:
            self.find_similar()
        else:
            return False
        return True

    def _tag_field_key(self, event: QKeyEvent) -> bool:
        key, mods = event.key(), event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        ctrl, alt = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier
        if (key in _ENTER and mods == ctrl) or (key == Qt.Key.Key_Down and mods == alt):
            self._commit_and_move(1)
        elif key == Qt.Key.Key_Up and mods == alt:
            self._commit_and_move(-1)
        elif key == Qt.Key.Key_Escape and mods == Qt.KeyboardModifier.NoModifier:
            popup = self._completer_popup()
            if popup is not None and popup.isVisible():
                return False  # Escape closes the suggestions first
            if self.viewer_open:
                self.viewer.setFocus(Qt.FocusReason.OtherFocusReason)
            else:
                self.show_grid()
        else:
            return False
        return True

    def _completer_popup(self) -> Any:
        panel = self.details
        completer = getattr(panel.tag_input, "completer_", None) if panel is not None else None
        return completer.popup() if completer is not None else None

    def _commit_and_move(self, delta: int) -> None:
        panel = self.details
        if panel is None:
            return
        panel.commit_pending()
        if self.move(delta):
            panel.focus_tag_input()
