"""A Batch API import in the window reaches every view: the grid's cached rows and the details panel reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from image_annotator_lib.testing.fake_providers import FakeProviderServer, start_openai_server
from PIL import Image
from PySide6.QtCore import QItemSelectionModel

from lorairo.gui.widgets.annotate import AnnotatePanel
from lorairo.gui.widgets.details import DetailsPanel
from lorairo.services.annotation_service import AnnotationService
from lorairo.services.batch_annotation_service import BatchAnnotationService
from lorairo.services.changes import Changes
from lorairo.services.image_processing_service import ImageProcessingService
from tests.support.models import register_batch_cloud_model


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    srv = start_openai_server()
    yield srv
    srv.stop()


def test_importing_batch_results_refreshes_the_details_and_the_grid(  # type: ignore[no-untyped-def]
    qtbot, window, server: FakeProviderServer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i, name in enumerate(("a.png", "b.png")):
        image = Image.new("RGB", (80, 60), (30 + 100 * i, 90, 200 - 80 * i))
        image.paste((255, 255, 255), (0, 0, 30 * (i + 1), 20))  # not near-duplicates of each other
        image.save(src / name)
    register_batch_cloud_model(server.openai_base_url)
    config = window.session.config
    config.update_setting("api", "openai_key", "sk-test-batch-0123456789abcdef")
    config.update_setting("directories", "batch_results_dir", str(tmp_path / "batch_results"))
    project = window.session.projects.create("batch-gui")
    ImageProcessingService(config, project).import_paths([src], jobs=1)
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.session.set_project(project)
    ids = window.browser.model.ids()
    service = BatchAnnotationService(AnnotationService(config, project))
    job = service.submit(ids, "loopback-gpt")
    while service.refresh(job.id).status != "completed":  # the loopback provider completes on the second ask
        pass

    details: DetailsPanel = window.panels["DetailsPanel"]
    details.show_images([ids[0]])
    qtbot.waitUntil(lambda: details.details is not None and details.details.image_id == ids[0], timeout=5000)
    assert details.details.captions == ()
    batches = window.panels["AnnotatePanel"].batches
    assert isinstance(window.panels["AnnotatePanel"], AnnotatePanel)
    batches.reload()
    qtbot.waitUntil(lambda: batches.table.rowCount() == 1, timeout=5000)
    batches.table.selectionModel().select(batches.table.model().index(0, 0), QItemSelectionModel.SelectionFlag.Select)
    changed: list[Changes] = []
    window.session.changed.connect(changed.append)
    repainted: list[tuple[int, int]] = []
    window.browser.model.dataChanged.connect(lambda first, last, *_: repainted.append((first.row(), last.row())))
    batches.import_button.click()

    qtbot.waitUntil(lambda: bool(changed), timeout=15_000)
    assert set(ids) <= changed[0].image_ids and changed[0].captions
    # The details panel reloaded the image it shows: the model's caption is there without reselecting.
    qtbot.waitUntil(lambda: details.details is not None and details.details.captions != (), timeout=5000)
    # The grid was told to fetch those rows again (before: nothing refreshed after a Batch import).
    assert (0, len(ids) - 1) in repainted
