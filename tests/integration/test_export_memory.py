"""An export's memory does not grow with the selection (issue 20).

Planning used to keep every image's item and composed caption until the side files were written at the end
(about 1.7 KB an image, 1.3 GB at 518k). The plan now goes to a spool file in the staging folder and the side
files are streamed: what the export holds once its last image is written, for 2,000 images, stays within a
few hundred bytes an image of what it holds for 500 (an 8-byte written size per image; the old code failed
this with ~1.5 KB an image). Images are written in this process (one worker) so tracemalloc sees them.
"""

from __future__ import annotations

import pathlib
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export.spool import SPOOL_NAME
from lorairo.services.export_service import ExportService
from lorairo.services.project_service import Project, ProjectService
from tests.support.export_data import ImageSpec, add_images, simple_tags

#: Bytes an image may add: its written size (8 bytes) and slack. The old plan held ~1,000 bytes an image here.
PER_IMAGE_ALLOWANCE = 300


def _project(name: str, count: int) -> Project:
    project = ProjectService(ConfigurationService()).create(name)
    tags = simple_tags("1girl", "long_hair", "smile", "outdoors", "looking_at_viewer")
    add_images(
        project,
        [
            # 16 px: the generator's pattern covers every other pixel, the colour makes each file distinct
            ImageSpec(f"photo_{n:05d}.png", (16, 16), tags=tags, caption=f"A photo {n}.", colour=(n % 256, n // 256, 9))
            for n in range(count)
        ],
    )
    return project


def _held_after_the_last_image(project: Project, target: Path) -> int:
    """Bytes the export holds when its last image is written (before the side files): the moment the old plan
    held every image. Counted are allocations made under lorairo's code, less pathlib's interning of file
    names (one process-wide table whose reallocation would otherwise be counted at random moments)."""
    service = ExportService(ConfigurationService(), project)
    opts = service.default_options(target, format="kohya-json", trigger_words=("sks",), resolution=None)
    held: list[int] = []

    def progress(done: int, total: int, _name: str) -> None:
        if done == total:  # deterministic hook: every image written, metadata not yet
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [
                    tracemalloc.Filter(True, "*/lorairo/*", all_frames=True),
                    tracemalloc.Filter(False, pathlib.__file__),
                    tracemalloc.Filter(False, tracemalloc.__file__),
                ]
            )
            held.append(sum(stat.size for stat in snapshot.statistics("filename")))

    tracemalloc.start(12)  # deep enough to reach lorairo's frame from pickle / json / SQLAlchemy
    try:
        result = service.export(opts, progress=progress)
    finally:
        tracemalloc.stop()
    assert result.exported == len(service.load(None).items)
    assert not list(target.rglob(SPOOL_NAME))  # the plan is not part of the dataset
    (bytes_held,) = held
    return bytes_held


@pytest.fixture
def one_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LORAIRO_MAX_WORKERS", "1")
    yield


@pytest.mark.slow
def test_export_memory_does_not_grow_with_the_number_of_images(one_worker: None, tmp_path: Path) -> None:
    small, large = _project("mem-small", 500), _project("mem-large", 2_000)
    try:
        # Imports, caches and interpreter tables (the interned file names pathlib adds) grown once, to the
        # larger selection, outside the comparison: those tables never shrink, so they are not per-export.
        _held_after_the_last_image(large, tmp_path / "warm")
        held_small = _held_after_the_last_image(small, tmp_path / "small")
        held_large = _held_after_the_last_image(large, tmp_path / "large")
    finally:
        small.close()
        large.close()
    growth = held_large - held_small
    assert growth < 1_500 * PER_IMAGE_ALLOWANCE, f"held {growth:,} more bytes for 1,500 more images"


def test_cancel_in_the_middle_leaves_neither_target_nor_plan(one_worker: None, tmp_path: Path) -> None:
    project = ProjectService(ConfigurationService()).create("mid-cancel")
    try:
        add_images(project, [ImageSpec(f"i{n}.png", (16, 16), tags=simple_tags("t")) for n in range(10)])
        service = ExportService(ConfigurationService(), project)
        cancel = threading.Event()

        def progress(done: int, total: int, _name: str) -> None:
            if done == 4:  # deterministic: after the fourth image, as a user pressing Cancel
                cancel.set()

        target = tmp_path / "out"
        result = service.export(
            service.default_options(target, trigger_words=("sks",)), progress=progress, cancel=cancel
        )
    finally:
        project.close()
    assert result.cancelled and result.exported == 0
    assert not target.exists()
    assert not list(tmp_path.glob(".out.*"))  # staging folder, spool inside it, gone
