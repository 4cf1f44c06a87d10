"""Importing from the window: progress, the grid filling while it runs, skipped files with reasons, cancel."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorairo.gui.models.image_list_model import ImageRowRole
from lorairo.services.project_service import ProjectService

from .factories import make_images

pytestmark = pytest.mark.slow


def _open(qtbot, window, name: str) -> None:  # type: ignore[no-untyped-def]
    ProjectService(window.config).create(name).close()
    window.open_project(name)
    qtbot.waitUntil(lambda: window.session.name == name, timeout=10_000)


def test_import_a_folder_with_progress_and_a_skip_summary(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window.config.update_setting("resources", "batch_size", 5)
    _open(qtbot, window, "imports")
    make_images(tmp_path / "drop", 12, bad=1)
    progress: list[tuple[int, int, str]] = []
    window.imports.progress.connect(lambda d, t, m: progress.append((d, t, m)))
    grid_sizes: list[int] = []
    window.session.images_added.connect(lambda _ids: grid_sizes.append(window.browser.model.rowCount()))

    assert not window.cancel_import_action.isEnabled()  # File > Cancel import: nothing to cancel yet
    window.import_paths([str(tmp_path / "drop")])
    assert window.status.import_progress.isVisible()
    assert window.cancel_import_action.isEnabled()
    with qtbot.waitSignal(window.imports.finished, timeout=60_000) as blocker:
        pass
    summary = blocker.args[0]

    assert not window.cancel_import_action.isEnabled()
    assert summary.added == 12 and summary.skipped == 1
    assert any("images/s" in message for _d, _t, message in progress)
    assert len(grid_sizes) >= 2 and grid_sizes[0] < 12  # the grid grew batch by batch during the import
    assert not window.status.import_progress.isVisible()
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 12, timeout=5000)
    assert window.status.count_label.text() == "12 images"
    assert "broken_0.png" in window.log_panel.errors.item(0, 2).text()  # per-file error, with its reason
    assert "12 images added" in window.status.currentMessage()
    # rows and thumbnails arrive in the grid
    model = window.browser.model
    qtbot.waitUntil(lambda: model.data(model.index(0), ImageRowRole) is not None, timeout=5000)
    first = model.data(model.index(0), ImageRowRole)
    qtbot.waitUntil(lambda: model.thumbnails.get(first.hash_value) is not None, timeout=5000)


def test_cancel_keeps_what_was_imported(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window.config.update_setting("resources", "batch_size", 4)
    window.config.update_setting("resources", "max_workers", 1)
    _open(qtbot, window, "cancelled")
    make_images(tmp_path / "many", 60, size=(48, 48))
    window.session.images_added.connect(lambda _ids: window.status.import_progress.cancel_button.click())

    window.import_paths([str(tmp_path / "many")])
    with qtbot.waitSignal(window.imports.finished, timeout=60_000) as blocker:
        pass
    summary = blocker.args[0]

    assert summary.status == "cancelled"
    assert 0 < summary.added < 60
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == summary.added, timeout=5000)
    assert not window.imports.running


def test_import_needs_an_open_project(qtbot, window, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shown: list[str] = []
    monkeypatch.setattr(window, "_warn", shown.append)
    window.import_paths([str(tmp_path)])
    assert shown == ["open or create a project before importing images"]


def test_reimport_reports_nothing_as_failed(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Importing the same folder again skips every file as already imported: no errors, no summary dialog."""
    _open(qtbot, window, "again")
    make_images(tmp_path / "drop", 6, bad=1)
    for _round in range(2):
        window.import_paths([str(tmp_path / "drop")])
        with qtbot.waitSignal(window.imports.finished, timeout=60_000) as blocker:
            pass
    summary = blocker.args[0]
    assert summary.added == 0
    errors = [window.log_panel.errors.item(row, 2).text() for row in range(window.log_panel.errors.rowCount())]
    # The broken file is reported once per import; the six good files never are.
    assert len(errors) == 2 and all("broken_0.png" in e for e in errors)


