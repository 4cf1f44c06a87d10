"""Project lifecycle under concurrency and damage: the lock held by every writer, databases that are not ours,
the orphan sweep that only deletes what it can prove, `project check`, symlinked folders, disk full."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from loguru import logger
from sqlalchemy import text

from lorairo.exceptions import DatabaseError, DiskFullError, ProjectBusyError, ProjectError
from lorairo.main import main
from lorairo.services.annotation_service import AnnotationService
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.importing.isolated import import_in_child
from lorairo.services.project_check import check_project
from lorairo.services.project_service import Project, ProjectService
from lorairo.storage.lock import ProjectLock
from lorairo.utils import faults
from tests.support import images as gen
from tests.support.models import register_tiny_tagger


@pytest.fixture
def config() -> ConfigurationService:
    return ConfigurationService()


@pytest.fixture
def projects(config: ConfigurationService) -> ProjectService:
    return ProjectService(config)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    for i in range(6):
        gen.write_jpeg(folder / f"img{i}.jpg", 96 + i * 8, 72, seed=i)
    return folder


@pytest.fixture
def project(projects: ProjectService, config: ConfigurationService, source: Path) -> Iterator[Project]:
    opened = projects.create("demo")
    ImageProcessingService(config, opened).import_paths([source], jobs=1)
    yield opened
    opened.close()


def _files(root: Path) -> dict[str, bytes]:
    """Every image copy and thumbnail of a project, with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for folder in ("images", "thumbnails")
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
    }


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@contextmanager
def held_by_another_process(root: Path, operation: str) -> Iterator[int]:
    """Another process holding the project's lock (as a running `lorairo import` would); yields its pid."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom lorairo.storage.lock import ProjectLock\n"
        "with ProjectLock(Path(sys.argv[1]), sys.argv[2]):\n    print('held', flush=True)\n    sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(root), operation], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


# --- one lock per project --------------------------------------------------------------------------------


def test_rename_and_delete_during_an_import_are_refused_and_nothing_moves(
    projects: ProjectService, project: Project
) -> None:
    before = _files(project.root)
    with held_by_another_process(project.root, "import") as pid:
        with pytest.raises(ProjectBusyError, match=rf"busy: an import \(pid {pid}"):
            projects.rename("demo", "renamed")
        with pytest.raises(ProjectBusyError, match="busy: an import"):
            projects.delete("demo", confirm="demo")
    assert sorted(p.name for p in projects.root.iterdir()) == ["demo"]  # no ghost, no half-deleted folder
    assert _files(project.root) == before
    # Once the import is over, both work.
    project.close()
    target = projects.rename("demo", "renamed")
    assert _files(target) == before
    projects.delete("renamed", confirm="renamed")
    assert list(projects.root.iterdir()) == []


def test_cli_rename_and_delete_during_an_import_are_one_line_naming_the_holder(
    capsys: pytest.CaptureFixture[str], project: Project
) -> None:
    with held_by_another_process(project.root, "import"):
        for args in (("project", "rename", "demo", "other"), ("project", "delete", "demo", "--yes")):
            code, _out, err = _cli(capsys, *args)
            assert code == 1
            assert "busy: an import (pid" in err and err.strip().count("\n") == 0
    assert (project.root / "database.db").is_file()


def test_a_rename_while_the_app_only_shows_the_project_loses_no_edit_and_leaves_no_ghost(
    config: ConfigurationService, projects: ProjectService, project: Project, source: Path
) -> None:
    """Accepted by design (docs/reliability.md, section 2): the lock is for writer operations, so a project the
    app merely has open can be renamed from the CLI. An edit made in the app afterwards still lands in the
    renamed project (the open database file moved with its folder); a writer operation started from the stale
    window is refused with a clear error and does not recreate the old folder."""
    from lorairo.services.edit_service import EditService

    old_root = project.root
    edits = EditService(project)  # the app's view of the project, opened before the rename
    ProjectService(config).rename("demo", "moved")  # the CLI, another ProjectService
    assert edits.add_tags([1, 2], ["after rename"]).changed_ids == (1, 2)
    with pytest.raises(ProjectError, match="renamed or deleted meanwhile"):
        ImageProcessingService(config, project).import_paths([source], jobs=1)
    assert not old_root.exists()  # no ghost folder under the old name
    project.close()
    moved = projects.open("moved")
    try:
        assert {t.tag for t in EditService(moved).get_image_details(2).tags} == {"after rename"}
    finally:
        moved.close()


def test_a_rename_while_the_desktop_app_imports_is_refused(
    config: ConfigurationService, projects: ProjectService, tmp_path: Path
) -> None:
    """The app imports in a child process (services/importing/isolated.py) that takes the same lock."""
    root = projects.create("app").root
    src = tmp_path / "app-src"
    src.mkdir()
    for i in range(4):
        gen.write_jpeg(src / f"{i}.jpg", 100, 80, seed=40 + i)
    refusals: list[str] = []

    def rename_from_the_cli(_done: int, _total: int, _message: str) -> None:
        if not refusals:
            try:
                projects.rename("app", "moved")
            except ProjectBusyError as exc:
                refusals.append(str(exc))
            else:
                refusals.append("renamed!")

    summary = import_in_child(config.config_path, "app", root, [src], progress=rename_from_the_cli)
    assert refusals and "busy: an import" in refusals[0]
    assert summary.imported == 4
    opened = projects.open("app")
    try:
        with opened.db.session() as session:
            paths = session.execute(text("SELECT file_path FROM images")).scalars().all()
        assert len(paths) == 4 and all((opened.root / p).is_file() for p in paths)
    finally:
        opened.close()


def test_two_annotation_runs_are_serialised_the_second_is_refused(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    register_tiny_tagger(tmp_path / "tiny")
    with project.db.session() as session:
        ids = list(session.execute(text("SELECT id FROM images")).scalars())
    service = AnnotationService(config, project)
    with (
        held_by_another_process(project.root, "annotate") as pid,
        pytest.raises(
            ProjectBusyError,
            match=rf"busy: an annotation run \(pid {pid}.*\) is running; the annotation run needs it to finish",
        ),
    ):
        service.run(ids, ["tiny-wd"])
    with ProjectLock(project.root, "import"), pytest.raises(ProjectBusyError, match="busy: an import"):
        service.run(ids, ["tiny-wd"])
    with project.db.session() as session:
        assert session.execute(text("SELECT count(*) FROM annotations")).scalar_one() == 0
    assert service.run(ids, ["tiny-wd"]).annotated == {"tiny-wd": len(ids)}
    with project.db.session() as session:
        assert session.execute(text("SELECT count(*) FROM annotations")).scalar_one() == len(ids)


def test_a_lock_on_a_project_renamed_meanwhile_leaves_no_ghost_folder(projects: ProjectService) -> None:
    stale = projects.create("old")
    stale.close()
    projects.rename("old", "new")
    with pytest.raises(ProjectError, match="gone"), ProjectLock(stale.root, "import"):
        pass
    assert sorted(p.name for p in projects.root.iterdir()) == ["new"]


# --- a database that is not ours is never treated as empty -----------------------------------------------


def _damage(db: Path, how: str, tmp_path: Path) -> None:
    good = db.read_bytes()
    for extra in (db.with_name("database.db-wal"), db.with_name("database.db-shm")):
        extra.unlink(missing_ok=True)
    if how == "empty":
        db.write_bytes(b"")
    elif how == "truncated":
        db.write_bytes(good[: len(good) // 3])
    elif how == "not sqlite":
        db.write_bytes(b"PK\x03\x04 a zip file saved over the database")
    elif how == "foreign sqlite":
        db.unlink()
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.commit()
        conn.close()


@pytest.mark.parametrize("how", ["empty", "truncated", "not sqlite", "foreign sqlite"])
def test_a_damaged_database_is_refused_and_no_file_is_deleted(
    capsys: pytest.CaptureFixture[str], projects: ProjectService, project: Project, source: Path, how: str
) -> None:
    """Regression: a 0-byte database.db was migrated in place as an empty project, and the next import then
    deleted every image copy and thumbnail as "orphans"."""
    project.close()
    conn = sqlite3.connect(project.db_path)  # fold the WAL in so 'truncated' cuts real pages
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    files = _files(project.root)
    assert files
    _damage(project.db_path, how, source.parent)
    damaged = project.db_path.read_bytes()

    with pytest.raises(DatabaseError, match=f"{project.db_path}: .*nothing was changed"):
        projects.open("demo")
    code, _out, err = _cli(capsys, "import", "-p", "demo", str(source))
    assert code == 1 and str(project.db_path) in err.replace("\n", "")
    code, _out, err = _cli(capsys, "project", "info", "demo")
    assert code == 1 and "cannot be opened" in err
    code, out, _err = _cli(capsys, "project", "check", "demo")
    assert code == 1 and "Nothing else was checked" in out

    assert _files(project.root) == files  # every copy and thumbnail is still there, unchanged
    assert project.db_path.read_bytes() == damaged  # never migrated in place
    assert not list(project.root.glob("database.db.bak-*"))


def test_an_older_database_copy_never_costs_the_newer_files(
    config: ConfigurationService, projects: ProjectService, project: Project, tmp_path: Path
) -> None:
    """The sweep deletes only files a run journaled; a database copied back from before an import (and taken
    while a run was marked running) must not make that import's files "orphans"."""
    with project.db.session(write=True) as session:
        session.execute(
            text("INSERT INTO import_runs (roots_json, status, total_files, started_at) "
                 "VALUES ('[]', 'running', 0, '2026-01-01')")
        )  # fmt: skip
    backup = tmp_path / "copy.db"
    conn, copy = sqlite3.connect(project.db_path), sqlite3.connect(backup)
    conn.backup(copy)
    conn.close(), copy.close()
    newer = tmp_path / "newer"
    newer.mkdir()
    for i in range(3):
        gen.write_jpeg(newer / f"n{i}.jpg", 90, 70, seed=100 + i)
    ImageProcessingService(config, project).import_paths([newer], jobs=1)
    project.close()
    files = _files(project.root)
    for extra in ("database.db-wal", "database.db-shm"):
        (project.root / extra).unlink(missing_ok=True)
    shutil.copyfile(backup, project.db_path)
    reopened = projects.open("demo")
    try:
        more = tmp_path / "more"
        more.mkdir()
        gen.write_jpeg(more / "m.jpg", 90, 70, seed=200)
        ImageProcessingService(config, reopened).import_paths([more], jobs=1)
    finally:
        reopened.close()
    after = _files(project.root)
    assert set(files) <= set(after)  # the newer import's files are kept, to be reported by `project check`
    report = check_project(projects, "demo")
    assert len(report.untracked_files) == 6  # 3 copies + 3 thumbnails of the images the copy does not list
    assert not report.ok


