"""The tag-db command line, driven through typer's runner and as the installed script."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from genai_tag_db_tools.cli import app
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture
def small_vocab(tmp_path: Path, danbooru_csv: Path, head_of: Callable[[Path, Path, int], Path]) -> Path:
    """The 3000 most used real Danbooru tags."""
    return head_of(danbooru_csv, tmp_path / "danbooru.csv", 3000)


def _json(args: list[str]) -> object:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_import_search_clean_stats_json(tmp_path: Path, small_vocab: Path) -> None:
    db = ["--db-dir", str(tmp_path / "db")]
    report = _json(["import", str(small_vocab), "--json", *db])
    assert report["imported"] == 3000
    assert report["format"] == "danbooru"
    hits = _json(["search", "long ha", "--json", *db])
    assert hits[0]["name"] == "long hair"
    assert hits[0]["count"] == 4350743
    assert "longhair" in hits[0]["aliases"]
    cleaned = _json(["clean", r"highres, 1girls, long_hair, photo_\(medium\), long hair", "--json", *db])
    assert cleaned["tags"] == ["1girl", "long hair", "highres", "photo (medium)"]
    assert cleaned["caption"] == "1girl, long hair, highres, photo (medium)"
    assert cleaned["renamed"] == {"1girls": "1girl"}
    stats = _json(["stats", "--json", *db])
    assert stats["formats"]["danbooru"]["tags"] == 3000


def test_clean_without_database(tmp_path: Path) -> None:
    cleaned = _json(["clean", "b_c, ^_^, b c", "--no-db", "--underscores", "--json"])
    assert cleaned["tags"] == ["b_c", "^_^"]


def test_errors_are_one_line_and_exit_nonzero(tmp_path: Path) -> None:
    db = ["--db-dir", str(tmp_path / "db")]
    result = runner.invoke(app, ["import", str(tmp_path / "missing.csv"), *db])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "file not found" in result.stderr
    result = runner.invoke(app, ["search", "long", "--json", *db])
    assert result.exit_code == 1
    assert "tag-db import" in result.stderr


@pytest.mark.slow
def test_installed_script_runs(tmp_path: Path, small_vocab: Path) -> None:
    exe = shutil.which("tag-db")
    if exe is None:
        pytest.skip("tag-db script is not on PATH (run through `uv run pytest`)")
    env_db = str(tmp_path / "db")
    subprocess.run([exe, "import", str(small_vocab), "--db-dir", env_db], check=True, capture_output=True)
    out = subprocess.run(
        [exe, "search", "long_ha", "--json", "--db-dir", env_db], check=True, capture_output=True, text=True
    )
    assert json.loads(out.stdout)[0]["name"] == "long hair"
