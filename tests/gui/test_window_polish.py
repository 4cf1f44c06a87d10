"""The small things a new user meets in the first hour: hints that name real menu items, actions that say why
they can do nothing, dialogs without clipped text or empty gaps, the last project reopened."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QDesktopServices

from lorairo.gui import main_window
from lorairo.gui.widgets.image_browser import EMPTY_PROJECT_TEXT
from lorairo.gui.widgets.import_panel import ImportSummaryDialog
from lorairo.gui.widgets.project_picker import NewProjectDialog
from lorairo.services.importing.summary import ImportSummary
from lorairo.services.project_service import ProjectService

from .factories import insert_images


def _menu_texts(menu) -> list[str]:  # type: ignore[no-untyped-def]
    return [action.text().replace("&", "") for action in menu.actions()]


def test_the_empty_project_hint_names_menu_items_that_exist(window) -> None:  # type: ignore[no-untyped-def]
    file_menu = window.menuBar().actions()[0].menu()
    named = re.findall(r"File > (.+?) \((Ctrl[^)]*)\)", EMPTY_PROJECT_TEXT)
    assert named, EMPTY_PROJECT_TEXT
    for text, shortcut in named:
        action = next((a for a in file_menu.actions() if a.text().replace("&", "") == text), None)
        assert action is not None, f"{text!r} is not in File: {_menu_texts(file_menu)}"
        assert action.shortcut().toString() == shortcut


def test_the_cancel_summary_has_no_empty_gaps(qtbot) -> None:  # type: ignore[no-untyped-def]
    summary = ImportSummary(
        run_id=1,
        status="cancelled",
        total=60,
        imported=8,
        duplicates=0,
        near_duplicates=0,
        skipped=0,
        skipped_by_reason={},
        elapsed_s=1.2,
        images_per_s=6.6,
    )
    dialog = ImportSummaryDialog(summary)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    spacing = dialog.layout().spacing() + 4
    assert dialog.by_reason.geometry().top() - dialog.text.geometry().bottom() <= spacing
    buttons = dialog.layout().itemAt(3).widget()
    assert buttons.geometry().top() - dialog.by_reason.geometry().bottom() <= spacing
    assert "52 files were not reached" in dialog.by_reason.text()


def test_closing_a_project_clears_its_counts_selection_and_errors(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    project = ProjectService(window.config).create("closing")
    a, b, _c = insert_images(project, [["cat"], ["dog"], ["bird"]])
    project.close()
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project("closing")
    window.browser.grid.select_ids([a, b])
    qtbot.waitUntil(lambda: window.status.selection_label.text() == "2 selected", timeout=5000)
    window.session.report_failure("Import", "cannot decode", "broken.png")
    assert window.status.count_label.text() == "3 images"
    assert window.status.errors_label.text() == "1 error"

    window.close_project()
    assert window.status.project_label.text() == "No project"
    assert window.status.count_label.text() == ""
    assert window.status.selection_label.text() == ""
    assert window.status.errors_label.text() == ""
    assert window.log_panel.error_count() == 0


def test_cancel_import_is_disabled_while_no_import_runs(window) -> None:  # type: ignore[no-untyped-def]
    assert not window.cancel_import_action.isEnabled()
    assert window.cancel_import_action.statusTip() == "No import is running"


def test_open_selected_is_disabled_until_there_is_a_project(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: "No projects yet" in window.welcome.list.item(0).text(), timeout=5000)
    assert not window.welcome.open_button.isEnabled()
    assert "create one" in window.welcome.open_button.toolTip()
    ProjectService(window.config).create("first").close()
    window.welcome.refresh()
    qtbot.waitUntil(window.welcome.open_button.isEnabled, timeout=5000)


def test_documentation_shows_the_address_when_no_browser_opens(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda _url: False)
    window.docs_action.trigger()
    qtbot.waitUntil(lambda: window.docs_box.isVisible(), timeout=5000)
    assert main_window.DOCS_URL in window.docs_box.text()
    window.docs_box.close()


@pytest.mark.parametrize("name", ["a/b", "x" * 230, "CON"])
def test_the_new_project_message_is_not_clipped(qtbot, window, name: str) -> None:  # type: ignore[no-untyped-def]
    dialog = NewProjectDialog(window.session.projects, window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.name_edit.setText(name)
    qtbot.wait(20)  # the layout follows the new minimum height
    assert dialog.error.text()
    assert dialog.error.height() >= dialog.error.heightForWidth(dialog.error.width())
    assert dialog.error.geometry().bottom() < dialog.buttons.geometry().top()


def test_menu_buttons_show_one_arrow(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    browser = window.ensure_browser()
    for button in (browser.filter_bar.favourites, browser.filter_bar.more):
        assert button.text().count("▾") == 1
        assert "menu-indicator { image: none" in button.styleSheet()  # not a second arrow from the style


def _reopen(qtbot):  # type: ignore[no-untyped-def]
    from lorairo.gui.app import create_window

    window = create_window()
    window.error_sink.uninstall()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.ready, timeout=20_000)
    return window


def test_reopening_the_app_opens_the_last_project(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    ProjectService(window.config).create("last").close()
    window.open_project("last")
    qtbot.waitUntil(lambda: window.session.name == "last", timeout=10_000)
    window.close()  # remembers the open project

    again = _reopen(qtbot)
    qtbot.waitUntil(lambda: again.session.name == "last", timeout=10_000)
    assert again.stack.currentWidget() is again.browser
    again.close_project()
    again.close()  # closed with no project open: the next start shows the welcome page

    third = _reopen(qtbot)
    lookup = third.last_project_lookup
    qtbot.waitUntil(lambda: lookup is not None and lookup.done, timeout=5000)
    assert lookup.value is None  # nothing to reopen
    assert third.session.project is None and not third.jobs.running()  # and no project is being opened
    assert third.stack.currentWidget() is third.welcome
    third.close()


def test_reopening_can_be_turned_off(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    ProjectService(window.config).create("last").close()
    window.open_project("last")
    qtbot.waitUntil(lambda: window.session.name == "last", timeout=10_000)
    window.config.update_setting("app", "open_last_project", False)
    window.close()
    assert QSettings().value(main_window.LAST_PROJECT_KEY) == "last"

    again = _reopen(qtbot)
    assert again.last_project_lookup is None  # the setting is read when the window is ready: no lookup at all
    assert again.session.project is None and not again.jobs.running()
    qtbot.waitUntil(lambda: again.welcome.list.count() == 1 and again.welcome.open_button.isEnabled(), timeout=5000)
    again.close()
