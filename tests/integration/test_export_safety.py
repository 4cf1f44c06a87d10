"""Export cleans up after itself and never destroys what it does not own (issue 14): forced targets that hold a
project's originals are refused, folders get the user's umask, a full disk or read-only parent is one line and
leaves nothing half-written, a killed export leaves no worker behind and its staging folder goes at the next run.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lorairo.exceptions import ExportError
from lorairo.services import export_service
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export import imaging
from lorairo.services.export.data import LoadedSelection
from lorairo.services.export.layout import safe_name
from lorairo.services.export_service import ExportService
from lorairo.services.project_service import Project, ProjectService
from tests.support.export_data import ImageSpec, add_images, simple_tags

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("safe")
    yield project
    project.close()


@pytest.fixture
def service(project: Project) -> ExportService:
    return ExportService(ConfigurationService(), project)


def test_force_never_replaces_a_folder_with_originals_of_images_not_exported(
    project: Project, service: ExportService, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    ids = add_images(
        project,
        [
            ImageSpec("kept.png", tags=simple_tags("a"), referenced_at=photos / "album"),
            ImageSpec("other.png", tags=simple_tags("b"), referenced_at=tmp_path / "elsewhere"),
        ],
    )
    # Only the second image is exported, so the selection holds no source under photos/; the project does.
    with pytest.raises(ExportError, match=r"album/kept\.png, an image project 'safe' was imported from"):
        service.export(service.default_options(photos, image_ids=(ids[1],), force=True))
    assert (photos / "album" / "kept.png").is_file()


def test_force_never_replaces_another_projects_originals(
    project: Project, service: ExportService, tmp_path: Path
) -> None:
    add_images(project, [ImageSpec("mine.png", tags=simple_tags("a"))])
    other = ProjectService(ConfigurationService()).create("neighbour")
    try:
        add_images(other, [ImageSpec("theirs.png", tags=simple_tags("b"), referenced_at=tmp_path / "their")])
    finally:
        other.close()
    with pytest.raises(ExportError, match="project 'neighbour' was imported from"):
        service.export(service.default_options(tmp_path, force=True))
    assert (tmp_path / "their" / "theirs.png").is_file()


def test_force_never_replaces_originals_stored_under_a_roundabout_path(
    project: Project, service: ExportService, tmp_path: Path
) -> None:
    """Only the paths that can lie under the target are read (SQLite keeps the candidates at 1M); one stored as
    `.../elsewhere/../photos/...` or with a doubled separator is still under `photos` and still protected."""
    ids = add_images(
        project,
        [
            ImageSpec("kept.png", tags=simple_tags("a"), referenced_at=tmp_path / "elsewhere"),
            ImageSpec("other.png", tags=simple_tags("b"), referenced_at=tmp_path / "elsewhere"),
        ],
    )
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "kept.png").write_bytes(b"the user's original")
    for roundabout in (f"{tmp_path}/elsewhere/../photos/kept.png", f"{tmp_path}//photos/kept.png"):
        with project.db.write_engine.begin() as conn:
            conn.exec_driver_sql("UPDATE images SET original_path = ? WHERE id = ?", (roundabout, ids[0]))
        with pytest.raises(ExportError, match=r"an image project 'safe' was imported from"):
            service.export(service.default_options(photos, image_ids=(ids[1],), force=True))
        assert (photos / "kept.png").read_bytes() == b"the user's original"


def test_export_folders_get_the_users_umask(service: ExportService, project: Project, tmp_path: Path) -> None:
    add_images(project, [ImageSpec("a.png", tags=simple_tags("a"))])
    old = os.umask(0o022)
    try:
        result = service.export(service.default_options(tmp_path / "out"))
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755  # mkdtemp's 0700 made it private
    assert result.image_dir.stat().st_mode & 0o777 == 0o755


def test_disk_full_is_one_line_and_leaves_the_previous_export_whole(
    project: Project, service: ExportService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_images(project, [ImageSpec(f"i{n}.png", (300, 300), tags=simple_tags("t")) for n in range(5)])
    target = tmp_path / "out"
    opts = service.default_options(target, image_format="webp")  # every image re-encoded through _save
    service.export(opts)
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}

    calls = {"n": 0}
    real_save = imaging._save

    def save_until_full(img, dest, quality):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(dest))
        real_save(img, dest, quality)

    monkeypatch.setattr(imaging, "_save", save_until_full)
    with pytest.raises(ExportError) as caught:
        service.export(opts.with_changes(force=True, image_format="png"))
    message = str(caught.value)
    assert message.startswith("disk full at ") and "\n" not in message and "free some space" in message
    assert calls["n"] == 3  # it stopped at the first full write instead of failing every image
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before  # nothing half-written in the target
    assert not list(tmp_path.glob(".out.*"))

    monkeypatch.setattr(imaging, "_save", real_save)  # space freed: the same export runs
    assert service.export(opts.with_changes(force=True, image_format="png")).exported == 5


def test_read_only_export_parent_is_one_line(
    project: Project, service: ExportService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_images(project, [ImageSpec("a.png", tags=simple_tags("a"))])

    def read_only(*args: object, **kwargs: object) -> str:
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path))

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    with pytest.raises(ExportError, match=r"^cannot write the export into .*: read-only file system$"):
        service.export(service.default_options(tmp_path / "out"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_export_parent_for_real(project: Project, service: ExportService, tmp_path: Path) -> None:
    add_images(project, [ImageSpec("a.png", tags=simple_tags("a"))])
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(ExportError, match=r"cannot write the export into .*permission denied"):
            service.export(service.default_options(parent / "out"))
    finally:
        parent.chmod(0o755)


def test_surrogate_escaped_file_name_gets_a_safe_name(
    project: Project, service: ExportService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    latin1 = os.fsdecode(b"caf\xe9.png")  # a Latin-1 name from an old archive, decoded surrogate-escaped
    assert "\udce9" in latin1
    add_images(project, [ImageSpec("placeholder.png", tags=simple_tags("a"))])
    real_load = export_service.load_selection

    def load_with_latin1_name(*args: object, **kwargs: object) -> LoadedSelection:
        # SQLite text cannot hold surrogates; whatever lossless form import stores, it hands them back decoded
        loaded = real_load(*args, **kwargs)  # type: ignore[arg-type]
        items = tuple(
            dataclasses.replace(i, file_name=latin1, original_path=f"/archive/{latin1}") for i in loaded.items
        )
        return dataclasses.replace(loaded, items=items)

    monkeypatch.setattr(export_service, "load_selection", load_with_latin1_name)
    for fmt in ("kohya", "hf", "kohya-json"):
        result = service.export(service.default_options(tmp_path / fmt, format=fmt))
        assert result.exported == 1
        names = [p.name for p in result.image_dir.iterdir()]
        assert "caf\ufffd.png" in names
        for name in names:
            name.encode("utf-8")  # writable on every file system, JSON and TOML
        for side in tmp_path.joinpath(fmt).rglob("*.json*"):
            assert "caf\ufffd" in side.read_text(encoding="utf-8")
    assert safe_name(latin1, "x") == "caf\ufffd.png"


# --- killed exports ------------------------------------------------------------------------------------------

_CHILD = """
import os, sys, time
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export_service import ExportService
from lorairo.services.project_service import ProjectService

