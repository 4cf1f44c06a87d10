"""The main window: composes the panels, owns the menus, docks and window state. No database work here.

Panels: the welcome page or the image browser (filter bar + grid) in the centre, the details panel and the
annotate panel tabbed in the right dock area, the log / errors panel at the bottom. Panels talk through the
`ProjectSession` and their own signals; every job error lands in the errors panel and the status bar.
GUI thread only.
"""

from __future__ import annotations

import importlib
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QStackedWidget,
    QWidget,
)

from lorairo import __version__
from lorairo.exceptions import LoRAIroException
from lorairo.gui.dialogs.project_check import ProjectCheckRunner
from lorairo.gui.error_sink import ErrorSink
from lorairo.gui.import_controller import ImportController
from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.import_panel import ImportSummaryDialog, summary_text
from lorairo.gui.widgets.log_panel import LogBridge, LogPanel
from lorairo.gui.widgets.project_picker import NewProjectDialog, OpenProjectDialog, WelcomePage
from lorairo.gui.widgets.status_bar import MainStatusBar
from lorairo.gui.window_actions import DOCS_URL, build_actions, build_menus
from lorairo.gui.workers import Job, JobError, JobManager
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.importing.summary import REASON_ALREADY_IMPORTED, ImportSummary
from lorairo.storage.names import display_name
from lorairo.storage.sidecars import NOTE_TOO_LARGE, NOTE_UNREADABLE

MAX_REPORTED_IMPORT_FAILURES = 500
LAST_PROJECT_KEY = "session/last_project"  # QSettings: the project open when the window closed ("" = none)

if TYPE_CHECKING:
    from lorairo.gui.dialogs.tag_vocabulary import TagVocabularyDialog
    from lorairo.gui.widgets.image_browser import ImageBrowser

# The side panels, docked right: (module, class, dock title, object name). Imported when they are attached (after
# the warm-up job), not at start: their services pull in SQLAlchemy and Pillow. A panel that fails to import or
# to build is an error in the Errors tab and the log, never a silently missing dock.
DOCK_PANELS = (
    ("lorairo.gui.widgets.details", "DetailsPanel", "Details", "details_dock"),
    ("lorairo.gui.widgets.annotate", "AnnotatePanel", "Annotate", "annotate_dock"),
)


WARM_UP_MODULES = (
    "sqlalchemy.orm",
    "lorairo.services.project_service",
    "lorairo.services.image_query_service",
    "lorairo.services.image_processing_service",
    "lorairo.services.edit_service",
    "lorairo.services.annotation_service",
    "lorairo.services.tag_stats_service",
    "numpy",
    "PIL.Image",
)


def _warm_up() -> None:
    """Worker side: import Qt-free modules the first project open needs (imports are thread-safe)."""
    for name in WARM_UP_MODULES:
        importlib.import_module(name)  # a broken module fails this job: reported like every job failure
    # Configure the ORM mappers now, not in the first query of the first project open: done there by a worker
    # (relationship joins resolved in Python) it competed with the first page for the GIL (1M-image traces).
    from sqlalchemy.orm import configure_mappers

    configure_mappers()


