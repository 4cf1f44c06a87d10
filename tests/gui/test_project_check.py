"""Project > Check project…: the report of a damaged project, and Repair re-creating a lost thumbnail."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.project_service import ProjectService
from tests.support import images as gen


def test_check_shows_the_report_and_repair_fixes_a_lost_thumbnail(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        gen.write_jpeg(src / f"{i}.jpg", 100, 80, seed=i)
    project = ProjectService(ConfigurationService()).create("checked")
    ImageProcessingService(ConfigurationService(), project).import_paths([src], jobs=1)
    project.close()
    lost = sorted((project.root / "thumbnails").rglob("*.jpg"))[0]
    lost.unlink()

    assert not window.check_action.isEnabled()  # no project open yet
    window.open_project("checked")
    qtbot.waitUntil(lambda: window.session.name == "checked", timeout=10_000)
    assert window.check_action.isEnabled()
    menus = {m.text().replace("&", ""): m.menu() for m in window.menuBar().actions()}
    assert "Check project…" in [a.text().replace("&", "") for a in menus["Project"].actions()]

    window.check_action.trigger()
    qtbot.waitUntil(lambda: window.checks.dialog is not None, timeout=20_000)
    dialog = window.checks.dialog
    assert "1 problem(s) remain" in dialog.text()
    assert "images without a thumbnail: 1" in dialog.detailedText()
    repair = next(b for b in dialog.buttons() if b.text() == "Repair")
    first = window.checks.last_report
    repair.click()
    qtbot.waitUntil(lambda: window.checks.last_report is not first, timeout=20_000)
    assert window.checks.last_report.repaired == {"thumbnails re-created": 1}
    assert window.checks.dialog.icon() == QMessageBox.Icon.Information
    assert lost.is_file()