config = ConfigurationService()
project = ProjectService(config).open("safe")
service = ExportService(config, project)

def progress(done, total, message):
    # Deterministic hook: once the first result is in, the pool and the staging folder exist. Say so and wait
    # to be killed.
    print("STARTED", flush=True)
    time.sleep(600)

service.export(service.default_options(sys.argv[1], image_format="png"), progress=progress)
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_export_leaves_no_worker_and_the_next_export_removes_its_staging(
    project: Project, service: ExportService, tmp_path: Path
) -> None:
    add_images(project, [ImageSpec(f"i{n}.png", (200, 200), tags=simple_tags("t")) for n in range(40)])
    target = tmp_path / "out"
    env = {**os.environ, "LORAIRO_MAX_WORKERS": "2", "PYTHONPATH": str(REPO / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(target)], stdout=subprocess.PIPE, env=env, cwd=REPO, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "STARTED"
        workers = [pid for pid in _children(child.pid) if _alive(pid)]
        assert workers, "the export should run on a worker pool"
        staged = list(tmp_path.glob(".out.exporting-*"))
        assert len(staged) == 1
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "a worker outlived the killed export"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert staged[0].exists() and not target.exists()  # the kill left its staging folder, nothing else

    result = service.export(service.default_options(target))
    assert result.exported == 40
    assert not list(tmp_path.glob(".out.*")), "the next export removes the killed run's staging folder"
