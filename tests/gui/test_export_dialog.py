"""Export dialog: the live preview follows the options; the export runs through the worker helper."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorairo.gui.dialogs.export_dialog import ExportDialog
from lorairo.gui.session import ProjectSession
from lorairo.gui.workers import JobManager
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import ProjectService
from tests.support.export_data import ImageSpec, add_images, simple_tags


@pytest.fixture
def session(qtbot):  # type: ignore[no-untyped-def]
    config = ConfigurationService()
    jobs = JobManager()
    session = ProjectSession(config, jobs)
    project = ProjectService(config).create("gui-export")
    session.ids = add_images(
        project,
        [
            ImageSpec("a.png", (1000, 1500), tags=simple_tags("photo_(medium)", "1girl")),
            ImageSpec("b.png", (1500, 1000), tags=simple_tags("1girl", "outdoors", "low", confidence=0.9)),
            ImageSpec("c.png", (800, 800), tags=simple_tags("cat", confidence=0.2)),
        ],
    )
    session.set_project(project)
    yield session
    jobs.shutdown()
    session.close()


def test_preview_follows_the_options(qtbot, session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = ExportDialog(session, None, [session.ids[0]], None)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    assert dialog.caption_preview.toPlainText() == "1girl, photo (medium)"  # head count first, parentheses literal
    assert dialog.preview.image_count == 1 and dialog.bucket_chart.rows == [("704×1024", 1)]

    with qtbot.waitSignal(dialog.preview_updated, timeout=5_000):
        dialog.trigger.setText("sks, ohwx")
    assert dialog.caption_preview.toPlainText() == "sks, ohwx, 1girl, photo (medium)"
    assert "keep_tokens = 2" in dialog.counts.text()

    with qtbot.waitSignal(dialog.preview_updated, timeout=5_000):
        dialog.escape.setChecked(True)
    assert dialog.caption_preview.toPlainText() == r"sks, ohwx, 1girl, photo \(medium\)"

    # all images: the bucket and tag charts count the whole project
    with qtbot.waitSignal(dialog.preview_updated, timeout=10_000):
        dialog.scope.setCurrentIndex(dialog.scope.findData("all"))
    assert dialog.preview.image_count == 3
    assert dict(dialog.tag_chart.rows)["1girl"] == 2 and "cat" not in dict(dialog.tag_chart.rows)
    with qtbot.waitSignal(dialog.preview_updated, timeout=5_000):
        dialog.min_conf.setValue(0.1)
    assert dict(dialog.tag_chart.rows)["cat"] == 1
    with qtbot.waitSignal(dialog.preview_updated, timeout=5_000):
        dialog.resolution.setCurrentText("512")
    assert {label for label, _ in dialog.bucket_chart.rows} == {"384×640", "640×384", "512×512"}  # 2:3 at 512: 384x640
    dialog.grab()  # the charts paint without errors

    # a bad option is shown and blocks the export
    dialog.format.setCurrentIndex(dialog.format.findData("onetrainer"))
    with qtbot.waitSignal(dialog.preview_updated, timeout=5_000, raising=False):
        dialog.caption_ext.setCurrentText(".caption")
    qtbot.waitUntil(lambda: ".txt" in dialog.error_label.text(), timeout=5_000)
    assert not dialog.export_button.isEnabled()


def test_export_runs_in_the_background_and_asks_before_overwriting(
    qtbot, session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    dialog = ExportDialog(session, None, [], None)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    target = tmp_path / "out"
    dialog.target.setText(str(target))
    dialog.trigger.setText("sks")
    statuses: list[str] = []
    with qtbot.waitSignal(dialog.export_finished, timeout=60_000) as done:
        dialog.start_export()
        dialog.job.progress.connect(lambda *_: statuses.append(dialog.status.text()))  # type: ignore[union-attr]
    result = done.args[0]
    assert statuses and "images/s" in statuses[-1] and (" left" in statuses[-1] or "estimating" in statuses[-1])
    assert result.exported == 3 and (result.image_dir / "a.txt").read_text().startswith("sks, ")
    qtbot.waitUntil(lambda: dialog.job is None, timeout=5_000)

    asked: list[Path] = []
    monkeypatch.setattr(dialog, "confirm_overwrite", lambda path: asked.append(path) or False)
    dialog.start_export()
    assert asked == [target] and dialog.job is None  # declined: nothing started


def test_file_export_menu_opens_the_dialog(qtbot, window, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    project = ProjectService(window.config).create("menu-export")
    add_images(project, [ImageSpec("a.png", (640, 480), tags=simple_tags("smile"))])
    window.session.set_project(project)
    opened: list[ExportDialog] = []
    monkeypatch.setattr(ExportDialog, "exec", lambda self: opened.append(self) or 0)
    window.export_action.trigger()
    assert len(opened) == 1
    dialog = opened[0]
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    assert dialog.preview.image_count == 1


def test_preview_runs_off_the_gui_thread_and_stale_answers_are_dropped(
    qtbot, session, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import threading

    dialog = ExportDialog(session, None, [], None)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    real_preview = dialog.service.preview
    release = threading.Event()
    gui_thread = threading.current_thread()
    calls: list[tuple[str, bool]] = []

    def slow_preview(options, image_id=None, top_tags=30):  # type: ignore[no-untyped-def]
        calls.append(
            (options.trigger_words[0] if options.trigger_words else "", threading.current_thread() is gui_thread)
        )
        if options.trigger_words == ("old",):
            release.wait(10)  # the stale request: held until the newer one has been shown
        return real_preview(options, image_id=image_id, top_tags=top_tags)

    monkeypatch.setattr(dialog.service, "preview", slow_preview)
    dialog.trigger.setText("old")
    dialog.refresh_preview()  # returns at once although the preview is still being computed
    stale_job = dialog._preview_job
    assert stale_job is not None and not release.is_set()
    with qtbot.waitSignal(dialog.preview_updated, timeout=10_000):
        dialog.trigger.setText("new")
        dialog.refresh_preview()
    assert dialog.caption_preview.toPlainText().startswith("new, ")
    with qtbot.waitSignal(stale_job.finished, timeout=10_000):
        release.set()  # the stale answer arrives now and must not replace the newer one
    assert len(calls) == 2
    assert dialog.caption_preview.toPlainText().startswith("new, ")
    assert [gui for _word, gui in calls] == [False, False]  # never computed on the GUI thread


def test_shuffle_and_relative_paths_reach_the_toml(qtbot, session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import tomllib

    dialog = ExportDialog(session, None, [], None)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    dialog.target.setText(str(tmp_path / "out"))
    dialog.shuffle.setCurrentIndex(dialog.shuffle.findData(True))
    dialog.relative.setChecked(True)
    with qtbot.waitSignal(dialog.export_finished, timeout=60_000):
        dialog.start_export()
    config = tomllib.loads((tmp_path / "out" / "dataset_config.toml").read_text())
    assert config["general"]["shuffle_caption"] is True
    assert config["datasets"][0]["subsets"][0]["image_dir"] == "10_images"


def test_trainer_formats_and_their_options_reach_the_export(qtbot, session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import tomllib

    dialog = ExportDialog(session, None, [], None)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    for key in ("simpletuner", "ai-toolkit", "diffusion-pipe", "musubi"):
        assert dialog.format.findData(key) >= 0
    dialog.format.setCurrentIndex(dialog.format.findData("musubi"))
    dialog.musubi_jsonl.setChecked(True)
    dialog.single_caption.setCurrentIndex(dialog.single_caption.findData("longest"))
    dialog.target.setText(str(tmp_path / "musubi"))
    options = dialog.current_options()
    assert (options.format, options.musubi_jsonl, options.single_caption) == ("musubi", True, "longest")
    with qtbot.waitSignal(dialog.export_finished, timeout=60_000) as done:
        dialog.start_export()
    result = done.args[0]
    config = tomllib.loads((tmp_path / "musubi" / "dataset.toml").read_text())
    assert config["datasets"][0]["image_jsonl_file"] == str(tmp_path / "musubi" / "metadata.jsonl")
    assert result.notes_path is not None and "how to train: README_TRAINING.md" in dialog.status.text()


def test_every_caption_is_on_by_default_when_an_image_has_several(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    from lorairo.services.edit_service import EditService

    dialog = ExportDialog(session, None, None, None)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    assert not dialog.all_captions.isChecked()  # nobody has several captions: one caption each, as before
    dialog.close()

    EditService(session.project).set_captions(session.ids[0], ["a portrait", "a woman standing"])
    dialog = ExportDialog(session, None, None, None)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.all_captions.isChecked, timeout=10_000)
    assert "1 image" in dialog.all_captions.toolTip()