def test_an_edit_during_an_import_is_saved_and_shown_at_once(qtbot, window, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The import's job waits on its child process; it must not hold the single write thread meanwhile (an edit
    queued silently behind the whole import). The hook holds the import at its first batch, deterministically,
    until the edit has landed."""
    import threading

    from lorairo.services.edit_service import EditService
    from lorairo.services.importing import isolated

    window.config.update_setting("resources", "batch_size", 2)
    _open(qtbot, window, "busy")
    make_images(tmp_path / "first", 1)
    window.import_paths([str(tmp_path / "first")])
    with qtbot.waitSignal(window.imports.finished, timeout=60_000):
        pass
    [image_id] = window.browser.model.ids()
    details = window.panels["DetailsPanel"]
    window.browser.grid.select_ids([image_id])
    qtbot.waitUntil(lambda: details.details is not None and details.details.image_id == image_id, timeout=5000)

    reached, release = threading.Event(), threading.Event()
    real_import = isolated.import_in_child

    def held_import(*args, on_batch, **kwargs):  # type: ignore[no-untyped-def]
        def batch(ids: list[int]) -> None:
            on_batch(ids)
            reached.set()
            release.wait(timeout=60)  # the import's job thread stays busy here until the test lets it go

        return real_import(*args, on_batch=batch, **kwargs)

    monkeypatch.setattr(isolated, "import_in_child", held_import)
    make_images(tmp_path / "more", 6)
    window.import_paths([str(tmp_path / "more")])
    try:
        qtbot.waitUntil(reached.is_set, timeout=60_000)
        details.tag_input.setText("edited during import")
        details.add_button.click()
        # Saved and shown while the import is still running.
        qtbot.waitUntil(lambda: "edited during import" in {t.tag for t in details.details.tags}, timeout=10_000)
        assert window.imports.running
        stored = EditService(window.session.project).get_image_details(image_id)
        assert "edited during import" in {t.tag for t in stored.tags}
    finally:
        release.set()
    with qtbot.waitSignal(window.imports.finished, timeout=60_000) as blocker:
        pass
    assert blocker.args[0].status == "completed"


def test_sidecar_notes_and_merged_duplicate_tags_reach_the_user(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A second import brings an exact duplicate with its own sidecar, a Latin-1 sidecar and one over the size
    limit: the kept image's new tags are broadcast (its details reload), the summary dialog lists the notes
    and the lost sidecar is an error."""
    import os
    import shutil

    from lorairo.gui.widgets.import_panel import ImportSummaryDialog
    from lorairo.services.changes import Changes
    from lorairo.services.edit_service import EditService

    window.config.update_setting("image_processing", "max_sidecar_kb", 1)
    _open(qtbot, window, "sidecars")
    [kept] = make_images(tmp_path / "first", 1)
    window.import_paths([str(tmp_path / "first")])
    with qtbot.waitSignal(window.imports.finished, timeout=60_000):
        pass
    [kept_id] = window.browser.model.ids()
    second = tmp_path / "second"
    second.mkdir()
    shutil.copy(kept, second / "copy.png")
    (second / "copy.txt").write_text("space, helmet, Long_Hair", encoding="utf-8")
    shutil.copy(kept, second / os.fsdecode(b"caf\xe9.png"))  # a Latin-1 name from an old archive
    make_images(tmp_path / "new", 2)
    shutil.copy(tmp_path / "new" / "img_0001.png", second / "latin.png")
    (second / "latin.txt").write_bytes("café, rétine".encode("latin-1"))
    shutil.copy(tmp_path / "new" / "img_0000.png", second / "huge.png")
    (second / "huge.txt").write_text("tag, " * 400, encoding="utf-8")
    changed: list[Changes] = []
    window.session.changed.connect(changed.append)
    window.import_paths([str(second)])
    with qtbot.waitSignal(window.imports.finished, timeout=60_000) as blocker:
        pass
    summary = blocker.args[0]

    assert summary.sidecar_merged_ids == (kept_id,)
    assert any(kept_id in c.image_ids and c.tags for c in changed)  # the kept image's views reload its tags
    tags = {t.tag for t in EditService(window.session.project).get_image_details(kept_id).tags}
    assert {"space", "helmet", "Long Hair"} <= tags
    assert "5 sidecar tags added" in window.status.currentMessage()  # 3 merged + café, rétine
    assert "2 sidecar notes (1 not UTF-8)" in window.status.currentMessage()
    dialog = window.findChild(ImportSummaryDialog)
    assert dialog is not None
    table = dialog.table
    rows = {
        (Path(table.item(r, 0).text()).name, table.item(r, 1).text()): table.item(r, 2).text()
        for r in range(table.rowCount())
    }
    assert rows[("caf\ufffd.png", "duplicate")].startswith("same content as image")  # not "caf.png"
    assert rows[("latin.txt", "sidecar")].startswith("not utf-8: decoded as")
    assert rows[("huge.txt", "sidecar")].startswith("too large:")
    errors = window.log_panel.error_messages()
    assert any(m.startswith("sidecar too large") for m in errors), errors