# --- project check ---------------------------------------------------------------------------------------


def test_check_reports_problems_and_repair_fixes_what_it_can(
    capsys: pytest.CaptureFixture[str], projects: ProjectService, project: Project
) -> None:
    with project.db.session() as session:
        rows = session.execute(text("SELECT id, file_path, hash_value FROM images ORDER BY id")).all()
    (project.root / rows[0].file_path).unlink()  # a copy lost: its source still exists
    thumbs = sorted((project.root / "thumbnails").rglob(f"{rows[1].hash_value}.*"))
    thumbs[0].unlink()
    stray = project.root / "images" / "stray.png"
    stray.write_bytes(b"someone else's file")
    project.close()

    code, out, _ = _cli(capsys, "project", "check", "demo")
    assert code == 1
    assert "database integrity: ok" in out
    assert f"#{rows[0].id} {rows[0].file_path}" in out
    assert "images without a thumbnail: 1" in out and f"#{rows[1].id} {rows[1].file_path}" in out
    assert "images/stray.png" in out and "3 problem(s) remain" in out

    code, out, _ = _cli(capsys, "project", "check", "demo", "--repair")
    assert code == 1  # the stray file is reported, never deleted
    assert "repaired: 1 copies of originals" in out and "repaired: 1 thumbnails re-created" in out
    assert (project.root / rows[0].file_path).is_file() and thumbs[0].is_file()
    assert stray.read_bytes() == b"someone else's file"
    assert not list((project.root / ".write-intents").glob("*.log"))  # what the repair wrote is settled

    stray.unlink()
    code, out, _ = _cli(capsys, "project", "check", "demo", "--json")
    assert code == 0 and '"ok": true' in out


