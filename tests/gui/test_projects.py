"""Opening, creating and switching projects from the window; nothing is ever created silently."""

from __future__ import annotations

from PySide6.QtCore import Qt

from lorairo.gui.widgets.project_picker import NewProjectDialog
from lorairo.services.project_service import ProjectService


def test_empty_state_then_create_a_project(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    assert window.stack.currentWidget() is window.welcome
    qtbot.waitUntil(lambda: "No projects yet" in window.welcome.list.item(0).text(), timeout=5000)
    assert not window.import_action.isEnabled()

    dialog = NewProjectDialog(window.session.projects, window)
    dialog.name_edit.setText("bad/name")
    assert not dialog.create_button.isEnabled()
    assert "path separators" in dialog.error.text()
    dialog.name_edit.setText("cats")
    assert dialog.create_button.isEnabled()
    window.session.create(dialog.project_name())

    qtbot.waitUntil(lambda: window.session.name == "cats", timeout=10_000)
    assert window.stack.currentWidget() is window.browser
    assert window.windowTitle().startswith("cats")
    assert window.status.project_label.text() == "Project: cats"
    assert window.import_action.isEnabled()
    qtbot.waitUntil(lambda: "no images yet" in window.browser.grid.empty_label.text(), timeout=5000)

    dialog = NewProjectDialog(window.session.projects, window)
    dialog.name_edit.setText("cats")
    assert "already exists" in dialog.error.text()


def test_open_and_switch_from_the_recent_list(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    service = ProjectService(window.config)
    for name in ("first", "second"):
        service.create(name).close()
    window.welcome.refresh()
    qtbot.waitUntil(lambda: window.welcome.list.count() == 2, timeout=5000)
    names = {window.welcome.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(2)}
    assert names == {"first", "second"}

    window.welcome.open_requested.emit("first")
    qtbot.waitUntil(lambda: window.session.name == "first", timeout=10_000)
    first = window.session.project
    window.open_project("second")
    qtbot.waitUntil(lambda: window.session.name == "second", timeout=10_000)
    assert service.recent()[:2] == ["second", "first"]
    assert first.db.read_engine.pool.checkedout() == 0  # the previous project was closed

    window.close_project()
    assert window.stack.currentWidget() is window.welcome


def test_opening_a_missing_project_reports_and_creates_nothing(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.open_project("ghost")
    qtbot.waitUntil(lambda: window.log_panel.error_count() == 1, timeout=5000)
    assert "no project named 'ghost'" in window.log_panel.error_messages()[0]
    assert "no project named 'ghost'" in window.status.currentMessage()
    assert window.session.project is None
    assert not (window.session.projects.root / "ghost").exists()
