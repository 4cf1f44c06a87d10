"""Filling the dataset tags panel reads the data of the rows on screen, not of every tag.

Its count column used ResizeToContents: each reset asked the model for ~32,000 values over 3,000 tags on the GUI
thread, the 0.86 s opening stall at 1,000,000 images (docs/benchmarks.md, "Desktop app at 1,000,000 images").
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.tags_panel import COLUMN_COUNT, TagCountModel, TagsPanel
from lorairo.gui.workers import JobManager
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_query_service import ImageFilter
from lorairo.services.tag_stats_service import ProjectTag


@pytest.fixture
def panel(qtbot) -> Iterator[TagsPanel]:  # type: ignore[no-untyped-def]
    jobs = JobManager()
    session = ProjectSession(ConfigurationService(), jobs)
    widget = TagsPanel(session, ImageFilter, rename=lambda _a, _b: None, delete=lambda _t: None)
    qtbot.addWidget(widget)
    widget.resize(320, 500)
    widget.show()
    yield widget
    jobs.shutdown()
    session.close()


def test_thousands_of_tags_fill_the_panel_reading_only_the_rows_shown(panel: TagsPanel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reads: list[int] = []
    data = TagCountModel.data
    monkeypatch.setattr(
        TagCountModel, "data", lambda self, index, role=0: reads.append(index.row()) or data(self, index, role)
    )
    tags = [ProjectTag(f"tag {i}", 1_234_567 // (i + 1), "general") for i in range(3000)]
    panel._show(tags)
    panel.table.viewport().repaint()
    on_screen = panel.table.height() // panel.table.verticalHeader().defaultSectionSize() + 1
    assert reads and max(reads) <= on_screen  # before: every one of the 3,000 rows was read
    assert panel.summary.text() == "3,000 tags"
    # the count column still has room for the largest count
    width = panel.table.fontMetrics().horizontalAdvance("1,234,567")
    assert panel.table.horizontalHeader().sectionSize(COLUMN_COUNT) > width
