"""`python -m image_annotator_lib list`: installed / needs files / needs extra / needs API key, and device."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "image_annotator_lib", *args], env=environ, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_list_json_reports_each_state(tmp_path) -> None:
    out = _run("list", "--json", HF_HUB_CACHE=str(tmp_path), HF_HUB_OFFLINE="1")
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    nsfw = rows["open-nsfw"]
    assert nsfw["state"] == "installed" and nsfw["installed"] and nsfw["device"] == "cpu"
    wd = rows["wd-vit-tagger-v3"]
    assert wd["state"] == "needs files" and "download wd-vit-tagger-v3" in wd["needs"][0]
    assert rows["blip-large-captioner"]["kind"] == "captioner"
    try:
        import torch  # noqa: F401
    except ImportError:
        assert rows["blip-large-captioner"]["state"] == "needs extra"
    cloud = [row for row in rows.values() if row["kind"] == "cloud"]
    assert cloud and all(row["device"] == "cloud" for row in cloud)
    assert any(row["state"] == "needs API key" for row in cloud)


@pytest.mark.slow
def test_list_table_has_a_header_and_one_row_per_model(tmp_path) -> None:
    out = _run("list", "--kind", "rating", HF_HUB_CACHE=str(tmp_path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:5] == ["MODEL", "KIND", "FRAMEWORK", "STATE", "DEVICE"]
    assert any(line.startswith("open-nsfw ") and " installed " in line for line in lines[2:])


def test_no_command_prints_help() -> None:
    out = _run()
    assert out.returncode == 2 and "list" in out.stdout and "download" in out.stdout
