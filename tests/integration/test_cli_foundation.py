"""The `lorairo` command line: projects, config, version, errors, JSON output."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lorairo.database import migrations
from lorairo.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version_in_a_real_process() -> None:
    result = subprocess.run([sys.executable, "-m", "lorairo", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("LoRAIro ")


def test_project_create_then_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "project", "create", "demo")
    assert code == 0 and "demo" in out
    code, out, _ = run(capsys, "project", "list", "--json")
    assert code == 0
    [entry] = json.loads(out)
    assert entry["name"] == "demo" and entry["image_count"] == 0
    root = Path(entry["path"])
    assert (root / "database.db").is_file() and (root / "images").is_dir()
    conn = sqlite3.connect(root / "database.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (migrations.head_revision(),)
    conn.close()


def test_project_info_rename_delete(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "project", "create", "one")[0] == 0
    _code, out, _ = run(capsys, "project", "info", "one", "--json")
    assert json.loads(out)["image_count"] == 0
    assert run(capsys, "project", "rename", "one", "two")[0] == 0
    assert run(capsys, "project", "delete", "two", "--yes", "--json")[0] == 0
    _, out, _ = run(capsys, "project", "list", "--json")
    assert json.loads(out) == []


def test_errors_are_one_clear_line_and_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "project", "create", "demo")
    code, _, err = run(capsys, "project", "create", "demo")
    assert code == 1
    assert err.strip().count("\n") == 0 and "already exists" in err
    code, _, err = run(capsys, "project", "create", "a/b")
    assert code == 1 and "not allowed" in err
    code, _, err = run(capsys, "config", "set", "log.level", "LOUD")
    assert code == 1 and "log.level" in err


def test_config_show_get_set_mask_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    key = "sk-live-abcdefghijklmnop9876"
    code, out, _ = run(capsys, "config", "set", "api.openai_key", key)
    assert code == 0 and key not in out and "sk-l***9876" in out
    code, out, _ = run(capsys, "config", "show")
    assert code == 0 and key not in out and "sk-l***9876" in out
    code, out, _ = run(capsys, "config", "show", "--json")
    assert json.loads(out)["api"]["openai_key"] == "sk-l***9876"
    code, out, _ = run(capsys, "config", "get", "api.openai_key", "--json")
    assert json.loads(out)["value"] == "sk-l***9876"
    # ... but the file holds the real key, so the app can use it.
    assert key in Path(os.environ["LORAIRO_CONFIG_PATH"]).read_text(encoding="utf-8")


def test_config_path_and_list_values(capsys: pytest.CaptureFixture[str]) -> None:
    _code, out, _ = run(capsys, "config", "path", "--json")
    assert json.loads(out)["path"] == os.environ["LORAIRO_CONFIG_PATH"]
    assert run(capsys, "config", "set", "image_processing.extensions", "png, jpg")[0] == 0
    _, out, _ = run(capsys, "config", "get", "image_processing.extensions", "--json")
    assert json.loads(out)["value"] == ["png", "jpg"]


def test_broken_config_file_is_reported_not_overwritten(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(os.environ["LORAIRO_CONFIG_PATH"])
    path.parent.mkdir(parents=True)
    path.write_text("[log\nlevel = 1\n", encoding="utf-8")
    code, _, err = run(capsys, "config", "set", "log.level", "DEBUG")
    assert code == 1 and str(path) in err and "line 1" in err
    assert path.read_text(encoding="utf-8") == "[log\nlevel = 1\n"
