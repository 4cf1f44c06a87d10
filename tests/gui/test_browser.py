"""The browser: filters (AND / OR / NOT) run in SQL on a worker, the grid pages rows and shows thumbnails."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from lorairo.gui.models.image_list_model import PAGE_SIZE, ImageRowRole
from lorairo.services.image_query_service import parse_filter
from lorairo.services.project_service import ProjectService

from .factories import insert_images


def _project_with(qtbot, window, tags: list[list[str]], name: str = "browse") -> list[int]:  # type: ignore[no-untyped-def]
    project = ProjectService(window.config).create(name)
    ids = insert_images(project, tags)
    project.close()
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project(name)
    return ids


def _filter(qtbot, window, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    bar = window.browser.filter_bar
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        bar.tags.setText(text)
        bar.apply_now()
    return window.browser.model.ids()


def test_tag_filters_and_or_not(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    a, b, c, d = _project_with(
        qtbot, window, [["cat", "long hair"], ["dog", "long hair", "blurry"], ["bird"], ["cat", "blurry"]]
    )
    assert window.browser.model.ids() == [a, b, c, d]
    assert _filter(qtbot, window, "long_hair, cat") == [a]  # AND; underscores as typed by users
    assert _filter(qtbot, window, "cat|dog") == [a, b, d]  # OR
    assert _filter(qtbot, window, "cat|dog, -blurry") == [a]  # NOT
    assert window.browser.filter_bar.count_label.text() == "1 of 4 images"
    assert window.status.count_label.text() == "1 of 4 images"
    assert _filter(qtbot, window, "lizard") == []
    assert window.browser.grid.empty_label.isVisible()
    assert window.browser.grid.empty_label.text() == "No images match this filter."

    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        window.browser.filter_bar.flags["untagged"].setChecked(True)
        window.browser.filter_bar.tags.clear()
        window.browser.filter_bar.apply_now()
    assert window.browser.model.ids() == []  # every image here has tags


def test_favourite_filters_are_saved_and_restored(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    _project_with(qtbot, window, [["cat"], ["dog"]])
    bar = window.browser.filter_bar
    bar.set_filter(parse_filter('"long hair" -blurry score>=6 rating:general untagged'))
    bar.save_favourite("good ones")
    assert bar.favourites_dict() == {"good ones": "long hair, -blurry, score>=6, rating:general, untagged"}
    assert bar.more.text() == "Show only (1) ▾"
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        bar.clear()
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        bar.set_filter_text(bar.favourites_dict()["good ones"])
    assert bar.tags.text() == "long hair, -blurry"
    assert bar.score.value() == (6.0, 10.0)
    assert bar.rating.currentData() == "general"
    assert bar.flags["untagged"].isChecked()
    bar.set_filter_text("score>=oops")
    assert "'oops' is not a number" in bar.error_label.text()


def test_filter_field_takes_the_readme_examples_and_reports_errors_with_their_column(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    a, b, c, d = _project_with(
        qtbot, window, [["Long Hair", "Cat"], ["long_hair", "dog", "Blurry"], ["LONG HAIR", "dog"], ["cat"]]
    )
    # comma = AND, multi-word tags as typed, any case or underscores (returned nothing before)
    assert _filter(qtbot, window, "long hair, cat|dog, -blurry") == [a, c]
    assert _filter(qtbot, window, "Long_Hair -untagged") == [a, b, c]
    bar = window.browser.filter_bar
    bar.tags.setText("long hair, foo:bar")
    bar.apply_now()
    assert "column 12" in bar.error_label.text() and "unknown key 'foo'" in bar.error_label.text()
    assert window.browser.model.ids() == [a, b, c]  # the last good result stays; never a silent "0 results"
    assert bar.minimumSizeHint().width() < 900  # the long message is cut in its row, never widens the window
    assert "keys: tag, caption" in bar.error_label.toolTip()
    assert "long hair, cat|dog, -blurry" in bar.tags.toolTip()  # the grammar is one hover away
    # What the widgets cannot show is loaded into the text, not kept out of sight.
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        bar.set_filter_text("cat, width>=600, -near-duplicates")
    assert bar.tags.text() == "cat, width>=600, -near-duplicates"
    assert window.browser.model.ids() == [a, d]


def test_grid_pages_rows_and_shows_thumbnails(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    count = PAGE_SIZE * 3 + 7
    ids = _project_with(qtbot, window, [["tag"]] * count, name="big")
    model = window.browser.model
    assert model.rowCount() == count
    assert window.status.count_label.text() == f"{count:,} images"
    # The first page is fetched for the visible items, the last one only when the view gets there.
    qtbot.waitUntil(lambda: model.data(model.index(0), ImageRowRole) is not None, timeout=5000)
    middle = ids[PAGE_SIZE * 2 + 3]
    assert model.cached_row(middle) is None
    first = model.data(model.index(0), ImageRowRole)
    qtbot.waitUntil(lambda: model.thumbnails.get(first.hash_value) is not None, timeout=5000)
    assert model.data(model.index(0), Qt.ItemDataRole.DecorationRole).cacheKey() == (
        model.thumbnails.get(first.hash_value).cacheKey()
    )
    window.browser.grid.view.scrollTo(model.index(PAGE_SIZE * 2 + 3))
    qtbot.waitUntil(lambda: model.cached_row(middle) is not None, timeout=5000)

    # adjustable size: the loader drops pixmaps of the old size and the view's icons follow
    window.browser.grid.set_icon_size(96)
    assert window.browser.grid.view.iconSize().width() == 96
    assert model.thumbnails.size == 96

    # select all / keyboard navigation / selection count in the status bar
    window.select_all_action.trigger()
    qtbot.waitUntil(lambda: window.status.selection_label.text() == f"{count:,} selected", timeout=5000)
    assert window.browser.selected_ids() == ids
    view = window.browser.grid.view
    view.setFocus()
    view.setCurrentIndex(model.index(0))
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.currentIndex().row() == 1
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.status.selection_label.text() == "2 selected", timeout=5000)


def test_selection_reaches_the_details_panel_and_export_gets_filter_and_selection(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    a, b, _c = _project_with(qtbot, window, [["cat"], ["dog"], ["cat", "dog"]])
    details = window.panels["DetailsPanel"]
    window.browser.grid.select_ids([a, b])
    qtbot.waitUntil(lambda: details._ids == [a, b], timeout=5000)
    assert window.status.selection_label.text() == "2 selected"

    from lorairo.gui.dialogs import export_dialog

    opened: list[tuple] = []
    monkeypatch.setattr(
        export_dialog.ExportDialog, "exec", lambda self: opened.append((self.session, self.selected_ids))
    )
    window.export_action.trigger()
    assert opened == [(window.session, [a, b])]


def test_edits_and_undo_reach_a_filtered_grid_and_keep_the_selection(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    a, b, c = _project_with(qtbot, window, [["cat"], ["dog"], ["cat", "dog"]])
    assert _filter(qtbot, window, "-blurry") == [a, b, c]
    details = window.panels["DetailsPanel"]

    window.browser.grid.select_ids([b])
    qtbot.waitUntil(lambda: details.details is not None and details.details.image_id == b, timeout=5000)
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):  # the filtered view is queried again
        details.tag_input.setText("smile")
        details.add_button.click()
    assert window.browser.model.ids() == [a, b, c]
    assert window.browser.selected_ids() == [b]  # an edit does not lose the user's selection

    window.browser.grid.select_ids([a])
    qtbot.waitUntil(lambda: details.details is not None and details.details.image_id == a, timeout=5000)
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        details.tag_input.setText("blurry")
        details.add_button.click()
    assert window.browser.model.ids() == [b, c]  # "-blurry" means what it says after the edit too
    assert window.status.count_label.text() == "2 of 3 images"
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        details.undo_stack.undo()
    assert window.browser.model.ids() == [a, b, c]


def test_favourites_saved_in_the_old_syntax_keep_their_meaning(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QSettings

    from lorairo.gui.widgets.filter_bar import LEGACY_FAVOURITES_KEY

    a, _b, _c = _project_with(qtbot, window, [["cat", "dog"], ["cat"], ["long hair", "dog"]])
    # Before the filter language, bare words separated by spaces were separate tags.
    old = {"both": "cat dog", "hair": '"long hair" -cat caption:"red, dress"'}
    QSettings().setValue(LEGACY_FAVOURITES_KEY, json.dumps(old))
    bar = window.browser.filter_bar
    assert bar.favourites_dict() == {"both": "cat, dog", "hair": 'long hair, -cat, caption:"red, dress"'}
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        bar.set_filter_text(bar.favourites_dict()["both"])
    assert window.browser.model.ids() == [a]
