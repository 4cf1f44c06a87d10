"""The review loop without the mouse: grid -> tag field -> three tags -> next image, 20 times; the viewer;
Delete excludes (undoable); bad tag text is refused with a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from lorairo.database.schema import ImageRecord, TagRecord
from lorairo.services.project_service import ProjectService

from .factories import insert_images


def _open(qtbot, window, count: int, name: str = "review") -> list[int]:  # type: ignore[no-untyped-def]
    project = ProjectService(window.config).create(name)
    ids = insert_images(project, [[] for _ in range(count)])
    project.close()
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project(name)
    return ids


def _press(qtbot, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:  # type: ignore[no-untyped-def]
    """A key to whatever has the keyboard focus, as a user's keystroke would go."""
    target = QApplication.focusWidget()
    assert target is not None, "nothing has the keyboard focus"
    qtbot.keyClick(target, key, modifier)


def _type(qtbot, text: str) -> None:  # type: ignore[no-untyped-def]
    target = QApplication.focusWidget()
    assert target is not None
    qtbot.keyClicks(target, text)


def _manual_tags(window) -> dict[int, list[str]]:  # type: ignore[no-untyped-def]
    tags: dict[int, list[str]] = {}
    with window.session.project.db.session() as s:
        for image_id, tag in s.execute(
            select(TagRecord.image_id, TagRecord.tag).where(TagRecord.source == "manual").order_by(TagRecord.id)
        ):
            tags.setdefault(image_id, []).append(tag)
    return tags


