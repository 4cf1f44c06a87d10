"""`lorairo import` end to end: JSON output, exit codes, and a SIGKILL in the middle of an import."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lorairo.main import main
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import ProjectService
from lorairo.storage.layout import image_path, thumbnail_path
from tests.support import images as gen


def _create_project(name: str) -> Path:
    project = ProjectService(ConfigurationService()).create(name)
    project.close()
    return project.root


def test_cli_json_summary_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _create_project("cli")
    src = tmp_path / "src"
    gen.mixed_corpus(src, 5, seed=1, jpeg_sides=(100, 200), png_sides=(100, 200))
    (src / "broken.jpg").write_bytes(b"nope")
    assert main(["import", str(src), "--project", "cli", "--jobs", "2", "--json"]) == 0  # skipped files are fine
    data = json.loads(capsys.readouterr().out)
    assert (data["status"], data["imported"], data["skipped"]) == ("completed", 5, 1)
    assert data["skipped_by_reason"] == {"not an image": 1}
    assert {f["outcome"] for f in data["files"]} == {"imported", "skipped"}

    assert main(["import", str(src), "--project", "cli"]) == 0  # human output, re-run imports nothing
    out = capsys.readouterr().out
    assert "already imported" in out and "broken.jpg" in out

    assert main(["import", str(tmp_path / "missing"), "--project", "cli"]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["import", str(src), "--project", "no-such-project"]) == 1


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM images").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_sigkill_mid_import_leaves_a_consistent_project_and_a_rerun_completes(tmp_path: Path) -> None:
    root = _create_project("killed")
    src = tmp_path / "src"
    total = 100
    gen.mixed_corpus(src, total, seed=7, jpeg_sides=(200, 500), png_sides=(160, 320))
    env = {**os.environ, "LORAIRO_BATCH_SIZE": "10"}
    command = [sys.executable, "-m", "lorairo", "import", str(src), "--project", "killed", "--jobs", "2", "--json"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _count(root / "database.db") < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # the import process only: its workers die with it
    proc.wait()
    killed_at = _count(root / "database.db")
    assert 0 < killed_at < total, "the import was not caught mid-way; make the corpus larger"

    with sqlite3.connect(root / "database.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT status FROM import_runs").fetchall() == [("running",)]

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["status"] == "completed" and summary["skipped_by_reason"].get("already imported", 0) >= killed_at

    project = ProjectService(ConfigurationService()).open("killed")
    try:
        with sqlite3.connect(project.db_path) as conn:
            rows = conn.execute("SELECT file_path, hash_value FROM images").fetchall()
            statuses = [s for (s,) in conn.execute("SELECT status FROM import_runs ORDER BY id")]
        assert len(rows) == total and len({h for _p, h in rows}) == total  # one row per unique image
        for file_path, hash_value in rows:
            assert image_path(project, file_path).is_file() and thumbnail_path(project, hash_value).is_file()
        stored = [p for p in project.images_dir.rglob("*") if p.is_file()]
        assert len(stored) == total  # no orphan or half-written file left behind
        assert statuses == ["interrupted", "completed"]
    finally:
        project.close()