def test_check_refuses_while_an_import_runs(projects: ProjectService, project: Project) -> None:
    with held_by_another_process(project.root, "import"), pytest.raises(ProjectBusyError):
        check_project(projects, "demo")


# --- every error is one line -----------------------------------------------------------------------------


def test_a_symlinked_project_folder_is_refused_and_its_target_untouched(
    capsys: pytest.CaptureFixture[str], projects: ProjectService, tmp_path: Path
) -> None:
    real = projects.create("real")
    real.close()
    elsewhere = tmp_path / "elsewhere"
    real.root.rename(elsewhere)
    (projects.root / "linked").symlink_to(elsewhere, target_is_directory=True)
    for args in (
        ("project", "info", "linked"),
        ("import", "-p", "linked", str(tmp_path)),
        ("project", "rename", "linked", "x"),
        ("project", "delete", "linked", "--yes"),
    ):
        code, _out, err = _cli(capsys, *args)
        assert code == 1 and "symbolic link" in err, args
    assert (elsewhere / "database.db").is_file() and (projects.root / "linked").is_symlink()


def test_disk_full_at_the_annotation_commit_is_one_line_and_the_run_can_be_repeated(
    config: ConfigurationService, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_tiny_tagger(tmp_path / "tiny")
    with project.db.session() as session:
        ids = list(session.execute(text("SELECT id FROM images")).scalars())
    service = AnnotationService(config, project)
    monkeypatch.setattr(faults, "_PLAN", {"commit": (1, faults.ENOSPC)})
    monkeypatch.setattr(faults, "_seen", faults.Counter())
    with pytest.raises(DiskFullError, match=f"^disk full at {project.db_path}: "):
        service.run(ids, ["tiny-wd"])
    monkeypatch.setattr(faults, "_PLAN", {})
    with ProjectLock(project.root, "check"):  # the failed run released the lock
        pass
    assert service.run(ids, ["tiny-wd"]).annotated == {"tiny-wd": len(ids)}
    with project.db.session() as session:
        pairs = session.execute(text("SELECT count(*), count(DISTINCT image_id) FROM annotations")).one()
    assert tuple(pairs) == (len(ids), len(ids))


def test_disk_full_during_an_import_is_one_line_and_the_run_is_not_left_running(
    projects: ProjectService, project: Project, tmp_path: Path
) -> None:
    more = tmp_path / "more"
    more.mkdir()
    for i in range(5):
        gen.write_jpeg(more / f"m{i}.jpg", 90, 70, seed=300 + i)
    project.close()
    env = {**os.environ, "LORAIRO_FAULTS": "commit=2:enospc"}  # 1: start the run, 2: the first batch
    result = subprocess.run(
        [sys.executable, "-m", "lorairo", "import", "-p", "demo", str(more), "--jobs", "1", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and f"disk full at {project.db_path}" in result.stderr
    conn = sqlite3.connect(project.db_path)
    assert conn.execute("SELECT status FROM import_runs ORDER BY id DESC LIMIT 1").fetchone() == ("failed",)
    conn.close()
    assert check_project(projects, "demo").ok  # the failed batch's files were swept at once
    again = subprocess.run(
        [sys.executable, "-m", "lorairo", "import", "-p", "demo", str(more), "--jobs", "1", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert check_project(projects, "demo").ok


def test_max_workers_is_capped_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORAIRO_MAX_WORKERS", "100000")
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING")
    try:
        workers = ConfigurationService().max_workers()
    finally:
        logger.remove(sink)
    cores = os.cpu_count() or 1
    assert workers == 4 * cores
    assert any("resources.max_workers = 100000" in m and f"using {4 * cores}" in m for m in messages)


# --- where keys are (not) stored -------------------------------------------------------------------------


def test_an_api_key_never_reaches_the_project_the_log_or_batch_files(
    config: ConfigurationService, project: Project
) -> None:
    """The key lives in the user's configuration file only: cloud annotation and a Batch API job leave no copy
    in the project folder (database, WAL, journals), the log or the batch results folder."""
    from image_annotator_lib.testing.fake_providers import start_openai_server

    from lorairo.services.batch_annotation_service import BatchAnnotationService
    from lorairo.utils.log import setup_from_config
    from tests.support.models import register_batch_cloud_model

    key = "sk-test-reliability-0123456789abcdef0123456789"
    server = start_openai_server()
    try:
        register_batch_cloud_model(server.openai_base_url)
        setup_from_config(config, console=False)
        config.update_setting("api", "openai_key", key)
        with project.db.session() as session:
            ids = list(session.execute(text("SELECT id FROM images")).scalars())
        service = AnnotationService(config, project)
        assert service.run(ids, ["loopback-gpt"]).annotated == {"loopback-gpt": len(ids)}
        BatchAnnotationService(service).submit(ids, "loopback-gpt")
    finally:
        server.stop()
    assert key in config.config_path.read_text(encoding="utf-8")  # where it is meant to be
    log_file = config.log_file_path()
    assert log_file.is_file() and "sk-t***6789" in log_file.read_text(encoding="utf-8")  # logged, masked
    places = [project.root, config.batch_results_dir(), log_file.parent]
    leaks = [
        str(path)
        for place in places
        for path in Path(place).rglob("*")
        if path.is_file() and key.encode() in path.read_bytes()
    ]
    assert leaks == []
