"""The Annotate panel in the main window: models by kind, progress, cancel, results reaching the details."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from sqlalchemy import text

from lorairo.gui.widgets.annotate import AnnotatePanel
from lorairo.gui.widgets.annotate.model_picker import KIND_TITLES
from lorairo.services.changes import Changes
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.storage.embeddings import EmbeddingStore
from tests.support.models import register_tiny_clip, register_tiny_tagger


@pytest.fixture
def loaded(window, qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A main window with an open project of 6 imported images and the tiny tagger registered."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        Image.new("RGB", (80, 60), (40 * i, 255 - 40 * i, 90)).save(src / f"img{i}.png")
    register_tiny_tagger(tmp_path / "tiny")
    register_tiny_clip(tmp_path / "clip")
    session = window.session
    project = session.projects.create("gui-annotate")
    ImageProcessingService(session.config, project).import_paths([src], jobs=1)
    session.set_project(project)
    panel: AnnotatePanel = window.panels["AnnotatePanel"]
    window.panel_docks["AnnotatePanel"].raise_()  # its tab chosen: the estimate runs while the panel is seen
    qtbot.waitUntil(lambda: panel.picker.topLevelItemCount() > 0, timeout=15000)
    return window, panel


def model_item(panel: AnnotatePanel, name: str):  # type: ignore[no-untyped-def]
    for i in range(panel.picker.topLevelItemCount()):
        group = panel.picker.topLevelItem(i)
        for j in range(group.childCount()):
            if group.child(j).text(0) == name:
                return group.child(j)
    raise AssertionError(f"{name} not listed")


def test_models_are_grouped_by_kind_with_status_and_device(loaded) -> None:  # type: ignore[no-untyped-def]
    _, panel = loaded
    groups = [panel.picker.topLevelItem(i).text(0) for i in range(panel.picker.topLevelItemCount())]
    assert any(g.startswith(KIND_TITLES["tagger"]) for g in groups)
    assert any(g.startswith(KIND_TITLES["cloud"]) for g in groups)
    nsfw = model_item(panel, "open-nsfw")
    assert nsfw.text(2) == "ready" and nsfw.text(1) == "cpu"
    assert nsfw.flags() & Qt.ItemFlag.ItemIsEnabled
    gpt = model_item(panel, "gpt-4o-mini")  # no OpenAI key configured
    assert "needs API key" in gpt.text(2)
    assert not gpt.flags() & Qt.ItemFlag.ItemIsEnabled
    assert not panel.keys_hint.isHidden()
    assert model_item(panel, "wd-vit-tagger-v3").text(2) == "needs download"
    assert "lorairo models download wd-vit-tagger-v3" in model_item(panel, "wd-vit-tagger-v3").toolTip(2)


def test_annotate_all_images_with_progress_and_results_in_details(loaded, qtbot) -> None:  # type: ignore[no-untyped-def]
    window, panel = loaded
    for name in ("tiny-wd", "open-nsfw"):
        model_item(panel, name).setCheckState(0, Qt.CheckState.Checked)
    panel.scope.setCurrentIndex(1)  # all images
    qtbot.waitUntil(lambda: "image×model runs" in panel.estimate.text(), timeout=10000)
    assert panel.estimate.text().startswith("12 image×model runs")
    changed: list[Changes] = []
    window.session.changed.connect(changed.append)
    with qtbot.waitSignal(window.jobs.jobs_changed, timeout=5000):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.summary.text().startswith("Done."), timeout=60000)
    assert "tiny-wd: 6 annotated" in panel.summary.text()
    assert "open-nsfw: 6 annotated" in panel.summary.text()
    assert panel.progress.value() == panel.progress.maximum() == 12
    # A run of a few seconds or less is not "0 s" (the estimate and the summary say tenths there).
    assert " 0 s" not in panel.estimate.text() and " 0 s" not in panel.summary.text()
    # Reported as each model's results land (per model chunk): every image, at least once.
    assert changed and {i for batch in changed for i in batch.image_ids} == set(range(1, 7))
    assert all(batch.annotations for batch in changed)
    project = window.session.project
    with project.db.session() as s:
        assert s.execute(text("SELECT count(*) FROM annotations")).scalar() == 12
    # Nothing left to do now.
    qtbot.waitUntil(lambda: panel.estimate.text().startswith("Nothing to do"), timeout=10000)


def test_cancel_keeps_what_finished(loaded, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window, panel = loaded
    more = tmp_path / "more"
    more.mkdir()
    for i in range(40):  # enough batches that the cancel lands long before the end
        Image.new("RGB", (64, 48), (6 * i, 3 * i, 200 - 4 * i)).save(more / f"more{i}.png")
    ImageProcessingService(window.session.config, window.session.project).import_paths([more], jobs=1)
    window.session.config.update_setting("annotation", "batch_size", 1)
    model_item(panel, "open-nsfw").setCheckState(0, Qt.CheckState.Checked)
    panel.scope.setCurrentIndex(1)
    window.session.changed.connect(lambda _changes: panel.cancel())  # cancel as soon as the first batch lands
    panel.start()
    qtbot.waitUntil(lambda: panel.summary.text().startswith("Cancelled"), timeout=60000)
    with window.session.project.db.session() as s:
        done = s.execute(text("SELECT count(*) FROM annotations")).scalar()
    assert 1 <= done < 46
    assert not panel.cancel_button.isEnabled() and panel.run_button.isEnabled()


def test_embedding_models_are_listed_and_their_run_stores_embeddings(loaded, qtbot) -> None:  # type: ignore[no-untyped-def]
    window, panel = loaded
    groups = [panel.picker.topLevelItem(i).text(0) for i in range(panel.picker.topLevelItemCount())]
    assert any(g.startswith(KIND_TITLES["embedding"]) for g in groups)
    assert model_item(panel, "clip-vit-b32-embed").text(2) == "needs download"
    model_item(panel, "tiny-clip").setCheckState(0, Qt.CheckState.Checked)
    panel.scope.setCurrentIndex(1)  # all images
    qtbot.waitUntil(lambda: "image×model runs" in panel.estimate.text(), timeout=10000)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.summary.text().startswith("Done."), timeout=60000)
    assert "tiny-clip: 6 annotated" in panel.summary.text()
    store = EmbeddingStore.stores_of(window.session.project.root, "tiny-clip")[0]
    assert len(store.snapshot()) == 6


def test_a_model_that_fails_every_image_lists_its_reason_in_the_errors_tab(  # type: ignore[no-untyped-def]
    window, qtbot, tmp_path: Path
) -> None:
    """The panel's summary only counts failures; the message that says what to fix reaches the Errors tab."""
    import socket

    from tests.support.models import register_loopback_cloud_model

    with socket.socket() as probe:  # a port nothing listens on: every request is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    register_loopback_cloud_model(f"http://127.0.0.1:{port}/v1", name="dead-server")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.new("RGB", (80, 60), (60 * i, 90, 30)).save(src / f"img{i}.png")
    session = window.session
    project = session.projects.create("gui-annotate-fail")
    ImageProcessingService(session.config, project).import_paths([src], jobs=1)
    session.set_project(project)
    panel: AnnotatePanel = window.panels["AnnotatePanel"]
    qtbot.waitUntil(lambda: panel.picker.topLevelItemCount() > 0, timeout=15000)
    model_item(panel, "dead-server").setCheckState(0, Qt.CheckState.Checked)
    panel.scope.setCurrentIndex(1)
    before = window.log_panel.error_count()
    panel.start()
    qtbot.waitUntil(lambda: panel.summary.text().startswith("Done."), timeout=60000)
    assert "dead-server: 0 annotated, 3 failed" in panel.summary.text()
    new = window.log_panel.error_messages()[before:]
    assert new and all(f"127.0.0.1:{port}" in message for message in new), new
    where = window.log_panel.errors.item(window.log_panel.error_count() - 1, 1).text()
    item = window.log_panel.errors.item(window.log_panel.error_count() - 1, 2).text()
    assert where == "Annotate" and item == "provider_error (3 image×model pairs)"


