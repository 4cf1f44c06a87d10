"""The window holds at laptop sizes: at 1024x700 nothing is squeezed to a sliver and the window does not grow
past the screen; at 1366x768 the tag field and the caption are above the fold of the details panel; a long undo
label never widens the panel."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QScrollArea, QWidget

from lorairo.services.project_service import ProjectService

from .factories import insert_images


def _open(qtbot, window, name: str) -> None:  # type: ignore[no-untyped-def]
    project = ProjectService(window.config).create(name)
    insert_images(project, [["cat", "dog"], ["cat"], ["bird"]])
    project.close()
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project(name)
    window.browser.grid.select_ids([1])
    panel = window.panels["DetailsPanel"]
    qtbot.waitUntil(lambda: panel.details is not None, timeout=10_000)


def _resize(qtbot, window, width: int, height: int) -> None:  # type: ignore[no-untyped-def]
    window.resize(width, height)
    qtbot.waitUntil(lambda: window.size().toTuple() == (width, height), timeout=5_000)
    qtbot.wait(50)  # the layouts settle (flow rows, dock sizes)


def _visible_in_scroll(widget: QWidget) -> bool:
    """The whole widget lies inside its scroll area's viewport, at the current scroll position."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    assert parent is not None
    viewport = parent.viewport()
    top_left = widget.mapTo(viewport, QPoint(0, 0))
    return viewport.rect().contains(top_left) and viewport.rect().contains(
        top_left + QPoint(widget.width() - 1, widget.height() - 1)
    )


@pytest.mark.parametrize("size", [(1024, 700), (1366, 768)])
def test_fields_keep_a_usable_width_and_the_window_stays_its_size(qtbot, window, size) -> None:  # type: ignore[no-untyped-def]
    _open(qtbot, window, f"layout{size[0]}")
    _resize(qtbot, window, *size)
    bar = window.browser.filter_bar
    panel = window.panels["DetailsPanel"]
    assert window.width() == size[0], "nothing may make the window wider than asked (the screen)"
    assert window.minimumSizeHint().width() <= 1024
    assert bar.tags.isVisible() and bar.tags.width() >= 240
    assert bar.caption.isVisible() and bar.caption.width() >= 140
    assert bar.score.isVisible() and bar.rating.isVisible() and bar.more.isVisible()
    # Every filter control is inside the bar (wrapped onto another line, not cut off at the right edge).
    for control in (bar.rating, bar.more, bar.favourites, bar.clear_button):
        right = control.mapTo(bar, QPoint(control.width(), 0)).x()
        assert right <= bar.width(), control
    assert panel.tag_input.isVisible() and panel.tag_input.width() >= 150
    assert panel.view.caption_editor.width() >= 150
    assert window.browser.grid.width() >= 400
    scroll = panel.view.findChild(QScrollArea)
    assert not scroll.horizontalScrollBar().isVisible(), "the details panel scrolls one way only"
    tags = window.review.tags_panel
    if tags.isVisible():
        assert tags.table.columnWidth(0) >= 80, "tag names keep room beside count and category"


def test_tag_field_and_caption_are_above_the_fold_at_1366x768(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    _open(qtbot, window, "fold")
    _resize(qtbot, window, 1366, 768)
    panel = window.panels["DetailsPanel"]
    assert _visible_in_scroll(panel.tag_input)
    assert _visible_in_scroll(panel.view.caption_editor)


def test_a_long_undo_label_is_elided_and_does_not_widen_the_panel(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    _open(qtbot, window, "undo")
    _resize(qtbot, window, 1024, 700)
    panel = window.panels["DetailsPanel"]
    width = panel.width()
    long_tag = "a very long tag name that somebody typed to describe the lighting of this photo"
    panel.rename_everywhere("cat", long_tag)
    qtbot.waitUntil(lambda: panel.undo_stack.canUndo(), timeout=10_000)
    qtbot.wait(50)
    assert long_tag in panel.undo_button.toolTip()
    assert panel.undo_button.text().endswith("…")
    assert panel.undo_button.width() <= 130
    assert panel.width() == width and window.width() == 1024
