"""The viewer's mask and crop tools, driven with the mouse: what is painted and drawn is stored, undoable, and
exported pixel-aligned with the image after the crop and the bucket resize."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from PySide6.QtCore import QPoint, QPointF, Qt

from lorairo.database.schema import ImageRecord
from lorairo.gui.widgets.region_tools import BRUSH, MODE_CROP, MODE_MASK, RECTANGLE, bucket_for
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export_service import ExportService
from lorairo.services.project_service import ProjectService
from lorairo.services.regions import RegionService
from tests.support.export_data import ImageSpec, add_images, simple_tags

SIZE = (900, 600)
SQUARE = (300, 150, 600, 450)  # left, top, right, bottom: white in the image, painted in the mask


def _open_pattern(qtbot, window, name: str, *, letterbox: bool = False) -> int:  # type: ignore[no-untyped-def]
    project = ProjectService(window.config).create(name)
    (image_id,) = add_images(project, [ImageSpec("pattern.png", SIZE, tags=simple_tags("pattern"))])
    with project.db.session() as s:
        stored = project.root / s.get(ImageRecord, image_id).file_path  # type: ignore[union-attr]
    img = Image.new("RGB", SIZE, (0, 0, 0))
    if letterbox:  # grey content between black bars of 60 px above and below
        ImageDraw.Draw(img).rectangle((0, 60, SIZE[0] - 1, SIZE[1] - 61), fill=(120, 140, 160))
    ImageDraw.Draw(img).rectangle((SQUARE[0], SQUARE[1], SQUARE[2] - 1, SQUARE[3] - 1), fill=(255, 255, 255))
    img.save(stored)
    project.close()
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project(name)
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 1)
    return image_id


def _show(qtbot, window, image_id: int):  # type: ignore[no-untyped-def]
    review = window.review
    review.open_viewer(image_id)
    qtbot.waitUntil(lambda: review.viewer.view.has_image and review.regions.loaded_id == image_id, timeout=10_000)
    return review.regions


def _widget_point(view, x: float, y: float) -> QPoint:  # type: ignore[no-untyped-def]
    target, scale = view.target_rect(), view.scale
    return QPointF(target.left() + x * scale, target.top() + y * scale).toPoint()


def _drag(qtbot, view, start: QPoint, end: QPoint, steps: int = 6) -> None:  # type: ignore[no-untyped-def]
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    for i in range(1, steps + 1):
        qtbot.mouseMove(view, start + (end - start) * i / steps)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=end)


def test_painted_mask_survives_crop_and_bucket_resize_pixel_aligned(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image_id = _open_pattern(qtbot, window, "masks")
    regions = _show(qtbot, window, image_id)
    view = regions.view
    service = RegionService(window.session.project)

    # Mask mode, "Fill rectangle": drag over the white square.
    regions.bar.mode_buttons[MODE_MASK].click()
    regions.bar.brush_buttons[RECTANGLE].click()
    _drag(qtbot, view, _widget_point(view, SQUARE[0], SQUARE[1]), _widget_point(view, SQUARE[2], SQUARE[3]))
    qtbot.waitUntil(lambda: regions.saves_pending == 0 and service.mask_path(image_id) is not None, timeout=10_000)
    stored = np.asarray(Image.open(service.mask_path(image_id)).convert("L")) > 127  # type: ignore[arg-type]
    assert stored.shape == (SIZE[1], SIZE[0])
    expected = np.zeros_like(stored)
    expected[SQUARE[1] : SQUARE[3], SQUARE[0] : SQUARE[2]] = True
    assert (stored != expected).mean() < 0.01

    # Undo (the Edit menu's history) removes the mask, redo brings it back; the viewer shows each.
    stack = window.panels["DetailsPanel"].undo_stack
    stack.undo()
    qtbot.waitUntil(lambda: service.mask_path(image_id) is None and not regions.tool.has_mask, timeout=10_000)
    stack.redo()
    qtbot.waitUntil(lambda: service.mask_path(image_id) is not None and regions.tool.has_mask, timeout=10_000)

    # Crop mode at 512: draw a crop around the square; it snaps to its bucket's aspect and is stored.
    regions.bar.mode_buttons[MODE_CROP].click()
    regions.bar.resolution_combo.setCurrentIndex(regions.bar.resolution_combo.findData(512))
    _drag(qtbot, view, _widget_point(view, 150, 50), _widget_point(view, 750, 550))
    qtbot.waitUntil(lambda: regions.saves_pending == 0 and service.crop(image_id) is not None, timeout=10_000)
    crop = service.crop(image_id)
    assert crop is not None and crop.left <= SQUARE[0] and crop.top <= SQUARE[1]
    bucket = bucket_for(crop.width, crop.height, 512)
    assert abs(crop.width / crop.height - bucket[0] / bucket[1]) < 0.01  # snapped to the bucket's aspect
    assert (
        "bucket" in regions.bar.bucket_label.text() and f"{bucket[0]} × {bucket[1]}" in regions.bar.bucket_label.text()
    )

    project = window.session.project
    export = ExportService(ConfigurationService(), project)
    for fmt, mask_of in (
        ("onetrainer", lambda t: Image.open(t / "pattern-masklabel.png")),
        ("kohya", lambda t: Image.open(next(t.glob("*/pattern.png"))).getchannel("A")),
    ):
        target = tmp_path / fmt
        options = export.default_options(target, format=fmt, resolution=512, trigger_words=("p",), alpha="mask")
        result = export.export(options)
        assert result.cropped == 1 and result.masks_written == 1
        image_file = next(p for p in target.rglob("pattern.png") if "masks" not in p.parts)
        exported = Image.open(image_file)
        assert exported.size == bucket  # the crop, then the bucket resize
        img = np.asarray(exported.convert("L")) > 127
        got = np.asarray(mask_of(target).convert("L")) > 127
        assert img.shape == got.shape
        assert 0.1 < img.mean() < 0.6
        mismatch = (img != got).mean()
        assert mismatch < 0.01, f"{fmt}: mask and image differ on {mismatch:.2%} of pixels"
        if fmt == "kohya":
            config = tomllib.loads((target / "dataset_config.toml").read_text(encoding="utf-8"))
            assert config["datasets"][0]["subsets"][0]["alpha_mask"] is True


def test_brush_paints_under_the_cursor_eraser_removes_and_wheel_sizes_it(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    image_id = _open_pattern(qtbot, window, "brush")
    regions = _show(qtbot, window, image_id)
    view = regions.view
    qtbot.keyClick(view, Qt.Key.Key_M)  # M: the mask tool (V: view, C: crop)
    assert regions.tool.mode == MODE_MASK and regions.bar.mode_buttons[MODE_MASK].isChecked()
    regions.bar.brush_buttons[BRUSH].click()
    qtbot.keyClick(view, Qt.Key.Key_BracketLeft)
    before = regions.tool.brush_size
    assert before < 40
    qtbot.wait(1)
    from PySide6.QtGui import QWheelEvent

    centre = QPointF(_widget_point(view, 450, 300))
    wheel = QWheelEvent(
        centre,
        view.mapToGlobal(centre),
        QPoint(),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    zoom = view.scale
    view.wheelEvent(wheel)
    assert regions.tool.brush_size > before and view.scale == zoom  # the wheel sizes the brush, not the zoom
    assert regions.bar.size_label.text() == f"{regions.tool.brush_size} px"

    _drag(qtbot, view, _widget_point(view, 100, 300), _widget_point(view, 800, 300))
    qtbot.waitUntil(lambda: regions.saves_pending == 0, timeout=10_000)
    mask = regions.tool.mask
    assert mask is not None
    assert mask.pixelColor(450, 300).red() == 255 and mask.pixelColor(450, 50).red() == 0
    regions.bar.brush_buttons["eraser"].click()
    _drag(qtbot, view, _widget_point(view, 100, 300), _widget_point(view, 800, 300))
    qtbot.waitUntil(lambda: regions.saves_pending == 0, timeout=10_000)
    assert regions.tool.mask is not None and regions.tool.mask.pixelColor(450, 300).red() == 0
    stored = RegionService(window.session.project).mask_path(image_id)
    assert stored is not None and Image.open(stored).convert("L").getpixel((450, 300)) == 0


def test_grid_menu_removes_letterbox_borders_and_clears_the_crop(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    image_id = _open_pattern(qtbot, window, "letterbox", letterbox=True)
    review = window.review
    grid = window.browser.grid
    grid.view.setCurrentIndex(window.browser.model.index(0))
    service = RegionService(window.session.project)
    actions = {a.text(): a for a in review.grid_menu().actions()}
    actions["Remove letterbox borders"].trigger()
    qtbot.waitUntil(lambda: service.crop(image_id) is not None and review.regions.saves_pending == 0, timeout=10_000)
    crop = service.crop(image_id)
    assert crop is not None and (crop.top, crop.height) == (60, SIZE[1] - 120)
    # The viewer shows it dimmed outside; "Clear crop" from the menu takes it away, undo brings it back.
    regions = _show(qtbot, window, image_id)
    assert regions.tool.crop is not None
    window.stack.setCurrentWidget(window.browser)
    actions = {a.text(): a for a in review.grid_menu().actions()}
    actions["Clear crop"].trigger()
    qtbot.waitUntil(lambda: service.crop(image_id) is None, timeout=10_000)
    qtbot.waitUntil(lambda: review.regions.saves_pending == 0)  # its result is on the edit history
    window.panels["DetailsPanel"].undo_stack.undo()
    qtbot.waitUntil(lambda: service.crop(image_id) is not None, timeout=10_000)


@given(
    x=st.floats(0, 900),
    y=st.floats(0, 600),
    dx=st.floats(-900, 900),
    dy=st.floats(-600, 600),
    aspect=st.sampled_from([0.25, 0.5, 0.75, 1.0, 4 / 3, 1.5, 2.0, 4.0]),
)
def test_snap_keeps_the_anchor_the_aspect_and_the_image(
    x: float, y: float, dx: float, dy: float, aspect: float
) -> None:
    from PySide6.QtCore import QRectF

    from lorairo.gui.widgets.region_tools import snap_to_aspect

    bounds = QRectF(0, 0, *SIZE)
    anchor = QPointF(x, y)
    moving = QPointF(min(max(x + dx, 0), SIZE[0]), min(max(y + dy, 0), SIZE[1]))
    rect = QRectF(anchor, moving).normalized()
    if rect.width() < 1 or rect.height() < 1:
        return
    snapped = snap_to_aspect(rect, aspect, anchor, bounds)
    eps = 1e-6
    assert snapped.left() >= -eps and snapped.top() >= -eps
    assert snapped.right() <= SIZE[0] + eps and snapped.bottom() <= SIZE[1] + eps
    assert abs(snapped.width() / snapped.height() - aspect) < 1e-6 * max(1.0, aspect)
    assert snapped.width() <= rect.width() + eps or snapped.height() <= rect.height() + eps
    corners = [snapped.topLeft(), snapped.topRight(), snapped.bottomLeft(), snapped.bottomRight()]
    assert min(abs(c.x() - x) + abs(c.y() - y) for c in corners) < 1e-6  # the anchored corner stays put
