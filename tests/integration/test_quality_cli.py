"""Quality checks end to end: measured at import, backfilled by `lorairo quality` (failures per image), found by
`lorairo query -f quality:...`, with the metrics in --json rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from PIL import Image, ImageFilter, ImageOps

from lorairo.main import main
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import ProjectService
from lorairo.storage.lock import ProjectLock

PHOTOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "photos"


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    if not (PHOTOS / "coffee.png").is_file():
        pytest.skip("shared photos are not available")
    folder = tmp_path / "in"
    folder.mkdir()
    with Image.open(PHOTOS / "coffee.png") as image:
        coffee = image.convert("RGB")
    coffee.save(folder / "coffee.png")
    coffee.filter(ImageFilter.GaussianBlur(3)).save(folder / "coffee_blur.png")
    ImageOps.grayscale(coffee).save(folder / "coffee_grey.jpg", quality=40)
    return folder


def _ids(capsys: pytest.CaptureFixture[str], text: str) -> set[str]:
    capsys.readouterr()
    assert main(["query", "-p", "q", "-f", text, "-q"]) == 0
    return set(capsys.readouterr().out.split())


def _names(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {name: int(i) for i, name in conn.execute("SELECT id, file_name FROM images")}


def test_import_measures_and_query_filters(photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["project", "create", "q"]) == 0
    assert main(["import", "--project", "q", str(photos)]) == 0
    ids = _names(ProjectService(ConfigurationService()).project_path("q") / "database.db")
    assert _ids(capsys, "quality:blurry") == {str(ids["coffee_blur.png"])}
    assert _ids(capsys, "quality:greyscale") == {str(ids["coffee_grey.jpg"])}
    assert _ids(capsys, "quality:low-jpeg") == {str(ids["coffee_grey.jpg"])}
    assert _ids(capsys, "-quality:blurry, -quality:greyscale") == {str(ids["coffee.png"])}
    assert _ids(capsys, "quality:needs-upscale") == {str(i) for i in ids.values()}  # 600x400 < 1024
    assert _ids(capsys, "min_side<400") == set()
    capsys.readouterr()
    assert main(["query", "-p", "q", "-f", "quality:low-jpeg", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["images"][0]
    assert row["quality"]["jpeg_quality"] == 40 and row["quality"]["saturation"] < 0.01


def test_backfill_measures_old_images_and_reports_each_failure(
    photos: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An "old" project: imported without the checks (as before they existed).
    monkeypatch.setenv("LORAIRO_CONFIG_PATH", str(photos.parent / "cfg.toml"))
    (photos.parent / "cfg.toml").write_text("[quality]\ncompute_at_import = false\n")
    assert main(["project", "create", "q"]) == 0
    assert main(["import", "--project", "q", str(photos)]) == 0
    root = ProjectService(ConfigurationService()).project_path("q")
    ids = _names(root / "database.db")
    assert _ids(capsys, "quality:blurry") == set()  # nothing measured yet
    # One stored original is damaged: that image fails, the others are measured.
    with sqlite3.connect(root / "database.db") as conn:
        (stored,) = conn.execute("SELECT file_path FROM images WHERE file_name = 'coffee.png'").fetchone()
    damaged = root / stored
    damaged.chmod(0o644)
    damaged.write_bytes(damaged.read_bytes()[:500])
    capsys.readouterr()
    assert main(["quality", "--project", "q", "--json"]) == 1  # some failed: not a clean success
    report = json.loads(capsys.readouterr().out)
    assert report["measured"] == 2 and report["failed"] == 1
    assert report["failures"][0]["image_id"] == ids["coffee.png"] and report["failures"][0]["file"] == "coffee.png"
    assert report["flagged"]["blurry"] == 1 and report["flagged"]["greyscale"] == 1
    assert _ids(capsys, "quality:blurry") == {str(ids["coffee_blur.png"])}
    # A second run leaves measured images alone and retries only the failed one (still failing: exit 2).
    capsys.readouterr()
    assert main(["quality", "--project", "q", "--json"]) == 2
    again = json.loads(capsys.readouterr().out)
    assert again["measured"] == 0 and again["already_measured"] == 2 and again["failed"] == 1
    # --recompute measures everything again; the project lock is taken (busy while another writer holds it).
    with ProjectLock(root, "annotate"):
        assert main(["quality", "--project", "q", "--recompute"]) != 0
    assert "is busy" in capsys.readouterr().err
