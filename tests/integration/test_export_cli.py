"""`lorairo export`: the must-show scenario in a real process, plus refusals and filters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from lorairo.main import main
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export.bucketing import make_bucket_resolutions
from lorairo.services.project_service import ProjectService
from tests.support.export_data import ImageSpec, add_images, simple_tags


def make_project(name: str = "shoot") -> list[int]:
    project = ProjectService(ConfigurationService()).create(name)
    try:
        return add_images(
            project,
            [
                ImageSpec("p1.jpg", (900, 1350), fmt="JPEG", tags=simple_tags("1girl", "photo_(medium)", "smile")),
                ImageSpec("p2.png", (1400, 800), tags=simple_tags("1girl", "outdoors"), caption="A walk."),
                ImageSpec("p3.webp", (1024, 1024), fmt="WEBP", tags=[("^_^", "general", "manual", None, False)]),
                ImageSpec("p4.png", (640, 640), tags=simple_tags("blurry", confidence=0.1)),  # no tag passes
                ImageSpec("p5.png", (512, 512), tags=simple_tags("near dup"), excluded=True),
            ],
        )
    finally:
        project.close()


def test_must_show_kohya_export_in_a_real_process(tmp_path: Path) -> None:
    make_project()
    out = tmp_path / "dataset"
    cmd = [sys.executable, "-m", "lorairo", "export", "--project", "shoot", "--format", "kohya", "--out", str(out)]
    cmd += ["--resolution", "1024", "--trigger", "sks", "--class", "woman", "--repeats", "10", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["exported"] == 4 and report["excluded"] == 1 and report["keep_tokens"] == 1

    folder = out / "10_sks woman"
    config = tomllib.loads((out / "dataset_config.toml").read_text(encoding="utf-8"))
    ext = config["general"]["caption_extension"]
    assert ext == ".txt"
    assert Path(config["datasets"][0]["subsets"][0]["image_dir"]) == folder.resolve()
    buckets = set(make_bucket_resolutions((1024, 1024), 256, 1024, 64))
    images = [p for p in folder.iterdir() if p.suffix in (".png", ".jpg", ".webp")]
    assert len(images) == 4
    for image in images:
        caption = (folder / f"{image.stem}{ext}").read_text(encoding="utf-8")
        assert caption.strip(), image
        assert caption.split(", ")[0] == "sks"
        with Image.open(image) as im:
            assert im.size in buckets
    assert (folder / "p1.txt").read_text() == "sks, 1girl, photo (medium), smile"
    assert (folder / "p3.txt").read_text() == "sks, ^_^"
    assert (folder / "p4.txt").read_text() == "sks"  # nothing passed the threshold: the trigger word is written


def test_cli_refuses_non_empty_target_and_takes_ids_and_filters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = make_project()
    out = tmp_path / "o"
    out.mkdir()
    (out / "old.txt").write_text("x")
    base = ["export", "--project", "shoot", "--out", str(out), "--trigger", "sks"]
    assert main(base) == 1
    assert "not empty" in capsys.readouterr().err
    assert main([*base, "--force", "--ids", f"{ids[0]},{ids[2]}", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exported"] == 2
    assert not (out / "old.txt").exists()  # --force replaces the whole folder

    filtered = tmp_path / "f"
    assert (
        main(["export", "-p", "shoot", "--out", str(filtered), "--filter", "outdoors", "--format", "hf", "--json"]) == 0
    )
    rows = (filtered / "train" / "metadata.jsonl").read_text().splitlines()
    assert [json.loads(r)["file_name"] for r in rows] == ["p2.png"]
    capsys.readouterr()
    assert main(["export", "-p", "shoot", "--out", str(tmp_path / "x"), "--caption-ext", ".png"]) == 1
    assert "caption_extension" in capsys.readouterr().err


def test_class_without_trigger_keeps_untagged_images_and_progress_shows_rate_and_eta(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = ProjectService(ConfigurationService()).create("cls")
    try:
        add_images(
            project,
            [
                ImageSpec("tagged.png", (512, 512), tags=simple_tags("smile")),
                ImageSpec("bare.png", (512, 512)),  # no tag, no caption
            ],
        )
    finally:
        project.close()
    out = tmp_path / "o"
    assert main(["export", "-p", "cls", "--out", str(out), "--class", "woman"]) == 0
    captured = capsys.readouterr()
    assert (out / "10_woman" / "bare.txt").read_text() == "woman"  # was skipped as "empty caption"
    assert (out / "10_woman" / "tagged.txt").read_text() == "smile"
    assert "1 images had no tags or caption" in captured.out
    assert "images/s" in captured.err and "ETA" in captured.err  # the progress line, like import's
    assert "images/s)" in captured.out  # the summary's rate


def test_bad_enumerations_name_the_value_and_the_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_project()
    base = ["export", "-p", "shoot", "--out", str(tmp_path / "o")]
    assert main([*base, "--categories", "general,charcter"]) == 1
    err = capsys.readouterr().err
    assert "'charcter'" in err and "character" in err and "general" in err
    assert main([*base, "--caption-mode", "sentences"]) == 1
    assert "'sentences'" in capsys.readouterr().err
    assert main([*base, "--format", "kohyaa"]) == 1
    assert "kohya-json" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
