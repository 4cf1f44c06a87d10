"""The Statistics view's bucket distribution (for a resolution the user picks) and one histogram per score."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lorairo.database.schema import QualityScoreRecord
from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.statistics import StatisticsView
from lorairo.gui.workers import JobManager
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_query_service import ImageFilter
from lorairo.services.project_service import ProjectService

from .factories import insert_images


@pytest.fixture
def view(qtbot) -> Iterator[StatisticsView]:  # type: ignore[no-untyped-def]
    config = ConfigurationService()
    jobs = JobManager()
    session = ProjectSession(config, jobs)
    project = ProjectService(config).create("stats")
    ids = insert_images(project, [["cat"], ["dog"], ["cat"]], thumbnails=False)  # 640 x 480 each
    with project.db.session(write=True) as s:
        s.add(QualityScoreRecord(image_id=ids[0], score_name="aesthetic", value=7.0, scale_min=1.0, scale_max=10.0))
        s.add(QualityScoreRecord(image_id=ids[1], score_name="clip", value=0.2, scale_min=0.0, scale_max=1.0))
    session.set_project(project)
    widget = StatisticsView(session, ImageFilter)
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    yield widget
    jobs.shutdown()
    session.close()


def test_buckets_and_one_histogram_per_score(qtbot, view: StatisticsView) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        view.show()
    assert view.buckets is not None
    # 640 x 480 (4:3) at the export default 1024: sd-scripts' bucket for that aspect.
    assert view.buckets.counts == (((1024, 768), 3),)
    assert view.bucket_note.text().startswith("1024x1024, steps 64: 3 images in 1 bucket(s)")
    assert set(view.score_items) == {"aesthetic", "clip"}
    edges = view.score_items["aesthetic"].listDataItems()[0].xData  # each on its own scale, not 0..1
    assert edges[0] == pytest.approx(1.0) and edges[-1] == pytest.approx(10.0)

    with qtbot.waitSignal(view.loaded, timeout=10_000):
        view.bucket_resolution.setCurrentText("512")
    assert view.buckets.counts == (((512, 384), 3),)

    view.bucket_resolution.setCurrentText("big")
    qtbot.waitUntil(lambda: "resolution must be" in view.bucket_note.text(), timeout=5_000)
    assert "'big'" in view.bucket_note.text()


def test_a_hidden_view_computes_nothing_when_a_project_opens(qtbot, view: StatisticsView) -> None:  # type: ignore[no-untyped-def]
    """Hidden (as it starts), a project change must not run the statistics: at 1M images the result landed while
    the user filtered the grid and its scatter plot blocked the GUI thread for about a second."""
    loads: list[object] = []
    view.loaded.connect(loads.append)
    view.session.project_changed.emit(view.session.project)
    qtbot.wait(view._timer.interval() + 300)
    assert view.session.jobs.wait(5_000)
    qtbot.wait(50)
    assert loads == []
    with qtbot.waitSignal(view.loaded, timeout=10_000):  # shown: computed then
        view.show()
