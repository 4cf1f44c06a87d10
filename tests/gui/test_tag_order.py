"""Chips in the order export writes them; dragging a chip reorders the exported line; the line shown under the
editor is exactly what an export with the same settings writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDropEvent

from lorairo.gui.widgets.details import DetailsPanel
from lorairo.gui.widgets.details.tag_chips import CHIP_MIME
from lorairo.gui.workers import JobManager
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export_service import ExportService
from lorairo.services.project_service import Project, ProjectService

from .test_details_panel import add_image

pytestmark = pytest.mark.gui


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("order")
    yield project
    project.close()


@pytest.fixture
def config() -> ConfigurationService:
    return ConfigurationService()


@pytest.fixture
def panel(qtbot, project: Project, config: ConfigurationService) -> Iterator[DetailsPanel]:  # type: ignore[no-untyped-def]
    jobs = JobManager()
    widget = DetailsPanel(project, config, jobs=jobs)
    qtbot.addWidget(widget)
    widget.resize(520, 900)
    widget.show()
    yield widget
    jobs.shutdown()


def _exported_line(config: ConfigurationService, project: Project, target: Path) -> str:
    service = ExportService(config, project)
    service.export(service.default_options(target_dir=target))
    (caption,) = list(target.rglob("*.txt"))
    return caption.read_text(encoding="utf-8").strip()


def _drop(panel: DetailsPanel, tag: str, before: str) -> None:
    """Drop the chip `tag` just left of the chip `before` (what a mouse drag ends with)."""
    target = panel.chips.chip(before)
    assert target is not None
    point = QPointF(target.geometry().left() + 2, target.geometry().center().y())
    mime = QMimeData()
    mime.setData(CHIP_MIME, tag.encode("utf-8"))
    event = QDropEvent(point, Qt.DropAction.MoveAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    panel.chips.dropEvent(event)


def test_dragging_a_chip_changes_the_written_line_which_matches_export(  # type: ignore[no-untyped-def]
    qtbot, panel: DetailsPanel, project: Project, config: ConfigurationService, tmp_path: Path
) -> None:
    config.update_setting("export", "trigger_words", "ohwx man")
    config.update_setting("export", "escape_parentheses", True)
    image = add_image(
        project,
        "a.jpg",
        tags={"long_hair": "general", "smile": "general", "hatsune miku": "character", "star (symbol)": "general"},
    )
    panel.show_images([image])
    line = panel.view.caption_line
    qtbot.waitUntil(lambda: line.text().startswith("ohwx man"))
    # Chips in the order they are written: the character first (export's category order), then as added.
    assert panel.chips.tags() == ["hatsune miku", "long_hair", "smile", "star (symbol)"]
    assert line.text() == _exported_line(config, project, tmp_path / "first")
    assert line.text() == r"ohwx man, hatsune miku, long hair, smile, star \(symbol\)"

    _drop(panel, "smile", before="long_hair")
    qtbot.waitUntil(lambda: panel.chips.tags() == ["hatsune miku", "smile", "long_hair", "star (symbol)"])
    qtbot.waitUntil(lambda: "miku, smile, long hair" in line.text())
    assert line.text() == _exported_line(config, project, tmp_path / "second")

    chip = panel.chips.chip("star (symbol)")
    assert chip is not None
    chip.front_requested.emit("star (symbol)")  # "Move to front" in the chip's menu
    qtbot.waitUntil(lambda: "miku, star \\(symbol\\), smile" in line.text())
    panel.undo_stack.undo()
    qtbot.waitUntil(lambda: "miku, smile, long hair" in line.text())

    config.update_setting("export", "underscores_to_spaces", False)  # settings change: the line follows
    qtbot.waitUntil(lambda: "long_hair" in line.text())
    assert line.text() == _exported_line(config, project, tmp_path / "third")


def test_excluded_image_says_nothing_is_written(qtbot, panel: DetailsPanel, project: Project) -> None:  # type: ignore[no-untyped-def]
    image = add_image(project, "a.jpg", tags={"cat": "general"})
    panel.show_images([image])
    qtbot.waitUntil(lambda: panel.view.caption_line.text() == "cat")
    panel.set_excluded([image], True)
    qtbot.waitUntil(lambda: panel.view.caption_line.text().startswith("Excluded from export"))


def test_five_thousand_tags_on_one_image_stay_responsive(qtbot, panel: DetailsPanel, project: Project) -> None:  # type: ignore[no-untyped-def]
    image = add_image(project, "many.jpg", tags={f"tag {n}": "general" for n in range(5000)})
    panel.show_images([image])
    qtbot.waitUntil(lambda: panel.view.tags_box.title() == "Tags (5000)", timeout=20_000)
    qtbot.waitUntil(lambda: not panel.chips.building())  # past the first 80, a batch per event-loop turn
    assert len(panel.chips.chips) == 400 and "4600 more" in panel.chips._more.text()
    assert not panel.chips.reorderable  # a partial row of chips cannot be reordered
