"""Odd names and files at import: names that are not UTF-8, unreadable folders, every file counted, Pillow
warnings in the log, a full disk."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger
from PIL import Image
from sqlalchemy.exc import OperationalError

from lorairo.database.import_repository import ImportRepository
from lorairo.main import main
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import DiskFullError, ImageProcessingService
from lorairo.services.importing import discovery, worker
from lorairo.services.importing.summary import ImportSummary
from lorairo.services.project_service import Project, ProjectService
from lorairo.storage.layout import image_path
from tests.integration.test_import_service import _import_in_child
from tests.support import images as gen
from tests.support import odd_images as odd


@pytest.fixture
def config() -> ConfigurationService:
    return ConfigurationService()


@pytest.fixture
def project(config: ConfigurationService) -> Iterator[Project]:
    opened = ProjectService(config).create("odd")
    yield opened
    opened.close()


def _run(config: ConfigurationService, project: Project, *paths: Path, **kwargs: object) -> ImportSummary:
    kwargs.setdefault("jobs", 1)
    return ImageProcessingService(config, project).import_paths(list(paths), **kwargs)  # type: ignore[arg-type]


def _outcomes(summary: ImportSummary) -> dict[str, tuple[str, str | None]]:
    return {Path(o.path).name: (o.outcome, o.reason) for o in summary.outcomes}


def _rows(project: Project, sql: str) -> list[tuple]:
    with sqlite3.connect(project.db_path) as conn:
        return conn.execute(sql).fetchall()


def test_a_latin1_file_name_is_imported_next_to_good_files(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    """One such name used to abort the batch ("surrogates not allowed") and lose its good files."""
    src = tmp_path / "src"
    gen.write_jpeg(src / "good1.jpg", 120, 90, seed=1)
    gen.write_jpeg(src / "good2.jpg", 120, 90, seed=2)
    raw = os.fsencode(src) + b"/cam\xe9ra \xff.jpg"  # Latin-1 bytes: not valid UTF-8
    with open(raw, "wb") as handle:
        handle.write(gen.jpeg_bytes(120, 90, seed=3))
    with open(raw[:-4] + b".txt", "wb") as handle:
        handle.write("café".encode("latin-1"))
    summary = _run(config, project, src)
    assert summary.status == "completed" and summary.imported == 3

    service = ImageProcessingService(config, project)  # the stored path opens the very same file again
    odd_path = os.fsdecode(raw)
    with project.db.session() as session:
        stamps = ImportRepository(session).source_stamps([odd_path])  # looked up by the path, escaped the same
    assert odd_path in stamps
    [(file_name, file_path)] = _rows(project, "SELECT file_name, file_path FROM images WHERE file_name LIKE 'cam%'")
    assert file_name == "cam\ufffdra \ufffd.jpg"  # displayed with replacement characters
    assert file_path.endswith("_cam_ra _.jpg") and image_path(project, file_path).is_file()  # a safe name
    assert _rows(project, "SELECT tag FROM tags") == [("café",)]
    again = service.import_paths([src], jobs=1)  # the re-run recognises the path (lossless round trip)
    assert again.skipped_by_reason == {"already imported": 3}


def test_the_cli_prints_a_latin1_name_with_replacement_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ProjectService(ConfigurationService()).create("names").close()
    src = tmp_path / "src"
    src.mkdir()
    with open(os.fsencode(src) + b"/bad\xe9.jpg", "wb") as handle:
        handle.write(b"not a jpeg")
    assert main(["import", str(src), "--project", "names", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)["files"]
    assert entry["path"].endswith("bad\ufffd.jpg") and entry["reason"] == "not an image"
    assert main(["import", str(src), "--project", "names"]) == 0
    assert "bad\ufffd.jpg" in capsys.readouterr().out


def test_an_unreadable_folder_is_reported_as_skipped(
    config: ConfigurationService, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    gen.write_jpeg(src / "ok.jpg", 120, 90, seed=1)
    gen.write_jpeg(src / "locked" / "hidden.jpg", 120, 90, seed=2)
    real_scandir = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if str(path).endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(discovery.os, "scandir", scandir)
    summary = _run(config, project, src)
    assert _outcomes(summary) == {"ok.jpg": ("imported", None), "locked": ("skipped", "unreadable folder")}
    assert summary.as_dict()["skipped_by_reason"] == {"unreadable folder": 1}
    [locked] = [f for f in summary.as_dict()["files"] if f["reason"] == "unreadable folder"]
    assert locked["detail"] == "Permission denied"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to drop privileges")
def test_a_chmod_000_folder_is_reported_by_the_os() -> None:
    """The same with a real permission error: tests run as root, so the import runs as `nobody`."""
    work = Path(tempfile.mkdtemp(prefix="lorairo-perm-"))
    try:
        work.chmod(0o777)
        src = work / "src"
        gen.write_jpeg(src / "ok.jpg", 120, 90, seed=1)
        gen.write_jpeg(src / "locked" / "inside.jpg", 120, 90, seed=2)
        src.chmod(0o755)
        (src / "locked").chmod(0o000)
        result = _import_in_child(work, src, 65534 if os.geteuid() == 0 else None)
        assert result == {"ok.jpg": ["imported", None], "locked": ["skipped", "unreadable folder"]}
    finally:
        (work / "src" / "locked").chmod(0o755)
        shutil.rmtree(work, ignore_errors=True)


def test_every_image_file_found_is_counted(config: ConfigurationService, project: Project, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "stereo.mpo").write_bytes(odd.mpo())
    (src / "moving.apng").write_bytes(odd.apng())
    (src / "broken.apng").write_bytes(odd.apng_with_sequence_error())
    (src / "keyed.png").write_bytes(odd.rgb_colour_key_png())
    (src / "deep.tif").write_bytes(odd.tiff_16bit_big_endian())
    (src / "onebit.png").write_bytes(odd.one_bit_transparent_png())
    (src / "phone.heic").write_bytes(b"heic bytes")
    (src / "notes.json").write_text("{}")  # not an image: not counted
    summary = _run(config, project, src)
    added = {name: ("imported" if outcome == "near_duplicate" else outcome, reason)  # flat colours look alike
             for name, (outcome, reason) in _outcomes(summary).items()}  # fmt: skip
    assert added == {
        "stereo.mpo": ("imported", None),
        "moving.apng": ("imported", None),
        "broken.apng": ("skipped", "corrupt"),
        "keyed.png": ("imported", None),
        "deep.tif": ("imported", None),
        "onebit.png": ("imported", None),
        "phone.heic": ("skipped", "unsupported extension"),
    }
    assert summary.total == 7
    rows = dict(_rows(project, "SELECT file_name, format || ' ' || mode || ' ' || has_alpha FROM images"))
    assert rows == {
        "stereo.mpo": "MPO RGB 0", "moving.apng": "PNG RGB 0", "keyed.png": "PNG RGB 1",
        "deep.tif": "TIFF I;16B 0", "onebit.png": "PNG 1 1",
    }  # fmt: skip


def _jpeg_with_bad_exif() -> bytes:
    """A JPEG whose EXIF entry points past the end of its block (Pillow warns while reading it)."""
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x010F, 2, 100, 1000) + struct.pack("<I", 0)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(buffer, "JPEG", exif=b"Exif\x00\x00" + tiff)
    return buffer.getvalue()


def test_pillow_warnings_go_to_the_log_with_the_file_name(
    config: ConfigurationService, project: Project, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "exif.jpg").write_bytes(_jpeg_with_bad_exif())
    messages: list[str] = []
    sink = logger.add(messages.append, level="WARNING", format="{message}")
    try:
        summary = _run(config, project, tmp_path / "exif.jpg")
    finally:
        logger.remove(sink)
    assert summary.imported == 1
    assert "Tag data larger than file" not in capfd.readouterr().err
    assert any("exif.jpg" in m and "Tag data larger than file" in m for m in messages)


def _fill_disk_after(monkeypatch: pytest.MonkeyPatch, writes: int) -> None:
    """Let `writes` file writes of the import succeed, then fail every one with ENOSPC (a full disk)."""
    real = worker.write_project_file
    count = {"n": 0}

    def write(root: Path, relpath: str, data: bytes) -> None:
        count["n"] += 1
        if count["n"] > writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(root, relpath, data)

    monkeypatch.setattr(worker, "write_project_file", write)


def test_a_full_disk_stops_the_import_with_one_line_and_a_rerun_continues(
    config: ConfigurationService, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen.mixed_corpus(tmp_path / "src", 12, seed=3, jpeg_sides=(100, 200), png_sides=(100, 200))
    _fill_disk_after(monkeypatch, writes=8)  # thumbnail + copy per image: the first batch of 4 fits
    with pytest.raises(DiskFullError, match=r"^disk full at .*/(thumbnails|images)/") as caught:
        _run(config, project, tmp_path / "src", batch_size=4)
    assert "\n" not in str(caught.value) and "run the import again" in str(caught.value)
    assert _rows(project, "SELECT status FROM import_runs") == [("failed",)]  # not left "running"
    assert _rows(project, "SELECT COUNT(*) FROM images") == [(4,)]  # the committed batch is kept

    monkeypatch.undo()
    rerun = _run(config, project, tmp_path / "src")
    assert rerun.status == "completed" and rerun.added == 8
    assert _rows(project, "SELECT COUNT(*) FROM images") == [(12,)]


def test_a_full_disk_under_the_database_is_one_line_too(
    config: ConfigurationService, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen.write_jpeg(tmp_path / "one.jpg", 100, 80, seed=1)

    def full(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(ImportRepository, "add_outcomes", full)
    with pytest.raises(DiskFullError, match=f"^disk full at {project.db_path}"):
        _run(config, project, tmp_path / "one.jpg")
    monkeypatch.undo()
    assert _rows(project, "SELECT status FROM import_runs") == [("failed",)]
    assert _run(config, project, tmp_path / "one.jpg").imported == 1


def test_the_cli_reports_a_full_disk_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ProjectService(ConfigurationService()).create("full").close()
    gen.mixed_corpus(tmp_path / "src", 3, seed=4, jpeg_sides=(100, 200), png_sides=(100, 200))
    _fill_disk_after(monkeypatch, writes=0)
    assert main(["import", str(tmp_path / "src"), "--project", "full", "--jobs", "1"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and err[0].startswith("error: disk full at ")
