"""The main window's actions (each with its shortcut, also active while the menu bar is hidden) and menus.

Split out of main_window.py: the window composes panels and owns state; this says what the user can trigger
and where it sits in the menus. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence

if TYPE_CHECKING:
    from lorairo.gui.main_window import MainWindow

DOCS_URL = "https://github.com/NEXTAltair/LoRAIro"


def make_action(
    window: MainWindow,
    text: str,
    slot: Callable[[], object],
    shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
    tip: str = "",
) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(slot)
    window.addAction(action)  # shortcuts work even while the menu bar is hidden
    return action


def build_actions(window: MainWindow) -> None:
    """File / Edit / View / Help actions with their shortcuts, as attributes of the window."""
    keys = QKeySequence.StandardKey
    window.new_action = make_action(
        window, "&New project…", window.new_project, keys.New, "Create a new, empty project"
    )
    window.open_action = make_action(window, "&Open project…", window.open_project_dialog, keys.Open)
    window.close_action = make_action(window, "&Close project", window.close_project, "Ctrl+Shift+W")
    window.import_action = make_action(window, "&Import folder…", window.import_folder_dialog, "Ctrl+I")
    window.import_files_action = make_action(window, "Import &files…", window.import_files_dialog, "Ctrl+Shift+I")
    window.export_action = make_action(window, "&Export dataset…", window.open_export_dialog, "Ctrl+E")
    window.settings_action = make_action(window, "&Settings…", window.open_settings, keys.Preferences)
    window.settings_action.setShortcuts([QKeySequence(keys.Preferences), QKeySequence("Ctrl+,")])
    window.quit_action = make_action(window, "&Quit", window.close, keys.Quit)
    grid = lambda fn: lambda: window.browser and fn(window.browser)  # noqa: E731  (no-op before a project opens)
    window.select_all_action = make_action(
        window, "Select &all", grid(lambda b: b.grid.view.selectAll()), keys.SelectAll
    )
    window.select_none_action = make_action(
        window, "Select &none", grid(lambda b: b.grid.view.clearSelection()), "Ctrl+Shift+A"
    )
    window.find_action = make_action(window, "&Filter by tags", window._focus_filter, keys.Find)
    window.clear_filter_action = make_action(
        window, "C&lear filter", grid(lambda b: b.filter_bar.clear()), "Ctrl+Shift+F"
    )
    window.refresh_action = make_action(window, "&Refresh", grid(lambda b: b.run_query()), keys.Refresh)
    window.zoom_in_action = make_action(window, "Larger thumbnails", grid(lambda b: b.grid.zoom(1)), keys.ZoomIn)
    window.zoom_out_action = make_action(window, "Smaller thumbnails", grid(lambda b: b.grid.zoom(-1)), keys.ZoomOut)
    window.cancel_import_action = make_action(window, "Cancel import", window.imports.cancel, "Ctrl+.")
    window.cancel_import_action.setEnabled(False)  # enabled while an import runs (see _connect)
    window.cancel_import_action.setStatusTip("No import is running")
    window.about_action = make_action(window, "&About LoRAIro", window._about)
    window.check_action = make_action(
        window, "&Check project…", lambda: window.checks.start(), tip="Check the database and files; repair what can be"
    )
    window.docs_action = make_action(window, "&Documentation", window.open_documentation, tip=DOCS_URL)


def build_menus(window: MainWindow) -> None:
    """The menu bar; `edit_menu`, `view_menu` and `help_menu` stay on the window for the panels to extend."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addActions([window.new_action, window.open_action])
    window.recent_menu = file_menu.addMenu("Open &recent")
    window.recent_menu.aboutToShow.connect(window._fill_recent)
    file_menu.addAction(window.close_action)
    file_menu.addSeparator()
    file_menu.addActions([window.import_action, window.import_files_action, window.cancel_import_action])
    file_menu.addAction(window.export_action)
    file_menu.addSeparator()
    file_menu.addActions([window.settings_action, window.quit_action])
    window.edit_menu = edit_menu = bar.addMenu("&Edit")
    edit_menu.addActions([window.select_all_action, window.select_none_action])
    edit_menu.addSeparator()
    edit_menu.addActions([window.find_action, window.clear_filter_action])
    bar.addMenu("&Project").addAction(window.check_action)
    tools_menu = bar.addMenu("&Tools")
    tools_menu.addAction(make_action(window, "Tag &vocabulary…", window.open_tag_vocabulary, tip="Import a tag CSV"))
    window.view_menu = bar.addMenu("&View")
    window.view_menu.addActions([window.zoom_in_action, window.zoom_out_action, window.refresh_action])
    window.view_menu.addSeparator()
    window.view_menu.addAction(window.log_dock.toggleViewAction())
    window.help_menu = help_menu = bar.addMenu("&Help")
    help_menu.addActions([window.docs_action, window.about_action])
