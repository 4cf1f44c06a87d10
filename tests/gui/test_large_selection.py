"""The grid's selection reaches the panels as one immutable `SelectedIds`, never copied on the GUI thread.

At 1,000,000 images Ctrl+A handed every panel a list of 1M Python ints, which the details panel de-duplicated
and the annotate panel copied again: about a second of GUI stall (docs/benchmarks.md, "Desktop app at
1,000,000 images"). These tests check what the panels receive and keep, not how long it takes.
"""

from __future__ import annotations

from lorairo.gui.models.image_list_model import PAGE_SIZE
from lorairo.gui.models.selected_ids import SelectedIds
from lorairo.services.changes import Changes
from lorairo.services.project_service import ProjectService

from .factories import insert_images


def _open(qtbot, window, tags: list[list[str]]) -> list[int]:  # type: ignore[no-untyped-def]
    project = ProjectService(window.config).create("many")
    ids = insert_images(project, tags, thumbnails=False)
    project.close()
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project("many")
    return ids


def test_select_all_reaches_the_panels_as_the_grids_own_selection(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    count = PAGE_SIZE * 2 + 5
    ids = _open(qtbot, window, [["cat"]] * (count - 5) + [["dog"]] * 5)
    emitted: list[object] = []
    window.browser.selection_changed.connect(emitted.append)
    details, annotate = window.panels["DetailsPanel"], window.panels["AnnotatePanel"]

    window.select_all_action.trigger()
    qtbot.waitUntil(lambda: window.status.selection_label.text() == f"{count:,} selected", timeout=5000)
    selection = emitted[-1]
    assert isinstance(selection, SelectedIds) and selection == ids
    # kept as they are: no per-image copy or de-duplication on the GUI thread
    assert details._ids is selection
    assert annotate.selected_ids is selection
    assert annotate.scope.itemText(0) == f"Selected images ({count})"
    # the batch editor's counts over the whole selection arrive from the worker
    qtbot.waitUntil(
        lambda: {t.tag: t.count for t in details.selection_tags} == {"cat": count - 5, "dog": 5}, timeout=10_000
    )
    # the annotate request resolves the selection into a list on the worker side
    assert annotate._request()() == ids


def test_details_reload_only_for_changes_to_the_images_it_shows(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    a, b, c = _open(qtbot, window, [["cat"], ["dog"], ["cow"]])
    details = window.panels["DetailsPanel"]
    window.browser.grid.select_ids([a, b])
    qtbot.waitUntil(lambda: details._ids == [a, b], timeout=5000)
    reloads: list[object] = []
    monkeypatch.setattr(details, "_load_selection_tags", lambda: reloads.append("tags"))
    window.session.notify(Changes.of([c], tags=True))
    assert reloads == []
    window.session.notify(Changes.images_added([c + 100, c + 101]))
    assert reloads == []
    window.session.notify(Changes.of([c, b], tags=True))
    assert reloads == ["tags"]