def test_tag_twenty_images_three_tags_each_with_the_keyboard_only(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    ids = _open(qtbot, window, 20)
    window.activateWindow()
    qtbot.waitUntil(lambda: window.browser.grid.view.hasFocus())  # the grid has the focus after opening
    panel = window.panels["DetailsPanel"]

    # The sequence of docs/shortcuts.md: Home, Enter; then per image: tag Enter tag Enter tag Ctrl+Enter.
    _press(qtbot, Qt.Key.Key_Home)
    _press(qtbot, Qt.Key.Key_Return)
    assert QApplication.focusWidget() is panel.tag_input
    for n in range(20):
        for k in range(3):
            _type(qtbot, f"tag {n} {k}")
            if k < 2:
                _press(qtbot, Qt.Key.Key_Return)  # adds, the cursor stays in the field
                assert QApplication.focusWidget() is panel.tag_input
        _press(qtbot, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # saves, next image
        assert QApplication.focusWidget() is panel.tag_input

    expected = {image_id: [f"tag {n} {k}" for k in range(3)] for n, image_id in enumerate(ids)}
    qtbot.waitUntil(lambda: _manual_tags(window) == expected, timeout=20_000)
    assert panel.image_ids == [ids[-1]]  # the last Ctrl+Enter had no next image: it stays on the last one
    _press(qtbot, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert panel.image_ids == [ids[-2]] and QApplication.focusWidget() is panel.tag_input
    _press(qtbot, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is window.browser.grid.view


def test_delete_excludes_the_selection_and_undo_takes_it_back(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    ids = _open(qtbot, window, 4, "exclude")
    window.browser.grid.select_ids(ids[:2])
    window.browser.grid.view.setFocus()
    qtbot.keyClick(window.browser.grid.view, Qt.Key.Key_Delete)

    def excluded() -> list[int]:
        with window.session.project.db.session() as s:
            return sorted(s.scalars(select(ImageRecord.id).where(ImageRecord.excluded.is_(True))))

    qtbot.waitUntil(lambda: excluded() == ids[:2], timeout=15_000)
    model = window.browser.model
    model.data(model.index(0), Qt.ItemDataRole.DisplayRole)  # the grid asks for the row (it is re-fetched)
    qtbot.waitUntil(lambda: (row := model.cached_row(ids[0])) is not None and row.excluded, timeout=15_000)
    window.panels["DetailsPanel"].undo_stack.undo()
    qtbot.waitUntil(lambda: excluded() == [], timeout=15_000)


def test_tag_text_with_separator_or_too_long_is_refused_with_a_message(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    ids = _open(qtbot, window, 1, "bad")
    window.browser.grid.select_ids(ids)
    panel = window.panels["DetailsPanel"]
    qtbot.waitUntil(lambda: panel.image_ids == ids)
    panel.tag_input.setText("cat ||| dog")
    panel.view.add_from_input()
    assert "|||" in panel.view.input_error.text() and panel.view.input_error.isVisible()
    assert panel.tag_input.text() == "cat ||| dog"  # kept for the user to fix
    panel.tag_input.setText("x" * 300)
    panel.view.add_from_input()
    assert "300 characters" in panel.view.input_error.text()
    panel.tag_input.setText("red, round")  # commas split into tags
    panel.view.add_from_input()
    assert not panel.view.input_error.isVisible()
    qtbot.waitUntil(lambda: _manual_tags(window) == {ids[0]: ["red", "round"]})


def _photo(folder: Path, name: str, size: tuple[int, int], orientation: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (200, 80, 40))
    path = folder / name
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, "JPEG", exif=exif.tobytes())
    return path


def test_decode_for_view_is_upright_and_no_larger_than_shown(tmp_path: Path) -> None:
    from lorairo.gui.widgets.viewer import decode_for_view

    path = _photo(tmp_path, "rotated.jpg", (4000, 3000), orientation=6)  # stored landscape, shown portrait
    small = decode_for_view(path, QSize(800, 800))
    assert (small.full_size.width(), small.full_size.height()) == (3000, 4000)
    assert small.image.height() <= 800 and small.image.width() < small.image.height()
    full = decode_for_view(path, None)
    assert (full.image.width(), full.image.height()) == (3000, 4000) and full.is_full


def test_pillow_fallback_logs_pillows_warnings_with_the_file_name(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Files Qt cannot decode go through Pillow: its "Corrupt EXIF data" warnings reach the log, not stderr."""
    import struct

    from loguru import logger

    from lorairo.gui.widgets.view_decode import _decode_with_pillow

    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x010F, 2, 100, 1000) + struct.pack("<I", 0)
    path = tmp_path / "exif.webp"
    Image.new("RGB", (64, 48), (10, 20, 30)).save(path, "WEBP", exif=b"Exif\x00\x00" + tiff)
    capfd.readouterr()
    messages: list[str] = []
    sink = logger.add(messages.append, level="WARNING", format="{message}")
    try:
        image = _decode_with_pillow(path, "unsupported", QSize(32, 32))
    finally:
        logger.remove(sink)
    assert (image.width(), image.height()) == (32, 24)
    assert "Tag data larger than file" not in capfd.readouterr().err
    assert any("exif.webp" in m and "Tag data larger than file" in m for m in messages), messages


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_the_scaled_jpeg_decode_is_turned_like_the_full_one(tmp_path: Path, orientation: int) -> None:
    from lorairo.gui.widgets.viewer import decode_for_view

    image = Image.new("RGB", (4000, 3000), (220, 30, 30))
    image.paste((30, 30, 220), (0, 0, 1000, 1000))  # a blue corner shows where the stored top-left went
    path = tmp_path / f"o{orientation}.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, "JPEG", exif=exif.tobytes())
    small = decode_for_view(path, QSize(900, 900))
    full = decode_for_view(path, None)
    assert small.full_size == full.full_size == full.image.size()
    assert small.image.width() < full.image.width()
    for fx, fy in ((0.05, 0.05), (0.95, 0.05), (0.05, 0.95), (0.95, 0.95)):
        a = small.image.pixelColor(int(fx * small.image.width()), int(fy * small.image.height()))
        b = full.image.pixelColor(int(fx * full.image.width()), int(fy * full.image.height()))
        assert abs(a.blue() - b.blue()) < 40 and abs(a.red() - b.red()) < 40, (orientation, fx, fy)


def test_viewer_opens_zooms_navigates_and_reports_a_broken_file(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "photos"
    _photo(folder, "a.jpg", (1600, 1200))
    _photo(folder, "b.jpg", (900, 1200))
    project = ProjectService(window.config).create("viewer")
    project.close()
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project("viewer")
    with qtbot.waitSignal(window.imports.finished, timeout=30_000):
        window.import_paths([str(folder)])
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 2)
    review = window.review
    grid = window.browser.grid
    grid.view.setFocus()
    grid.view.setCurrentIndex(window.browser.model.index(0))
    qtbot.keyClick(grid.view, Qt.Key.Key_Space)
    assert window.stack.currentWidget() is review.viewer
    view = review.viewer.view
    qtbot.waitUntil(lambda: view.has_image, timeout=10_000)
    assert view.is_fit and view.full_size() == QSize(1600, 1200)
    decoded = view.decoded_size()
    assert decoded is not None and decoded.width() <= max(view.width(), 1200) * 2

    # Wheel zoom keeps the image point under the cursor where it was.
    anchor = QPointF(view.width() * 0.3, view.height() * 0.4)
    before = view.image_point(anchor)
    view.zoom_by(3.0, anchor)
    after = view.image_point(anchor)
    assert abs(before.x() - after.x()) < 1 and abs(before.y() - after.y()) < 1
    view.actual_size()
    assert view.scale == 1.0
    qtbot.waitUntil(lambda: view.decoded_size() == QSize(1600, 1200), timeout=10_000)  # full res when zoomed

    qtbot.keyClick(view, Qt.Key.Key_Right)  # next image; the details panel follows
    second = window.browser.model.image_id(1)
    panel = window.panels["DetailsPanel"]
    assert panel.image_ids == [second]
    qtbot.waitUntil(lambda: view.has_image and view.full_size() == QSize(900, 1200), timeout=10_000)

    # The file vanishes: the viewer says so instead of failing.
    path, _name = review._lookup(second)
    path.unlink()
    review.viewer.cache.clear()  # decoded while it existed: a fresh decode must report the missing file
    review.viewer.show_image(second)
    qtbot.waitUntil(lambda: "Cannot show this image" in view.message, timeout=10_000)

    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert window.stack.currentWidget() is window.browser

    grid.select_ids(window.browser.model.ids())
    assert review.compare_selection() and review.viewer.comparing


def test_docs_list_every_shortcut() -> None:
    from lorairo.gui.widgets.review import SHORTCUTS

    text = (Path(__file__).parents[2] / "docs" / "shortcuts.md").read_text(encoding="utf-8")
    for where, keys, does in SHORTCUTS:
        assert f"| {where} | {keys} | {does} |" in text


def test_tags_panel_counts_filters_and_renames_across_the_project_with_undo(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    project = ProjectService(window.config).create("tagspanel")
    ids = insert_images(project, [["kitty", "smile"], ["kitty", "cat"], ["cat"], ["dog"]])
    project.close()
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project("tagspanel")
    tags = window.review.tags_panel
    qtbot.waitUntil(lambda: tags.counts() == {"kitty": 2, "cat": 2, "smile": 1, "dog": 1})
    assert tags.visible_tags()[:2] == ["cat", "kitty"]  # by count, then name
    tags.sort.setCurrentIndex(1)  # by name
    assert tags.visible_tags() == ["cat", "dog", "kitty", "smile"]
    tags.search.setText("itt")  # substring
    assert tags.visible_tags() == ["kitty"] and tags.summary.text() == "1 of 4 tags"
    tags.search.clear()

    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        tags.filter_by("kitty")
    assert window.browser.model.ids() == ids[:2]
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        tags.filter_by("cat", add=True)  # Ctrl+click: kitty AND cat
    assert window.browser.model.ids() == [ids[1]]
    tags.scope.setChecked(True)  # count only what the filter shows
    qtbot.waitUntil(lambda: tags.counts() == {"kitty": 1, "cat": 1})
    tags.scope.setChecked(False)
    qtbot.waitUntil(lambda: len(tags.counts()) == 4)

    asked: list[str] = []
    tags.ask_text = lambda *_a: "cat"  # type: ignore[method-assign]
    tags.confirm = lambda _title, text: asked.append(text) or True  # type: ignore[method-assign]
    tags.ask_rename("kitty")  # onto an existing tag: a merge, with both counts shown first
    qtbot.waitUntil(lambda: tags.counts() == {"cat": 3, "smile": 1, "dog": 1}, timeout=10_000)
    assert "already exists on 2 images" in asked[0] and "(2 images)" in asked[0]
    window.panels["DetailsPanel"].undo_stack.undo()  # one step takes the whole rename back
    qtbot.waitUntil(lambda: tags.counts() == {"kitty": 2, "cat": 2, "smile": 1, "dog": 1}, timeout=10_000)
    tags.ask_delete("cat")
    qtbot.waitUntil(lambda: "cat" not in tags.counts(), timeout=10_000)
    assert asked[-1].startswith("Delete 'cat' from 2 images")


def test_grid_sorts_remembers_the_order_shows_overlays_and_has_a_context_menu(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QSettings

    from lorairo.gui.models.image_list_model import BadgesRole
    from lorairo.services.edit_service import EditService

    ids = _open(qtbot, window, 3, "sorting")
    project = window.session.project
    service = EditService(project)
    service.add_tags([ids[1]], ["a", "b", "c"])
    service.add_tags([ids[2]], ["a"])
    service.set_caption(ids[2], "a photo")
    review = window.review
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        review.sort_combo.setCurrentIndex(review.sort_combo.findData("tags"))
    assert window.browser.model.ids() == [ids[1], ids[2], ids[0]]  # most tags first, untagged last
    assert QSettings().value("grid/sort") == "tags"

    model = window.browser.model
    model.data(model.index(0), Qt.ItemDataRole.DisplayRole)  # the grid asks for the page
    qtbot.waitUntil(lambda: model.data(model.index(2), BadgesRole) is not None)
    assert model.data(model.index(0), BadgesRole).tag_count == 3
    second = model.data(model.index(1), BadgesRole)
    assert second.has_caption and second.tag_count == 1
    assert model.data(model.index(2), BadgesRole).tag_count == 0
    window.browser.grid.view.grab()  # paints the overlays without error
    review.overlays_action.setChecked(False)
    assert not window.browser.grid.view.itemDelegate().show_overlays
    assert QSettings().value("grid/overlays") == "false"

    window.browser.grid.select_ids(ids[:2])
    window.browser.grid.flush_selection()
    labels = [a.text().split("\t")[0] for a in review.grid_menu().actions() if a.text()]
    assert labels == [
        "Open in viewer",
        "Compare side by side",
        "Find similar images",
        "Exclude from export (2 images)",
        "Include in export (2 images)",
        "Copy paths",
        "Show in file manager",
        "Annotate selection (2 images)…",
        "Auto mask (background removal) (2 images)…",
        "Export selection (2 images)…",
        "Mask from alpha (2 images)",
        "Remove letterbox borders (2 images)",
        "Clear mask (2 images)",
        "Clear crop (2 images)",
    ]
    review.copy_paths(ids[:2])
    qtbot.waitUntil(lambda: QApplication.clipboard().text().count("\n") == 1)
    assert QApplication.clipboard().text().splitlines()[0].endswith("img_0.png")


def test_statistics_view_plots_the_project_and_filters_by_a_clicked_tag(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    ids = _open(qtbot, window, 3, "stats")
    from lorairo.services.edit_service import EditService

    EditService(window.session.project).add_tags(ids[:2], ["cat"])
    review = window.review
    with qtbot.waitSignal(review.statistics.loaded, timeout=10_000) as loaded:
        review.statistics_dock.show()
    stats = loaded.args[0]
    assert stats.image_count == 3 and [(t.tag, t.count) for t in stats.tags] == [("cat", 2)]
    assert review.statistics.tag_at(0.1) == "cat" and review.statistics.tag_at(1.0) is None
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        review.statistics.tag_clicked.emit("cat")
    assert window.browser.model.ids() == ids[:2]
    review.statistics.grab()  # every tab paints
    for tab in range(review.statistics.tabs.count()):
        review.statistics.tabs.setCurrentIndex(tab)
        review.statistics.tabs.currentWidget().grab()


def test_ctrl_enter_moves_on_even_while_suggestions_are_open(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    ids = _open(qtbot, window, 2, "popup")
    from lorairo.services.edit_service import EditService

    EditService(window.session.project).add_tags([ids[1]], ["long hair"])
    window.activateWindow()
    qtbot.waitUntil(lambda: window.browser.grid.view.hasFocus())
    panel = window.panels["DetailsPanel"]
    _press(qtbot, Qt.Key.Key_Home)
    _press(qtbot, Qt.Key.Key_Return)
    _type(qtbot, "long")
    popup = panel.tag_input.completer_.popup()
    qtbot.waitUntil(lambda: popup.isVisible(), timeout=10_000)  # the project's "long hair" is suggested
    qtbot.keyClick(popup, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # the popup has the keys
    assert panel.image_ids == [ids[1]] and not popup.isVisible()
    qtbot.waitUntil(lambda: _manual_tags(window).get(ids[0]) == ["long"])


def test_a_corrupt_file_raises_a_message_naming_it(tmp_path: Path) -> None:
    import pytest

    from lorairo.exceptions import ImageProcessingError
    from lorairo.gui.widgets.viewer import decode_for_view

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageProcessingError, match=r"broken\.jpg: cannot decode"):
        decode_for_view(broken, QSize(800, 600))


def test_the_viewer_says_which_file_it_cannot_decode(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A corrupt file (not a missing one) shows its message in the viewer, the viewer keeps working, and a broken
    neighbour that was prefetched says nothing until the user gets there."""
    from lorairo.gui.widgets.viewer import ImageViewer
    from lorairo.gui.workers import JobManager

    good = _photo(tmp_path, "good.jpg", (1200, 900))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    errors: list[object] = []
    jobs = JobManager()
    jobs.error_reported.connect(errors.append)
    viewer = ImageViewer(jobs, lambda i: (good, "good.jpg") if i == 1 else (broken, "broken.jpg"))
    qtbot.addWidget(viewer)
    viewer.resize(800, 600)
    viewer.show()
    viewer.show_image(1)
    qtbot.waitUntil(lambda: viewer.view.has_image, timeout=10_000)
    viewer.prefetch([broken])
    target = viewer.panes[0].target_size()
    qtbot.waitUntil(lambda: not viewer.cache.pending, timeout=10_000)
    assert viewer.cache.get(broken, target) is None and errors == []  # quiet while the user is elsewhere
    viewer.show_image(2)
    qtbot.waitUntil(lambda: "Cannot show this image" in viewer.view.message, timeout=10_000)
    assert "broken.jpg: cannot decode" in viewer.view.message and not viewer.view.has_image
    viewer.show_image(1)  # and on to a good one
    qtbot.waitUntil(lambda: viewer.view.has_image, timeout=10_000)
    jobs.shutdown()


def test_viewer_prefetches_the_next_image(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lorairo.gui.widgets.viewer import ImageViewer
    from lorairo.gui.workers import JobManager

    first, second = _photo(tmp_path, "a.jpg", (1600, 1200)), _photo(tmp_path, "b.jpg", (1200, 1600))
    jobs = JobManager()
    viewer = ImageViewer(jobs, lambda i: (first if i == 1 else second, f"{i}.jpg"))
    qtbot.addWidget(viewer)
    viewer.resize(800, 600)
    viewer.show()
    viewer.show_image(1, (first, "a.jpg"))
    qtbot.waitUntil(lambda: viewer.view.has_image, timeout=10_000)
    viewer.prefetch([second])
    target = viewer.panes[0].target_size()
    qtbot.waitUntil(lambda: viewer.cache.get(second, target) is not None, timeout=10_000)
    viewer.show_image(2, (second, "b.jpg"))
    assert viewer.view.has_image and viewer.view.full_size() == QSize(1200, 1600)  # at once, from the cache
    jobs.shutdown()


def test_near_duplicate_review_compares_in_the_viewer(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    from lorairo.database.schema import NearDuplicateRecord

    ids = _open(qtbot, window, 3, "neardup")
    with window.session.project.db.session(write=True) as s:
        s.add(NearDuplicateRecord(image_id=ids[1], match_image_id=ids[0], distance=2))
    dialog = window.panels["DetailsPanel"].open_near_duplicates()
    qtbot.waitUntil(lambda: len(dialog.cards) == 2, timeout=10_000)
    pair = dialog.compare_current()
    assert pair is not None and set(pair) == set(ids[:2])
    assert window.stack.currentWidget() is window.review.viewer and window.review.viewer.comparing
    qtbot.waitUntil(lambda: set(window.review.viewer.image_ids()) == set(ids[:2]))
    dialog.close()


def test_neighbours_are_prefetched_only_once_the_image_asked_for_is_shown(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On two cores a neighbour decoding beside the image being opened slows the open the user waits for."""
    from lorairo.gui.widgets.viewer import ImageViewer
    from lorairo.gui.workers import JobManager

    first, second = _photo(tmp_path, "a.jpg", (1600, 1200)), _photo(tmp_path, "b.jpg", (1200, 1600))
    jobs = JobManager()
    viewer = ImageViewer(jobs, lambda i: (first if i == 1 else second, f"{i}.jpg"))
    qtbot.addWidget(viewer)
    viewer.resize(800, 600)
    viewer.show()
    viewer.show_image(1)  # the look-up, then the decode, both on workers
    viewer.prefetch([second])
    assert not viewer.cache.pending  # deferred: nothing decodes beside the image asked for
    qtbot.waitUntil(lambda: viewer.view.has_image, timeout=10_000)
    target = viewer.panes[0].target_size()
    qtbot.waitUntil(lambda: viewer.cache.get(second, target) is not None, timeout=10_000)
    jobs.shutdown()
