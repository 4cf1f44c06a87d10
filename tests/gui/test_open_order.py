"""What runs when a project opens: the grid's query first, the side panels' counts after its first whole result
(at 1M images they competed with it for the GIL and the two cores), and a hidden Problems panel counts nothing."""

from __future__ import annotations

from typing import Any

from lorairo.services.changes import Changes
from lorairo.services.project_service import ProjectService

from .factories import insert_images


def _record_jobs(window: Any) -> list[str]:
    """Names of the jobs the window submits from now on, and "grid result" when the grid's query finishes."""
    seen: list[str] = []
    submit = window.jobs.submit

    def recording(name: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(name)
        return submit(name, *args, **kwargs)

    window.jobs.submit = recording
    window.browser.query_finished.connect(lambda _n: seen.append("grid result"))
    return seen


def test_side_panels_count_after_the_grids_first_result_and_a_hidden_problems_panel_not_at_all(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    project = ProjectService(window.config).create("order")
    insert_images(project, [["cat"], ["dog", "cat"], []])
    project.close()
    seen = _record_jobs(window)
    tags = window.review.tags_panel
    with qtbot.waitSignal(tags.loaded, timeout=10_000):
        window.open_project("order")
    qtbot.waitUntil(lambda: "Annotation models" in seen, timeout=5000)
    assert seen.index("grid result") < seen.index("Count tags")
    assert seen.index("grid result") < seen.index("Annotation models")
    assert tags.counts() == {"cat": 2, "dog": 1}
    assert window.problems_dock.visibleRegion().isEmpty()  # its tab is behind the details
    assert "Count problems" not in seen

    with qtbot.waitSignal(window.problems.counts_loaded, timeout=10_000) as loaded:
        window.problems_dock.show()
        window.problems_dock.raise_()
    assert loaded.args[0]["needs-upscale"] == 3  # counted when shown, for the project open now


def test_changes_during_a_problems_count_are_counted_once_after_it(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    project = ProjectService(window.config).create("bursts")
    ids = insert_images(project, [[], []])
    project.close()
    panel = window.problems
    window.problems_dock.show()
    window.problems_dock.raise_()
    with qtbot.waitSignal(panel.counts_loaded, timeout=10_000):
        window.open_project("bursts")
    seen = _record_jobs(window)
    panel.request_counts()  # a count runs (its end reaches this thread only when the test lets events run)
    for image_id in ids:  # an import's batches land meanwhile
        window.session.notify(Changes.images_added([image_id]))
    qtbot.waitUntil(lambda: seen.count("Count problems") == 2 and not panel._counting, timeout=10_000)
    assert seen.count("Count problems") == 2  # the running count, then one for both batches


def test_a_large_project_builds_its_indexes_once_settled_and_a_small_one_never(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The first filters after opening a large project (tags alone, or with score / rating / size terms) are
    answered off the in-memory tag and image indexes: their builds start in the background after the grid's
    first whole result (not beside the grid's query), and only when that result holds at least
    live_tag_index.BUILD_FROM images (50k; 3 here, the project has 3 and 2)."""
    from lorairo.services import live_tag_index
    from lorairo.services.live_image_index import LiveImageIndex
    from lorairo.services.live_tag_index import LiveTagIndex

    monkeypatch.setattr(live_tag_index, "BUILD_FROM", 3)
    for name, rows in (("large", [["cat"], ["dog", "cat"], []]), ("small", [["cat"], []])):
        project = ProjectService(window.config).create(name)
        insert_images(project, rows)
        project.close()

    seen = _record_jobs(window)
    with qtbot.waitSignal(window.session.project_settled, timeout=10_000):
        window.open_project("large")
    index = LiveTagIndex.of(window.session.project.db)
    images = LiveImageIndex.of(window.session.project.db)
    assert "grid result" in seen
    qtbot.waitUntil(lambda: index.snapshot is not None and not index.building, timeout=10_000)
    qtbot.waitUntil(lambda: images.snapshot is not None and not images.building, timeout=10_000)
    assert images.snapshot.size == 4 and bool((images.snapshot.rating >= 0)[1:].all())  # its 3 images, ids 1-3
    assert dict(zip(index.snapshot.tags, index.snapshot.counts(_all(index.snapshot.size)), strict=True)) == {
        "cat": 2,
        "dog": 1,
    }

    with qtbot.waitSignal(window.session.project_settled, timeout=10_000):
        window.open_project("small")
    small = LiveTagIndex.of(window.session.project.db)
    assert small.snapshot is None and not small.building and small.builds == 0
    small_images = LiveImageIndex.of(window.session.project.db)
    assert small_images.snapshot is None and not small_images.building and small_images.builds == 0


def _all(size: int) -> Any:
    import numpy as np

    return np.ones(size, dtype=bool)


def test_the_tags_panel_says_to_open_a_project_until_one_is_open(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    tags = window.review.tags_panel
    assert tags.summary.text() == "Open a project first"
    assert not tags.search.isEnabled() and not tags.table.isEnabled()
    project = ProjectService(window.config).create("opened")
    insert_images(project, [["cat"]])
    project.close()
    with qtbot.waitSignal(tags.loaded, timeout=10_000):
        window.open_project("opened")
    assert tags.search.isEnabled() and tags.table.isEnabled() and tags.summary.text() == "1 tag"
