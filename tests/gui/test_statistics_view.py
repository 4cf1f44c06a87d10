"""The Statistics view's bucket distribution (for a resolution the user picks) and one histogram per score."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_the_resolution_scatter_plots_distinct_sizes_at_most_a_few_thousand(qtbot, view: StatisticsView) -> None:  # type: ignore[no-untyped-def]
    """At 1M images the statistics hold 200k sizes: plotted point by point on the GUI thread they stalled it ~1 s.
    The worker aggregates them into distinct sizes with a count, snapped coarser until at most the cap."""
    import numpy as np

    from lorairo.gui.widgets.statistics import MAX_PLOTTED_SIZES, size_points
    from lorairo.services.statistics_service import DatasetStats

    rng = np.random.default_rng(5)
    widths, heights = rng.integers(256, 4096, 200_000), rng.integers(256, 4096, 200_000)
    x, y, images = size_points(widths, heights)
    assert 0 < len(x) <= MAX_PLOTTED_SIZES and len(x) == len(y) == len(images)
    assert images.sum() == 200_000  # every image is in a point
    # few distinct sizes: exact points and counts
    x, y, images = size_points([512, 512, 768, 512], [512, 512, 512, 768])
    assert sorted(zip(x.tolist(), y.tolist(), images.tolist(), strict=True)) == [
        (512, 512, 2),
        (512, 768, 1),
        (768, 512, 1),
    ]

    view.show_stats(DatasetStats(image_count=200_000, tags=(), widths=tuple(widths), heights=tuple(heights)))
    assert view.size_item is not None and 0 < len(view.size_item.data) <= MAX_PLOTTED_SIZES


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 70_000), st.integers(1, 70_000)), max_size=300),
    st.integers(1, 40),
)
def test_size_points_are_the_snapped_sizes_counted(sizes: list[tuple[int, int]], limit: int) -> None:
    """Against a plain count of (width, height) pairs snapped to the grid that fits `limit` points: same points,
    same counts, in width-then-height order (the packed int64 keys must not mix the two)."""
    from collections import Counter

    from lorairo.gui.widgets.statistics import size_points

    x, y, images = size_points([w for w, _h in sizes], [h for _w, h in sizes], limit)
    step = 1
    while True:
        counted = Counter(((w + step // 2) // step * step, (h + step // 2) // step * step) for w, h in sizes)
        if len(counted) <= limit:
            break
        step *= 2
    assert list(zip(x.tolist(), y.tolist(), images.tolist(), strict=True)) == [
        (w, h, n) for (w, h), n in sorted(counted.items())
    ]
