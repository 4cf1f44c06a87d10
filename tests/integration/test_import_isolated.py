"""The desktop app's import path: the same import in a child process, relayed progress, batches and errors."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from lorairo.exceptions import ImageProcessingError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.importing.isolated import import_in_child
from lorairo.services.project_service import ProjectService
from tests.support import images as gen


def _project(tmp_path: Path) -> tuple[ConfigurationService, Path]:
    config = ConfigurationService()
    project = ProjectService(config).create("isolated")
    root = project.root
    project.close()
    return config, root


def test_child_import_relays_progress_batches_and_the_summary(tmp_path: Path) -> None:
    config, root = _project(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        gen.write_jpeg(src / f"{i}.jpg", 120, 90, seed=i)
    (src / "broken.jpg").write_bytes(b"not an image")
    progress: list[tuple[int, int, str]] = []
    batches: list[list[int]] = []
    summary = import_in_child(
        config.config_path, "isolated", root, [src], progress=lambda *a: progress.append(a), on_batch=batches.append
    )
    assert summary.imported == 5 and summary.skipped == 1
    assert sorted(i for batch in batches for i in batch) == sorted(o.image_id for o in summary.outcomes if o.image_id)
    assert progress[-1][0] == progress[-1][1] == 6
    project = ProjectService(config).open("isolated")
    with project.db.session() as session:
        from sqlalchemy import text

        assert session.execute(text("SELECT count(*) FROM images")).scalar_one() == 5
    project.close()


def test_child_errors_and_a_dead_child_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, root = _project(tmp_path)
    with pytest.raises(ImageProcessingError, match="not found"):
        import_in_child(config.config_path, "isolated", root, [tmp_path / "nope"])

    src = tmp_path / "src"
    src.mkdir()
    gen.write_jpeg(src / "a.jpg", 120, 90, seed=1)

    def kill_child(*_args: object) -> None:  # the first progress report: kill the import process
        for pid in _children():
            os.kill(pid, signal.SIGKILL)

    with pytest.raises(ImageProcessingError, match="stopped unexpectedly"):
        import_in_child(config.config_path, "isolated", root, [src], progress=kill_child)


def test_cancel_reaches_the_child(tmp_path: Path) -> None:
    config, root = _project(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    gen.write_jpeg(src / "a.jpg", 120, 90, seed=1)
    cancel = threading.Event()
    cancel.set()
    summary = import_in_child(config.config_path, "isolated", root, [src], cancel=cancel)
    assert summary.status == "cancelled"


def test_a_background_import_yields_the_cpu_to_the_app(tmp_path: Path) -> None:
    """The desktop app's import (background=True) runs below the app's CPU priority, so the GUI thread is
    scheduled first on busy cores; a foreground call keeps the caller's priority."""
    import psutil

    from lorairo.services.importing.isolated import BACKGROUND_NICENESS

    config, root = _project(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):  # enough work that the child is still importing when its first report arrives
        gen.write_jpeg(src / f"{i}.jpg", 320, 240, seed=i)
    ours = psutil.Process().nice()
    for background, expected in ((True, ours + BACKGROUND_NICENESS), (False, ours)):
        seen: list[int] = []

        def look(*_report: object, seen: list[int] = seen) -> None:
            if not seen:
                seen.extend(psutil.Process(pid).nice() for pid in _children())

        summary = import_in_child(config.config_path, "isolated", root, [src], progress=look, background=background)
        assert summary.status == "completed"
        assert seen == [expected]
        src = tmp_path / f"again-{background}"  # new files, so the second import works as much as the first
        src.mkdir()
        for i in range(20):
            gen.write_jpeg(src / f"{i}.jpg", 320, 240, seed=100 + i)


def _children() -> list[int]:
    """This process's spawned import child (not the resource tracker, not the pool's grandchildren)."""
    import psutil

    return [child.pid for child in psutil.Process().children() if "spawn_main" in " ".join(child.cmdline())]
