"""Importing folders into a real project: outcomes for bad files, duplicates, near-duplicates, re-runs, storage."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text

from lorairo.exceptions import ImageProcessingError, ProjectBusyError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.importing.summary import ImportSummary
from lorairo.services.project_service import Project, ProjectService
from lorairo.storage.layout import image_path, record_write_intent, temp_name, thumbnail_path
from lorairo.storage.lock import ImportLock
from tests.support import images as gen


@pytest.fixture
def config() -> ConfigurationService:
    return ConfigurationService()


@pytest.fixture
def project(config: ConfigurationService) -> Iterator[Project]:
    opened = ProjectService(config).create("import-test")
    yield opened
    opened.close()


def _run(config: ConfigurationService, project: Project, *paths: Path, **kwargs: object) -> ImportSummary:
    return ImageProcessingService(config, project).import_paths(list(paths), **kwargs)  # type: ignore[arg-type]


def _by_name(summary: ImportSummary) -> dict[str, tuple[str, str | None]]:
    return {Path(o.path).name: (o.outcome, o.reason) for o in summary.outcomes}


def _rows(project: Project, sql: str) -> list[tuple]:
    with sqlite3.connect(project.db_path) as conn:
        return conn.execute(sql).fetchall()


def test_bad_and_unusual_files_each_get_an_outcome_and_the_rest_imports(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    files = {
        "good.jpg": gen.jpeg_bytes(320, 240, seed=1),
        "zero.jpg": b"",
        "truncated.jpg": gen.truncated(gen.jpeg_bytes(seed=2), 0.5),
        "truncated.png": gen.truncated(gen.png_bytes(seed=3), 0.5),
        "text.jpg": b"this is a text file, not a JPEG\n",
        "disguised.jpg": gen.png_bytes(200, 150, seed=14),
        "bomb.png": gen.png_with_declared_size(60_000, 60_000),
        "huge-dims.png": gen.png_with_declared_size(12_000, 12_000),
        "cmyk.jpg": gen.cmyk_jpeg(),
        "gray16.png": gen.png16_gray(),
        "palette.png": gen.palette_png_transparent(),
        "animated.gif": gen.animated_gif(),
        "rotated.jpg": gen.exif_rotated_jpeg(300, 200, orientation=6),
        "日本語 ファイル (1).png": gen.png_bytes(120, 90, seed=7),
        "-odd #name% 'q'.webp": b"",  # replaced below with real WebP bytes
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
    gen.write_webp(src / "-odd #name% 'q'.webp", 140, 100, seed=8)
    (src / "dir.jpg").mkdir()  # a folder named like an image is walked, not read
    (src / "empty-folder").mkdir()
    (src / "loop").symlink_to(src, target_is_directory=True)
    if hasattr(os, "mkfifo"):
        os.mkfifo(src / "pipe.jpg")

    summary = _run(config, project, src, jobs=2)

    outcome = _by_name(summary)
    assert outcome["zero.jpg"] == ("skipped", "empty file")
    assert outcome["truncated.jpg"] == ("skipped", "corrupt")
    assert outcome["truncated.png"] == ("skipped", "corrupt")
    assert outcome["text.jpg"] == ("skipped", "not an image")
    assert outcome["bomb.png"] == ("skipped", "decompression bomb")
    assert outcome["huge-dims.png"] == ("skipped", "implausible dimensions")
    if hasattr(os, "mkfifo"):
        assert outcome["pipe.jpg"] == ("skipped", "not a regular file")
    imported = [
        "good.jpg", "disguised.jpg", "cmyk.jpg", "gray16.png", "palette.png", "animated.gif", "rotated.jpg",
        "日本語 ファイル (1).png", "-odd #name% 'q'.webp",
    ]  # fmt: skip
    for name in imported:
        assert outcome[name] == ("imported", None), name
    assert summary.status == "completed" and summary.imported == len(imported)
    assert summary.total == len(outcome)  # the symlink loop listed nothing twice

    meta = {r[0]: r[1:] for r in _rows(project, "SELECT file_name, format, width, height, mode, has_alpha FROM images")}
    assert meta["disguised.jpg"][0] == "PNG"  # the real format, not the extension's
    assert meta["rotated.jpg"][1:3] == (200, 300)  # as displayed
    assert meta["palette.png"][4] == 1 and meta["animated.gif"][0] == "GIF" and meta["cmyk.jpg"][3] == "CMYK"
    with Image.open(
        thumbnail_path(project, _rows(project, "SELECT hash_value FROM images WHERE file_name = 'rotated.jpg'")[0][0])
    ) as thumb:
        assert thumb.height > thumb.width  # EXIF-correct thumbnail
    stored = _rows(project, "SELECT outcome, reason FROM import_outcomes WHERE source_path LIKE '%bomb.png'")
    assert stored[0][0] == "skipped" and stored[0][1].startswith("decompression bomb")


def test_every_row_has_its_files_and_rerun_imports_nothing(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    paths = gen.mixed_corpus(tmp_path / "src", 24, seed=3, jpeg_sides=(200, 640), png_sides=(160, 400))
    batches: list[list[int]] = []
    progress: list[tuple[int, int]] = []
    first = _run(
        config, project, tmp_path / "src", jobs=2, batch_size=10,
        on_batch=batches.append, progress=lambda d, t, _m: progress.append((d, t)),
    )  # fmt: skip
    assert (
        first.added == 24 and len(batches) == 3 and sorted(i for ids in batches for i in ids) == sorted(first.image_ids)
    )
    assert progress[-1] == (24, 24)
    for file_path, hash_value in _rows(project, "SELECT file_path, hash_value FROM images"):
        assert not Path(file_path).is_absolute() and image_path(project, file_path).is_file()
        assert thumbnail_path(project, hash_value).is_file()

    os.utime(paths[0], (1_000_000, 1_000_000))  # a new mtime forces a hash check: content unchanged
    second = _run(config, project, tmp_path / "src", jobs=2)
    assert second.added == 0 and second.skipped_by_reason == {"already imported": 24}
    assert _rows(project, "SELECT COUNT(*) FROM images")[0][0] == 24
    assert [r[0] for r in _rows(project, "SELECT status FROM import_runs ORDER BY id")] == ["completed", "completed"]


def test_exact_duplicates_record_their_path_and_same_names_are_both_kept(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    data = gen.jpeg_bytes(300, 200, seed=20)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "image.png").write_bytes(gen.png_bytes(200, 150, seed=21))
    (tmp_path / "b" / "image.png").write_bytes(gen.png_bytes(200, 150, seed=22))
    (tmp_path / "a" / "photo.jpg").write_bytes(data)
    (tmp_path / "b" / "copy of photo.jpg").write_bytes(data)
    summary = _run(config, project, tmp_path / "a", tmp_path / "b", jobs=1)
    assert summary.imported == 3 and summary.duplicates == 1
    assert _by_name(summary)["copy of photo.jpg"][0] == "duplicate"
    names = sorted(Path(p).name for (p,) in _rows(project, "SELECT file_path FROM images"))
    assert len([n for n in names if n.endswith("_image.png")]) == 2
    sources = _rows(project, "SELECT s.source_path FROM image_sources s JOIN images i ON i.id = s.image_id "
                             "WHERE i.file_name = 'photo.jpg'")  # fmt: skip
    assert sorted(Path(p).name for (p,) in sources) == ["copy of photo.jpg", "photo.jpg"]
    stored = sorted(p.name for p in project.images_dir.rglob("*") if p.is_file())
    assert not any("copy of photo" in n for n in stored)  # the duplicate's copy was removed


def test_resized_and_recompressed_copies_are_linked_as_near_duplicates(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    original = gen.photo_like(800, 600, seed=42)
    src.mkdir()
    original.save(src / "a_original.png")
    original.resize((400, 300), Image.Resampling.LANCZOS).save(src / "b_resized.png")
    original.save(src / "c_recompressed.jpg", "JPEG", quality=60)
    gen.photo_like(800, 600, seed=43).save(src / "d_other.png")
    summary = _run(config, project, src, jobs=1)
    outcome = _by_name(summary)
    assert outcome["a_original.png"][0] == "imported" and outcome["d_other.png"][0] == "imported"
    assert outcome["b_resized.png"][0] == outcome["c_recompressed.jpg"][0] == "near_duplicate"
    links = _rows(
        project,
        "SELECT a.file_name, b.file_name, n.distance FROM near_duplicates n "
        "JOIN images a ON a.id = n.image_id JOIN images b ON b.id = n.match_image_id",
    )
    linked_to_original = {a for a, b, _d in links if b == "a_original.png"}
    assert linked_to_original == {"b_resized.png", "c_recompressed.jpg"}
    assert all(d <= 8 for *_n, d in links)
    assert _rows(project, "SELECT COUNT(*) FROM images")[0][0] == 4  # near-duplicates are imported


def test_a_file_given_explicitly_with_another_extension_is_reported(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    (tmp_path / "notes.heic").write_bytes(b"x")
    summary = _run(config, project, tmp_path / "notes.heic")
    assert _by_name(summary) == {"notes.heic": ("skipped", "unsupported extension")}


def test_sidecars_become_tags_and_caption(config: ConfigurationService, project: Project, tmp_path: Path) -> None:
    gen.write_jpeg(tmp_path / "pic.jpg", 200, 150, seed=5)
    (tmp_path / "pic.txt").write_text("long_hair, smile, long hair, photo \\(medium\\)", encoding="utf-8")
    (tmp_path / "pic.caption").write_text("a girl smiling", encoding="utf-8")
    _run(config, project, tmp_path / "pic.jpg")
    assert _rows(project, "SELECT tag, source FROM tags ORDER BY id") == [
        ("long hair", "sidecar"), ("smile", "sidecar"), ("photo (medium)", "sidecar"),
    ]  # fmt: skip
    assert _rows(project, "SELECT text, source FROM captions") == [("a girl smiling", "sidecar")]


def test_reference_in_place_stores_absolute_paths(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    config.update_setting("image_processing", "copy_to_project", False)
    target = gen.write_png(tmp_path / "ref.png", 120, 90, seed=9)
    _run(config, project, target)
    [(file_path, in_project)] = _rows(project, "SELECT file_path, stored_in_project FROM images")
    assert file_path == str(target) and in_project == 0
    assert not any(p.is_file() for p in project.images_dir.rglob("*"))


def test_cancel_keeps_finished_work_and_a_rerun_completes(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    gen.mixed_corpus(tmp_path / "src", 30, seed=4, jpeg_sides=(150, 300), png_sides=(120, 240))
    cancel = threading.Event()

    def stop_after_first_batch(ids: list[int]) -> None:
        cancel.set()

    first = _run(
        config, project, tmp_path / "src", jobs=2, batch_size=10, cancel=cancel, on_batch=stop_after_first_batch
    )
    assert first.status == "cancelled" and 10 <= first.added < 30
    second = _run(config, project, tmp_path / "src", jobs=2)
    assert second.status == "completed" and first.added + second.added == 30
    assert _rows(project, "SELECT COUNT(*) FROM images")[0][0] == 30


def test_file_deleted_during_the_import_is_skipped(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    gen.mixed_corpus(tmp_path / "src", 6, seed=5, jpeg_sides=(100, 200), png_sides=(100, 200))
    victim = sorted((tmp_path / "src").rglob("*.*"))[-1]

    def delete_once_discovered(done: int, total: int, message: str) -> None:
        if total and victim.exists():
            victim.unlink()

    summary = _run(config, project, tmp_path / "src", jobs=1, progress=delete_once_discovered)
    assert _by_name(summary)[victim.name] == ("skipped", "disappeared")
    assert summary.imported == 5


def test_orphans_of_a_crash_are_swept_and_runs_marked_interrupted(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    """A killed run's journaled files without rows go; a file nothing journaled (put there by the user, or
    listed by a newer database than the one restored) stays, it is not provably an orphan."""
    stray = project.images_dir / "ff" / "ffffffffffffffff_stray.png"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"half")
    record_write_intent(project.root, "images/ff/ffffffffffffffff_stray.png")
    # A temporary is named after the process that journaled its file (write_project_file does both).
    temp = temp_name(project.thumbnails_dir / "ab" / "x.jpg")
    temp.parent.mkdir(parents=True)
    temp.write_bytes(b"half")
    record_write_intent(project.root, "thumbnails/ab/x.jpg")
    unknown = project.images_dir / "ee" / "eeeeeeeeeeeeeeee_mine.png"
    unknown.parent.mkdir(parents=True)
    unknown.write_bytes(b"a file LoRAIro did not write")
    with project.db.session(write=True) as session:
        session.execute(
            text("INSERT INTO import_runs (roots_json, status, total_files, started_at) "
                 "VALUES ('[]', 'running', 0, '2026-01-01')")
        )  # fmt: skip
    _run(config, project, gen.write_jpeg(tmp_path / "one.jpg", 100, 80, seed=1))
    assert not stray.exists() and not temp.exists()
    assert unknown.read_bytes() == b"a file LoRAIro did not write"
    assert not list((project.root / ".write-intents").glob("*.log"))
    assert _rows(project, "SELECT status FROM import_runs ORDER BY id")[0][0] == "interrupted"


def test_missing_path_and_concurrent_import_are_clear_errors(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    with pytest.raises(ImageProcessingError, match="not found"):
        _run(config, project, tmp_path / "nope")
    with ImportLock(project.root), pytest.raises(ProjectBusyError, match="busy: an import"):
        _run(config, project, tmp_path)


def _import_in_child(work: Path, src: Path, user: int | None) -> dict[str, list[str | None]]:
    """Fork, drop to `user` (if given), import `src` into a new project under `work`, return outcomes."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            if user is not None:
                os.setgid(user)
                os.setuid(user)
            os.environ["LORAIRO_CONFIG_PATH"] = str(work / "config.toml")
            os.environ["LORAIRO_DATABASE_DIR"] = str(work / "projects")
            config = ConfigurationService()
            opened = ProjectService(config).create("perm")
            summary = ImageProcessingService(config, opened).import_paths([src], jobs=1)
            payload = {Path(o.path).name: [o.outcome, o.reason] for o in summary.outcomes}
            os.write(write_end, json.dumps(payload).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(data)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to drop privileges")
def test_unreadable_file_is_skipped_with_the_os_reason() -> None:
    """chmod 000 only stops non-root users, so when the tests run as root the import runs in a forked
    child that has become `nobody`: the permission error comes from the OS, not from a mock."""
    work = Path(tempfile.mkdtemp(prefix="lorairo-perm-"))  # /tmp itself: pytest's tmp dirs are root-only
    try:
        work.chmod(0o777)
        src = work / "src"
        gen.write_jpeg(src / "ok.jpg", 120, 90, seed=1)
        locked = gen.write_jpeg(src / "locked.jpg", 120, 90, seed=2)
        src.chmod(0o755)
        locked.chmod(0o000)
        result = _import_in_child(work, src, 65534 if os.geteuid() == 0 else None)
        assert result["ok.jpg"] == ["imported", None]
        assert result["locked.jpg"] == ["skipped", "unreadable"]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_import_from_a_worker_thread_uses_a_fork_safe_pool(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    """The GUI calls the service from a worker thread: with other threads alive the pool must not fork."""
    gen.mixed_corpus(tmp_path / "src", 8, seed=6, jpeg_sides=(120, 240), png_sides=(120, 240))
    results: list[ImportSummary] = []
    worker = threading.Thread(target=lambda: results.append(_run(config, project, tmp_path / "src", jobs=2)))
    worker.start()
    worker.join(timeout=300)
    assert results and results[0].imported == 8