class MainWindow(QMainWindow):
    """LoRAIro's main window."""

    # Actions and menus, made by window_actions.build_actions / build_menus.
    new_action: QAction
    open_action: QAction
    close_action: QAction
    import_action: QAction
    import_files_action: QAction
    export_action: QAction
    settings_action: QAction
    quit_action: QAction
    select_all_action: QAction
    select_none_action: QAction
    find_action: QAction
    clear_filter_action: QAction
    refresh_action: QAction
    zoom_in_action: QAction
    zoom_out_action: QAction
    cancel_import_action: QAction
    about_action: QAction
    check_action: QAction
    docs_action: QAction
    recent_menu: QMenu
    edit_menu: QMenu
    view_menu: QMenu
    help_menu: QMenu

    def __init__(self, config: ConfigurationService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.setWindowTitle("LoRAIro")
        self.setObjectName("main_window")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.jobs = JobManager(self, max_threads=max(2, min(4, config.max_workers())))
        self.session = ProjectSession(config, self.jobs, self)
        self.imports = ImportController(self.session, self)
        self.checks = ProjectCheckRunner(self.session, self.jobs, self)
        self.tag_vocabulary_dialog: TagVocabularyDialog | None = None  # Tools > Tag vocabulary…, built on first use

        self.welcome = WelcomePage(lambda: self.session.projects, self.jobs, self)
        # The browser (filter bar, grid, SQL) is built when the first project opens: start-up stays fast.
        self.browser: ImageBrowser | None = None
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.welcome)
        self.setCentralWidget(self.stack)
        self.status = MainStatusBar(self)
        self.setStatusBar(self.status)
        self.log_panel = LogPanel(self)
        self.log_dock = self._dock("Log and errors", "log_dock", self.log_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.panels: dict[str, QWidget] = {}
        self.panel_docks: dict[str, QDockWidget] = {}
        self.log_bridge = LogBridge(self)
        self.log_bridge.record.connect(self.log_panel.append_log)
        self.log_bridge.install(str(config.get("log.level")))
        self.error_sink = ErrorSink(self)
        self.error_sink.error.connect(self._unexpected_error)
        self.error_sink.install()
        self._unsubscribe = config.subscribe(self._setting_changed)

        self._shown_project: object | None = None
        self.last_project_lookup: Job | None = None  # the start-up job that finds the project to reopen
        build_actions(self)
        build_menus(self)
        self._connect()
        self._started = False
        self.ready = False  # True once the side panels are attached (just after the first paint)
        self._restore_state()
        self._project_changed(None)
        self.welcome.refresh()

    # --- construction ---------------------------------------------------------------------------------------

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState/restoreState key
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._started:
            self._started = True
            # Panels of other parts import their services (SQLAlchemy, Pillow...): attach them right after
            # the first paint, so the window appears at once.
            QTimer.singleShot(50, self._late_start)

    def _late_start(self) -> None:
        # Import what the browser, the panels and opening a project need on a worker first (SQLAlchemy ORM,
        # Alembic, Pillow): building them here before that would do those imports on the GUI thread, or wait
        # on Python's import lock while the worker does them (a 1.4 s freeze just after the window appeared).
        self.jobs.submit("Warm up", lambda _ctx: _warm_up(), on_finished=self._build_late_parts, visible=False)

    def _build_late_parts(self) -> None:
        self.ensure_browser()
        if self.attach_optional_panels():
            state = QSettings().value("window/state")
            if state is not None:
                self.restoreState(state)  # again: now the panels' docks exist and get their places back
        if self._first_run:
            # First run: the grid gets the room; the log is a strip at the bottom, the panels a column.
            self.resizeDocks([self.log_dock], [140], Qt.Orientation.Vertical)
            if self.panel_docks:
                self.resizeDocks(list(self.panel_docks.values())[:1], [440], Qt.Orientation.Horizontal)
        self._attach_review()
        self._attach_problems()
        self.ready = True
        from lorairo.gui.app import freeze_startup_objects

        freeze_startup_objects()  # full garbage collections then skip the ~190k objects of the startup
        self._reopen_last_project()

    def _reopen_last_project(self) -> None:
        """`app.open_last_project`: open the project that was open when the window last closed (none if the
        user had closed it); before that was remembered, the most recently opened one."""
        if not self.config.get("app.open_last_project") or self.session.project is not None:
            return
        remembered = QSettings().value(LAST_PROJECT_KEY)  # None: never saved; "": no project was open

        def find(_ctx: object) -> str | None:
            service = self.session.projects
            if remembered is None:
                recent = service.recent()
                return recent[0] if recent else None
            return str(remembered) if remembered and service.exists(str(remembered)) else None

        self.last_project_lookup = self.jobs.submit(
            "Find the last project", find, on_result=self._open_last_project, visible=False
        )

    def _open_last_project(self, name: str | None) -> None:
        if name and self.session.project is None and not self.imports.running:
            self.open_project(name)

    def _attach_review(self) -> None:
        """The review loop (viewer page, keyboard path, Help > Keyboard shortcuts): lorairo.gui.widgets.review."""
        from lorairo.gui.widgets.review import ReviewController

        self.review = ReviewController(self)

    def _attach_problems(self) -> None:
        """The Problems view (quality checks, issue 16): a dock beside the other panels, in the View menu;
        clicking a check filters the grid by it."""
        from lorairo.gui.widgets.problems_panel import ProblemsPanel

        self.problems = ProblemsPanel(self.session, self)
        # One row per check with a slider: taller than a 700 px window's dock area allows. It scrolls instead of
        # setting the window's minimum height (the window must fit a 1024x700 screen).
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.problems)
        dock = self._dock("Problems", "problems_dock", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        if self.panel_docks:
            self.tabifyDockWidget(next(iter(self.panel_docks.values())), dock)
            # Tabifying put Problems in front of the details at every start; the details stay in front, and a
            # hidden Problems tab counts nothing (1.7 s of a worker's CPU per count at 1M images).
            if "DetailsPanel" in self.panel_docks:
                self.panel_docks["DetailsPanel"].raise_()
                self.problems.set_shown(False)
        dock.visibilityChanged.connect(self.problems.set_shown)  # also when its tab is chosen or left
        self.problems_dock = dock
        self.view_menu.addAction(dock.toggleViewAction())

        def show_check(check: str) -> None:
            if self.browser is not None:
                self.browser.filter_bar.set_filter_text(f"quality:{check}")

        self.problems.check_clicked.connect(show_check)

    def attach_optional_panels(self) -> list[str]:
        """Place the side panels (details, annotate). Returns the names attached now; safe to call again."""
        attached = []
        for module_name, class_name, title, object_name in DOCK_PANELS:
            if class_name in self.panels:
                continue
            try:
                panel = getattr(importlib.import_module(module_name), class_name)(self.session, self)
            except Exception as exc:  # one broken panel must not keep the window (or the other panels) away
                self.error_sink.report(f"{title} panel failed to load", exc)
                continue
            self.panels[class_name] = panel
            dock = self._dock(title, object_name, panel, Qt.DockWidgetArea.RightDockWidgetArea)
            others = list(self.panel_docks.values())
            if others:
                self.tabifyDockWidget(others[0], dock)
            self.panel_docks[class_name] = dock
            self.view_menu.addAction(dock.toggleViewAction())
            if hasattr(panel, "set_shown"):  # works only while seen (a tab behind another is not)
                dock.visibilityChanged.connect(panel.set_shown)
            if hasattr(panel, "show_images") and self.browser is not None:
                self.browser.selection_changed.connect(panel.show_images)
            if (stack := getattr(panel, "undo_stack", None)) is not None:
                # The edit history's Undo / Redo live in the Edit menu with the standard shortcuts.
                undo = stack.createUndoAction(self, "&Undo")
                undo.setShortcut(QKeySequence.StandardKey.Undo)
                redo = stack.createRedoAction(self, "&Redo")
                redo.setShortcut(QKeySequence.StandardKey.Redo)
                actions = self.edit_menu.actions()
                if actions:
                    self.edit_menu.insertActions(actions[0], [undo, redo])
                    self.edit_menu.insertSeparator(actions[0])
                else:
                    self.edit_menu.addActions([undo, redo])
            attached.append(class_name)
        if "DetailsPanel" in self.panel_docks:
            self.panel_docks["DetailsPanel"].raise_()
            for name, panel in self.panels.items():
                if name != "DetailsPanel" and name in self.panel_docks and hasattr(panel, "set_shown"):
                    panel.set_shown(False)  # tabified behind the details
        return attached

    def _connect(self) -> None:
        self.jobs.error_reported.connect(self._job_failed)
        self.jobs.jobs_changed.connect(self.status.set_jobs)
        self.log_panel.errors_changed.connect(self.status.set_errors)
        self.session.project_changed.connect(self._project_changed)
        self.session.item_failed.connect(self.log_panel.add_error)
        self.welcome.open_requested.connect(self.open_project)
        self.welcome.new_requested.connect(self.new_project)
        self.imports.started.connect(self.status.import_progress.start)
        self.imports.started.connect(lambda: self._import_running(True))
        self.imports.finished.connect(lambda _summary: self._import_running(False))
        self.imports.progress.connect(self.status.import_progress.update_progress)
        self.imports.finished.connect(self._import_finished)
        self.status.import_progress.cancel_requested.connect(self.imports.cancel)

    # --- projects -------------------------------------------------------------------------------------------

    def ensure_browser(self) -> ImageBrowser:
        """Build the browser page on first use and wire it to the status bar and the panels."""
        if self.browser is None:
            from lorairo.gui.widgets.image_browser import ImageBrowser

            browser = ImageBrowser(self.session, self)
            self.stack.addWidget(browser)
            browser.counts_changed.connect(self.status.set_counts)
            browser.selection_changed.connect(lambda ids: self.status.set_selection(len(ids)))
            for panel in self.panels.values():
                if hasattr(panel, "show_images"):
                    browser.selection_changed.connect(panel.show_images)
            size = QSettings().value("grid/icon_size")
            if size is not None:
                browser.grid.set_icon_size(int(size))
            self.browser = browser
            if self.session.project is not None:  # it missed this project's project_changed
                browser.project_opened(self.session.project)
        return self.browser

    def _project_changed(self, project: object) -> None:
        has_project = project is not None
        if has_project:
            self.ensure_browser()
        self.stack.setCurrentWidget(self.browser if has_project and self.browser else self.welcome)
        name = self.session.name
        self.setWindowTitle(f"{name} — LoRAIro" if name else "LoRAIro")
        self.status.set_project(name)
        if self._shown_project is not None and self._shown_project is not project:
            # What the status bar and the Errors tab said was about the previous project's images and files
            # (errors from before any project, such as a panel that failed to load, stay).
            self.status.set_selection(0)
            self.log_panel.clear_errors()
        self._shown_project = project
        if not has_project:
            self.status.count_label.clear()
            self.welcome.refresh()
        for action in (
            self.close_action,
            self.import_action,
            self.import_files_action,
            self.export_action,
            self.check_action,
        ):
            action.setEnabled(has_project)
        backup = getattr(project, "backup_path", None)
        if backup:
            self.status.showMessage(f"Project database upgraded; backup at {backup}", 10_000)

    def open_project(self, name: str) -> None:
        if name == self.session.name:
            return
        if self.imports.running:
            self._warn("An import is running: cancel it or wait before switching projects.")
            return
        self.status.showMessage(f"Opening {name}…")
        self.session.open(name, on_done=lambda p: self.status.showMessage(f"Opened {p.name}", 4000))

    def open_project_dialog(self) -> None:
        dialog = OpenProjectDialog(lambda: self.session.projects, self.jobs, self)
        if dialog.exec() and (name := dialog.chosen_name()):
            self.open_project(name)

    def new_project(self) -> None:
        if self.imports.running:
            self._warn("An import is running: cancel it or wait before switching projects.")
            return
        dialog = NewProjectDialog(self.session.projects, self)
        if dialog.exec():
            name = dialog.project_name()
            self.session.create(name, on_done=lambda p: self.status.showMessage(f"Created project {p.name}", 4000))

    def close_project(self) -> None:
        if self.imports.running:
            self._warn("An import is running: cancel it or wait before closing the project.")
            return
        self.session.close()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        names = self.session.projects.recent()
        for index, name in enumerate(names):
            action = self.recent_menu.addAction(name, partial(self.open_project, name))
            if index < 9:
                action.setShortcut(QKeySequence(f"Ctrl+Alt+{index + 1}"))
        if not names:
            self.recent_menu.addAction("No recent projects").setEnabled(False)

    # --- import ---------------------------------------------------------------------------------------------

    def import_paths(self, paths: list[str]) -> None:
        try:
            self.imports.start(paths)
        except LoRAIroException as exc:
            self._warn(str(exc))

    def import_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of images", str(Path.home()))
        if folder:
            self.import_paths([folder])

    def import_files_dialog(self) -> None:
        exts = " ".join(f"*.{e}" for e in self.config.get("image_processing.extensions"))
        files, _ = QFileDialog.getOpenFileNames(self, "Import images", str(Path.home()), f"Images ({exts})")
        if files:
            self.import_paths(files)

    def _import_finished(self, summary: ImportSummary | None) -> None:
        self.status.import_progress.finish()
        if summary is None:
            return
        self.status.showMessage(summary_text(summary), 15_000)
        # Files already in the project are not failures (a re-import skips them all); real failures go to the
        # errors panel, capped so a folder of thousands of bad files cannot flood the GUI thread.
        failed = [o for o in summary.outcomes if o.outcome == "skipped" and o.reason != REASON_ALREADY_IMPORTED]
        for outcome in failed[:MAX_REPORTED_IMPORT_FAILURES]:
            self.session.report_failure("Import", outcome.db_reason or "skipped", display_name(outcome.path))
        if len(failed) > MAX_REPORTED_IMPORT_FAILURES:
            more = len(failed) - MAX_REPORTED_IMPORT_FAILURES
            self.session.report_failure("Import", f"… and {more} more skipped files (see the import summary)")
        # A sidecar that was too large or unreadable lost its tags for this import: a failure, like a skipped file.
        for note in summary.sidecar_notes:
            if note.kind in (NOTE_TOO_LARGE, NOTE_UNREADABLE):
                self.session.report_failure("Import", f"sidecar {note.kind}: {note.detail}", display_name(note.path))
        if self.browser is not None:
            self.browser.import_finished(summary)
        if failed or summary.duplicates or summary.sidecar_notes or summary.status == "cancelled":
            dialog = ImportSummaryDialog(summary, self)
            dialog.show()
        self.last_import_dialog_summary = summary

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        if self.session.project is None:
            self._warn("Open or create a project first, then drop images or folders to import them.")
            return
        self.import_paths(paths)

    # --- other dialogs --------------------------------------------------------------------------------------

    def open_settings(self) -> None:
        from lorairo.gui.dialogs.settings_dialog import SettingsDialog

        SettingsDialog(self.config, self).exec()

    def open_export_dialog(self) -> None:
        """File > Export…: the export dialog (written by the export part) for the current filter/selection."""
        from lorairo.gui.dialogs.export_dialog import ExportDialog  # imported on use: a dialog

        image_filter = self.browser.filter if self.browser else None
        selected = self.browser.selected_ids() if self.browser else []
        dialog = ExportDialog(self.session, image_filter, selected, self)
        dialog.exec()

    def _import_running(self, running: bool) -> None:
        self.cancel_import_action.setEnabled(running)
        self.cancel_import_action.setStatusTip(
            "Stop the import; images already imported stay" if running else "No import is running"
        )

    def open_documentation(self) -> None:
        """Help > Documentation in the browser; where none can be opened, the address to copy."""
        if QDesktopServices.openUrl(QUrl(DOCS_URL)):
            return
        box = QMessageBox(
            QMessageBox.Icon.Information, "LoRAIro documentation", "", QMessageBox.StandardButton.Ok, self
        )
        box.setText(f"No web browser could be opened. The documentation is at:<br><a href='{DOCS_URL}'>{DOCS_URL}</a>")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.docs_box = box
        box.open()

    def open_tag_vocabulary(self) -> None:
        """Tools > Tag vocabulary…: import a tag CSV for autocomplete and categories (non-modal, one window)."""
        from lorairo.gui.dialogs.tag_vocabulary import TagVocabularyDialog

        if self.tag_vocabulary_dialog is None:
            self.tag_vocabulary_dialog = TagVocabularyDialog(self.session, self.jobs, self)
        self.tag_vocabulary_dialog.show()
        self.tag_vocabulary_dialog.raise_()

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About LoRAIro",
            f"<b>LoRAIro {__version__}</b><p>Import, annotate, review and export image datasets for LoRA "
            "and fine-tuning.</p>",
        )

    def _focus_filter(self) -> None:
        if self.browser is not None:
            self.browser.filter_bar.tags.setFocus()
            self.browser.filter_bar.tags.selectAll()

    # --- errors, settings, state ----------------------------------------------------------------------------

    def _job_failed(self, error: JobError) -> None:
        self.log_panel.add_job_error(error)
        self._reveal_errors(f"{error.job_name} failed: {error.message}")

    def _unexpected_error(self, where: str, message: str, details: str) -> None:
        """An exception nothing caught (a slot, a paint, a thread): shown like a failed job."""
        self.log_panel.add_error(where, message, details=details)
        self._reveal_errors(f"{where}: {message}")

    def _reveal_errors(self, message: str) -> None:
        self.status.showMessage(message, 15_000)
        if not self.log_dock.isVisible():
            self.log_dock.show()
        self.log_panel.tabs.setCurrentIndex(0)

    def _warn(self, message: str) -> None:
        self.status.showMessage(message, 10_000)
        QMessageBox.information(self, "LoRAIro", message)

    def _setting_changed(self, key: str, value: object) -> None:
        # Logging is reconfigured by lorairo.utils.log (which removes every sink): put the panel's sink back.
        if key.startswith(("log.", "api.")) or key == "huggingface.token":
            self.log_bridge.install(str(self.config.get("log.level")))
        if key == "directories.database_dir" and self.session.project is None:
            self.welcome.refresh()

    def _restore_state(self) -> None:
        settings = QSettings()
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 880)
        self._first_run = geometry is None
        state = settings.value("window/state")
        if state is not None:
            self.restoreState(state)

    def save_state(self) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue(LAST_PROJECT_KEY, self.session.name)
        if self.browser is not None:
            settings.setValue("grid/icon_size", self.browser.grid.icon_size())
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.imports.running:
            answer = QMessageBox.question(
                self, "Import running", "An import is running. Cancel it and quit? Imported images are kept."
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.save_state()
        self.session.project_changed.disconnect(self._project_changed)
        self.jobs.shutdown()
        self._unsubscribe()
        self.log_bridge.uninstall()
        self.error_sink.uninstall()
        self.session.close()
        super().closeEvent(event)

    def placeholder(self, text: str) -> QLabel:
        label = QLabel(text, self)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        return label
