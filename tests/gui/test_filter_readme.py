"""The README's filter examples on a project imported from sidecars written in mixed case: the CLI and the GUI
filter bar parse them with the same parser and select the same images (issue "Trust": comma = AND returned
nothing before, and `Long Hair` was not `long hair`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lorairo.gui.widgets.filter_bar import FilterBar
from lorairo.gui.workers import JobManager
from lorairo.main import main
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_query_service import ImageQueryService
from lorairo.services.project_service import ProjectService

PHOTOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "photos"
SIDECARS = {
    "chelsea.png": "Long Hair, Cat, smile",
    "coffee.png": "LONG_HAIR, dog",
    "horse.png": "long hair, Dog, Blurry",
    "astronaut.png": "long hair, Green Eyes",
    "rocket.jpg": "green_eyes, rocket",
    "camera.png": "",  # no sidecar: untagged
}


@pytest.fixture
def sidecar_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    src = tmp_path / "src"
    src.mkdir()
    for name, tags in SIDECARS.items():
        shutil.copy(PHOTOS / name, src / name)
        if tags:
            (src / name).with_suffix(".txt").write_text(tags, encoding="utf-8")
    ProjectService(ConfigurationService()).create("readme").close()
    assert main(["import", str(src), "--project", "readme", "--json"]) == 0
    capsys.readouterr()
    assert main(["query", "--project", "readme", "--json"]) == 0
    return {image["file_name"]: image["id"] for image in json.loads(capsys.readouterr().out)["images"]}


def _cli_ids(capsys: pytest.CaptureFixture[str], text: str) -> list[int]:
    assert main(["query", "--project", "readme", "--filter", text, "--quiet"]) == 0
    return [int(line) for line in capsys.readouterr().out.split()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("long hair, cat|dog, -blurry", ["chelsea.png", "coffee.png"]),
        ('tag:"long hair" -blurry', ["astronaut.png", "chelsea.png", "coffee.png"]),
        ("Green Eyes", ["astronaut.png", "rocket.jpg"]),
        ("green eyes", ["astronaut.png", "rocket.jpg"]),
        ("green_eyes", ["astronaut.png", "rocket.jpg"]),
        ("untagged", ["camera.png"]),
        ("-untagged, -blurry", ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]),
    ],
)
def test_readme_filters_select_the_same_images_in_cli_and_gui(
    qtbot,  # type: ignore[no-untyped-def]
    sidecar_project: dict[str, int],
    capsys: pytest.CaptureFixture[str],
    text: str,
    expected: list[str],
) -> None:
    want = sorted(sidecar_project[name] for name in expected)
    assert _cli_ids(capsys, text) == want
    bar = FilterBar(JobManager())
    qtbot.addWidget(bar)
    bar.tags.setText(text)
    project = ProjectService(ConfigurationService()).open("readme")
    try:
        assert ImageQueryService(project.db).query_ids(bar.current_filter()) == want
    finally:
        project.close()


def test_score_and_rating_example_needs_those_annotations(
    sidecar_project: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    # The README's second example parses and runs; with no model scores or ratings yet it matches nothing.
    assert _cli_ids(capsys, 'tag:"long hair" -blurry score>=6 rating:general') == []
