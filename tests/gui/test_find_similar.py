"""Find similar and text search in the window: the grid's context menu / S key set `similar:#ID`, the grid shows the
nearest images ranked, Back returns to the previous filter; an image without an embedding says so and offers to
compute it; `similar:"text"` typed in the filter bar ranks the planted colour first. A generated tiny CLIP (vision
and text towers, tokenizer.json) registered the way a user registers a model."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import QItemSelectionModel, Qt
from sqlalchemy import select

from lorairo.database.schema import ImageRecord
from lorairo.services.annotation_service import configure_annotator_library
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.embeddings.service import EmbeddingService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.project_service import ProjectService
from tests.support.models import register_tiny_clip

COLOURS = {
    "red_a.png": (230, 20, 20),
    "red_b.png": (240, 60, 10),
    "green_a.png": (20, 200, 40),
    "green_b.png": (50, 170, 30),
    "blue_a.png": (20, 30, 220),
    "white.png": (250, 250, 250),
}


def _image(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> None:
    image = Image.new("RGB", size, colour)
    image.paste((0, 0, 0), (0, 0, size[0] // 12, size[1] // 8))
    image.save(path)


def _project(tmp_path: Path) -> dict[str, int]:
    """A project of planted colours with tiny-clip embeddings, and one image imported after them (no embedding)."""
    src, late = tmp_path / "src", tmp_path / "late"
    src.mkdir()
    late.mkdir()
    for name, colour in COLOURS.items():
        _image(src / name, colour)
    with Image.open(src / "red_a.png") as red:
        red.resize((192, 128), Image.Resampling.BICUBIC).save(src / "red_copy.png")
    _image(late / "late_green.png", (30, 190, 35))
    config = ConfigurationService()
    register_tiny_clip(tmp_path / "tiny-clip")
    configure_annotator_library(config)
    project = ProjectService(config).create("similar")
    try:
        ImageProcessingService(config, project).import_paths([src], jobs=1)
        assert EmbeddingService(project).embed("tiny-clip").failed == 0
        ImageProcessingService(config, project).import_paths([late], jobs=1)
        with project.db.session() as s:
            return {name: int(i) for i, name in s.execute(select(ImageRecord.id, ImageRecord.file_name))}
    finally:
        project.close()


def _open(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project("similar")
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 8, timeout=10_000)


def _select(window, image_id: int) -> None:  # type: ignore[no-untyped-def]
    view, model = window.browser.grid.view, window.browser.model
    row = next(r for r in range(model.rowCount()) if model.image_id(r) == image_id)
    view.selectionModel().setCurrentIndex(model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    window.browser.grid.flush_selection()


def _grid_ids(window) -> list[int]:  # type: ignore[no-untyped-def]
    model = window.browser.model
    return [model.image_id(r) for r in range(model.rowCount())]


def test_find_similar_from_the_context_menu_ranks_and_back_returns(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = _project(tmp_path)
    _open(qtbot, window)
    bar = window.browser.filter_bar
    bar.set_filter_text("-excluded")  # the filter the user had before
    qtbot.waitUntil(lambda: len(_grid_ids(window)) == 8, timeout=10_000)

    _select(window, ids["red_a.png"])
    menu = window.review.grid_menu()
    find = next(a for a in menu.actions() if a.text().startswith("Find similar images"))
    assert find.isEnabled()
    with qtbot.waitSignal(window.browser.query_finished, timeout=20_000):
        find.trigger()
    # The image itself first, then its resized copy, then the other red; the late image has no embedding.
    assert _grid_ids(window)[:3] == [ids["red_a.png"], ids["red_copy.png"], ids["red_b.png"]]
    assert ids["late_green.png"] not in _grid_ids(window)
    assert bar.tags.text() == f"similar:#{ids['red_a.png']}"
    assert "Most similar first (tiny-clip)" in bar.error_label.text()
    assert "1 images without an embedding are left out" in bar.error_label.text()
    assert bar.back_button.isVisible()
    assert not window.review.sort_combo.isEnabled()  # the ranking is the order

    with qtbot.waitSignal(window.browser.query_finished, timeout=10_000):
        bar.back_button.click()
    assert bar.tags.text() == "-excluded" and not bar.back_button.isVisible()
    assert len(_grid_ids(window)) == 8 and window.review.sort_combo.isEnabled()


def test_find_similar_of_an_image_without_an_embedding_offers_to_compute_it(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = _project(tmp_path)
    _open(qtbot, window)
    bar = window.browser.filter_bar
    _select(window, ids["late_green.png"])
    window.browser.grid.view.setFocus()
    with qtbot.waitSignal(window.browser.query_failed, timeout=20_000) as failed:
        qtbot.keyClick(window.browser.grid.view, Qt.Key.Key_S)  # the grid's key for Find similar
    assert f"image {ids['late_green.png']} has no embedding of tiny-clip" in failed.args[0]
    assert bar.error_action.isVisible() and bar.error_action.text() == "Compute embeddings (tiny-clip)"
    assert len(_grid_ids(window)) == 8  # the grid keeps what it showed

    with qtbot.waitSignal(window.browser.query_finished, timeout=60_000):
        bar.error_action.click()  # embeds what is missing, then runs the search again
    assert _grid_ids(window)[0] == ids["late_green.png"]
    assert set(_grid_ids(window)[1:3]) == {ids["green_a.png"], ids["green_b.png"]}
    assert "left out" not in bar.error_label.text()


def test_text_search_in_the_filter_bar_ranks_the_planted_colour_first(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = _project(tmp_path)
    _open(qtbot, window)
    bar = window.browser.filter_bar
    with qtbot.waitSignal(window.browser.query_finished, timeout=20_000):
        bar.tags.setText('similar:"a BLUE dress on a beach" top:3')
        bar.apply_now()
    assert _grid_ids(window)[0] == ids["blue_a.png"] and len(_grid_ids(window)) == 3
    assert bar.count_label.text().startswith("3 of 8")
    # Other terms narrow the candidates first; the ranking orders what is left.
    with qtbot.waitSignal(window.browser.query_finished, timeout=20_000):
        bar.tags.setText('name:red, similar:"red"')
        bar.apply_now()
    assert set(_grid_ids(window)) == {ids["red_a.png"], ids["red_b.png"], ids["red_copy.png"]}
    # An empty text is a syntax error under the bar, before anything runs.
    bar.tags.setText('similar:"  "')
    bar.apply_now()
    assert "empty" in bar.error_label.text() and not bar.error_action.isVisible()
