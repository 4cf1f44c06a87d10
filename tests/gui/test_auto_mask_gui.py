"""The grid's "Auto mask (background removal)…" runs the chosen matte model as a job and stores the masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QInputDialog

from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.project_service import ProjectService
from lorairo.services.regions import RegionService
from tests.support.models import register_tiny_matte


def test_grid_menu_auto_mask_stores_masks_and_broadcasts_them(
    qtbot, window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    src.mkdir()
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[8:24, 8:24, 0] = 240  # a red square: the tiny model's foreground
    Image.fromarray(rgb).save(src / "a.png")
    Image.fromarray(np.roll(rgb, 5, axis=1)).save(src / "b.png")  # the same square moved: another image
    config = ConfigurationService()
    project = ProjectService(config).create("automask")
    ImageProcessingService(config, project).import_paths([src], jobs=1)
    project.close()
    tiny = register_tiny_matte(tmp_path / "model")
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project("automask")
    ids = window.browser.model.ids()
    assert len(ids) == 2
    window.browser.grid.select_ids(ids)
    window.browser.grid.flush_selection()

    asked: list[list[str]] = []

    def choose(_parent, _title, _label, items, *_args):  # type: ignore[no-untyped-def]
        asked.append(list(items))
        return "tiny-rmbg", True

    monkeypatch.setattr(QInputDialog, "getItem", choose)
    changed: list[set[int]] = []
    window.session.changed.connect(lambda changes: changed.append(set(changes.image_ids)))
    menu = window.review.grid_menu()
    action = next(a for a in menu.actions() if a.text().startswith("Auto mask (background removal)"))
    assert action.isEnabled()
    action.trigger()
    qtbot.waitUntil(lambda: window.review.auto_mask.last_summary is not None, timeout=30_000)
    summary = window.review.auto_mask.last_summary
    assert "tiny-rmbg" in asked[0] and "rmbg-1.4 (downloads on first use)" in asked[0]
    assert sorted(summary.masked) == sorted(ids) and summary.failures == ()
    assert set().union(*changed) == set(ids)
    regions = RegionService(window.session.project)
    for image_id in ids:
        path = regions.mask_path(image_id)
        assert path is not None
        with Image.open(path) as mask:
            stored = np.asarray(mask)
        assert (stored == 255).sum() == (tiny.foreground(rgb)).sum()
    assert "2 masked" in window.status.currentMessage()
