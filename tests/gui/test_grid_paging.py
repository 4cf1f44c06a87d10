"""Opening and filtering a big result: the grid shows the first page before the whole ID list is read, then
grows without moving (scroll position, selection and current image kept); a superseded query is dropped.

The whole-list read (`ImageQueryService.ids_array`) is held on an Event, so "before" and "after" are
deterministic, not a race."""

from __future__ import annotations

import threading

import pytest

from lorairo.gui.models.image_list_model import PAGE_SIZE
from lorairo.services.changes import Changes
from lorairo.services.image_query_service import ImageQueryService
from lorairo.services.project_service import ProjectService

from .factories import insert_images

CATS = PAGE_SIZE * 2 + 5


@pytest.fixture
def big(qtbot, window):  # type: ignore[no-untyped-def]
    """A project where `cat` matches CATS images (more than a page) and `dog` the others."""
    project = ProjectService(window.config).create("paging")
    tags = [tag for k in range(CATS) for tag in ([["cat"], ["dog"]] if k % 2 else [["cat"]])]
    ids = insert_images(project, tags)
    project.close()
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project("paging")
    cats = [image_id for image_id, tag in zip(ids, tags, strict=True) if tag == ["cat"]]
    dogs = [image_id for image_id, tag in zip(ids, tags, strict=True) if tag == ["dog"]]
    assert len(cats) == CATS
    return window, ids, cats, dogs


class HeldList:
    """Makes `ids_array` wait for `release` when the filter mentions `tag` (other queries run freely)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tag: str) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        original = ImageQueryService.ids_array
        held = self

        def ids_array(service, f=None, sort="import"):  # type: ignore[no-untyped-def]
            if f is not None and tag in f.tags_all:
                held.entered.set()
                assert held.release.wait(20), "the test never released the list"
            return original(service, f, sort)

        monkeypatch.setattr(ImageQueryService, "ids_array", ids_array)


def _apply(window, text: str) -> None:  # type: ignore[no-untyped-def]
    bar = window.browser.filter_bar
    bar.tags.setText(text)
    bar.apply_now()


def test_the_first_page_shows_before_the_whole_list_and_the_grid_then_grows_in_place(  # type: ignore[no-untyped-def]
    qtbot, big, monkeypatch
) -> None:
    window, _ids, cats, _dogs = big
    browser, model = window.browser, window.browser.model
    held = HeldList(monkeypatch, "cat")
    finished: list[int] = []
    browser.query_finished.connect(finished.append)
    with qtbot.waitSignal(browser.first_page_shown, timeout=10_000) as shown:
        _apply(window, "cat")
    assert shown.args == [PAGE_SIZE]
    assert model.ids() == cats[:PAGE_SIZE]
    assert model.cached_row(cats[0]) is not None  # the page's rows came with it: painted without a second read
    assert held.entered.wait(10) and not finished  # the whole list is still being read

    # The user scrolls and picks an image meanwhile.
    view = browser.grid.view
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum())
    assert view.verticalScrollBar().value() > 0
    browser.grid.select_ids([cats[PAGE_SIZE - 2]])
    view.selectionModel().setCurrentIndex(model.index(PAGE_SIZE - 2), view.selectionModel().SelectionFlag.NoUpdate)
    held.release.set()
    qtbot.waitUntil(lambda: finished == [CATS], timeout=10_000)
    assert model.ids() == cats
    # No jump back to the top: the picked image is still on screen (the view may re-flow to another column
    # count meanwhile when a side panel changes its width; that keeps the first visible line).
    assert view.verticalScrollBar().value() > 0
    assert view.visualRect(model.index(PAGE_SIZE - 2)).intersects(view.viewport().rect())
    assert browser.selected_ids() == [cats[PAGE_SIZE - 2]]
    assert view.currentIndex().row() == PAGE_SIZE - 2
    assert window.browser.filter_bar.count_label.text().startswith(f"{CATS:,}")


def test_a_superseded_query_never_replaces_the_newer_result(qtbot, big, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    window, _ids, _cats, dogs = big
    browser = window.browser
    held = HeldList(monkeypatch, "cat")
    with qtbot.waitSignal(browser.first_page_shown, timeout=10_000):
        _apply(window, "cat")
    assert held.entered.wait(10)
    finished: list[int] = []
    browser.query_finished.connect(finished.append)
    with qtbot.waitSignal(browser.query_finished, timeout=10_000):
        _apply(window, "dog")
    held.release.set()  # the "cat" job now completes its list...
    assert window.session.jobs.wait(10_000)
    qtbot.wait(100)  # ...and its queued answer is delivered and dropped
    assert browser.model.ids() == dogs
    assert finished == [len(dogs)]


def test_a_requery_after_an_edit_keeps_the_scroll_position_and_selection(qtbot, big) -> None:  # type: ignore[no-untyped-def]
    window, _ids, cats, _dogs = big
    browser, view = window.browser, window.browser.grid.view
    with qtbot.waitSignal(browser.query_finished, timeout=10_000):
        _apply(window, "cat")
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    offset = bar.value()
    chosen = [cats[5], cats[CATS - 1]]
    browser.grid.select_ids(chosen)
    with qtbot.waitSignal(browser.query_finished, timeout=10_000):
        window.session.notify(Changes.of([cats[7]], tags=True))  # an edit in a filtered view re-queries it
    assert browser.model.ids() == cats
    assert bar.value() > 0 and abs(bar.value() - offset) <= view.viewport().height()  # no jump
    assert browser.selected_ids() == chosen


def test_a_thumbnail_not_read_yet_is_a_faint_grey_tile_not_a_black_square(qtbot, big) -> None:  # type: ignore[no-untyped-def]
    """Before its thumbnail arrives a cell shows a see-through grey tile (the missing-file one is faint red);
    "#8884"-style colours are not Qt colours and painted opaque black squares."""
    from PySide6.QtCore import Qt

    from lorairo.gui.models.image_list_model import MISSING_COLOUR, _placeholder

    window, _ids, _cats, _dogs = big
    model = window.browser.model
    tile = model.index(model.rowCount() - 1, 0).data(Qt.ItemDataRole.DecorationRole)  # far below: not read yet
    middle = tile.toImage().pixelColor(tile.width() // 2, tile.height() // 2)
    missing = _placeholder(64, MISSING_COLOUR).toImage().pixelColor(32, 32)
    for colour, rgb in ((middle, (0x88, 0x88, 0x88)), (missing, (0xCC, 0x44, 0x44))):
        got = (colour.red(), colour.green(), colour.blue())
        assert all(abs(a - b) <= 2 for a, b in zip(got, rgb, strict=True)), got  # premultiplied alpha rounds
        assert 0 < colour.alpha() < 128