def test_engine_box_follows_the_setting_and_lists_ray(loaded) -> None:  # type: ignore[no-untyped-def]
    window, panel = loaded
    engines = [panel.engine.itemData(i) for i in range(panel.engine.count())]
    assert engines == ["local", "ray"] and panel.engine.currentData() == "local"
    ray_label = panel.engine.itemText(1)
    from lorairo.services.annotation_engines import ray_installed

    if ray_installed():
        window.session.config.update_setting("annotation", "engine", "ray")
        assert panel.engine.currentData() == "ray"
    else:  # listed, greyed out, and saying which extra it needs
        assert ray_label == "Ray cluster (needs extra: ray)"


def test_without_the_ray_extra_the_engine_is_listed_greyed_out_and_never_chosen(  # type: ignore[no-untyped-def]
    window, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user without `uv sync --extra ray` sees "Ray cluster (needs extra: ray)", cannot pick it, and a setting of
    engine = "ray" (from another machine's config) leaves the panel on this computer."""
    from lorairo.services import annotation_engines

    monkeypatch.setattr(annotation_engines.importlib.util, "find_spec", lambda name: None)  # no `ray` package
    window.session.config.update_setting("annotation", "engine", "ray")
    panel = AnnotatePanel(window.session)
    qtbot.addWidget(panel)
    ray_index = panel.engine.findData("ray")
    assert panel.engine.itemText(ray_index) == "Ray cluster (needs extra: ray)"
    assert not panel.engine.model().item(ray_index).isEnabled()  # type: ignore[attr-defined]
    assert panel.engine.currentData() == "local"


def test_the_estimate_waits_until_the_panel_is_seen(loaded, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Behind the details tab the panel estimates nothing (Ctrl+A over 1M images resolved the whole selection for
    it beside the grid); choosing its tab estimates the selection made meanwhile."""
    window, panel = loaded
    model_item(panel, "open-nsfw").setCheckState(0, Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: "image×model runs" in panel.estimate.text() or "No images" in panel.estimate.text())
    window.panel_docks["DetailsPanel"].raise_()
    qtbot.waitUntil(lambda: not panel.isVisible() or not panel._shown)
    panel.estimate.setText("")
    window.select_all_action.trigger()
    qtbot.waitUntil(lambda: len(panel.selected_ids) == 6, timeout=5000)
    qtbot.wait(600)  # past the 300 ms debounce
    assert panel.estimate.text() == "" and not panel._estimate_timer.isActive()
    window.panel_docks["AnnotatePanel"].raise_()
    qtbot.waitUntil(lambda: panel.estimate.text().startswith("6 image×model runs"), timeout=10000)


def test_durations_under_ten_seconds_keep_their_tenths() -> None:
    from lorairo.gui.widgets.annotate.panel import format_seconds

    assert [format_seconds(s) for s in (0.04, 0.3, 4.26, 42, 600, 7200)] == [
        "under 0.1 s",
        "0.3 s",
        "4.3 s",
        "42 s",
        "10 min",
        "2.0 h",
    ]
