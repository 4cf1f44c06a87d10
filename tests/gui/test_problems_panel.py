"""The Problems view: each quality check with its count, a slider that previews another threshold, a click
that filters the grid by the check."""

from __future__ import annotations

from lorairo.database.schema import ImageQualityRecord
from lorairo.services.project_service import ProjectService

from .factories import insert_images

_SHARP = {
    "sharpness": 800.0,
    "brightness": 0.45,
    "clipped_dark": 0.0,
    "clipped_bright": 0.0,
    "entropy": 7.2,
    "saturation": 0.2,
    "jpeg_quality": None,
    "border_fraction": 0.0,
}


def test_problems_panel_counts_previews_and_filters_the_grid(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    project = ProjectService(window.config).create("problems")
    sharp, blurry, soft, unmeasured = insert_images(project, [[], [], [], []])
    with project.db.session(write=True) as s:
        s.add(ImageQualityRecord(image_id=sharp, **_SHARP))
        s.add(ImageQualityRecord(image_id=blurry, **{**_SHARP, "sharpness": 5.0, "saturation": 0.0}))
        s.add(ImageQualityRecord(image_id=soft, **{**_SHARP, "sharpness": 120.0}))
    project.close()
    panel = window.problems
    assert window.problems_dock.toggleViewAction() in window.view_menu.actions()
    window.problems_dock.show()
    window.problems_dock.raise_()  # a tab behind the details at first: it counts only when shown
    with qtbot.waitSignal(panel.counts_loaded, timeout=10_000) as loaded:
        window.open_project("problems")
    counts = loaded.args[0]
    assert counts["blurry"] == 1 and counts["greyscale"] == 1 and counts["dark"] == 0
    assert counts["needs-upscale"] == 4  # 640x480 < export.resolution 1024
    assert panel.rows["blurry"].count.text() == "1"
    assert "1 image(s) have no quality metrics" in panel.summary.text()  # `unmeasured` is skipped, said so
    assert panel.measure_button.isVisibleTo(panel)

    # The slider previews: at 150 the soft image is flagged too; the configured threshold is unchanged.
    with qtbot.waitSignal(panel.preview_loaded, timeout=5000, check_params_cb=lambda c, _n: c == "blurry") as seen:
        panel.preview("blurry", 150.0)
    assert seen.args == ["blurry", 2]
    assert "2 at this value" in panel.rows["blurry"].preview.text()

    # Clicking a check filters the grid by it.
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        panel.rows["blurry"].button.click()
    assert window.browser.model.ids() == [blurry]
    assert window.browser.filter_bar.tags.text() == "quality:blurry"
    with qtbot.waitSignal(window.browser.query_finished, timeout=5000):
        panel.rows["greyscale"].button.click()
    assert window.browser.model.ids() == [blurry]
    assert unmeasured not in window.browser.model.ids()
