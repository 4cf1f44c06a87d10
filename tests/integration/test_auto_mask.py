"""`lorairo mask auto` on a real imported project with generated RMBG- / BiRefNet-shaped models: the stored
mask is the model's matte (exact on a known pattern), existing masks are skipped unless --replace, a broken image
is recorded and counted, the run is cancellable, and an OneTrainer export carries the mask unchanged."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from lorairo.database.schema import ImageRecord
from lorairo.exceptions import ProjectBusyError
from lorairo.main import main
from lorairo.services.auto_mask import AutoMaskError, AutoMaskService
from lorairo.services.changes import Changes
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.project_service import Project, ProjectService
from lorairo.services.regions import RegionService
from lorairo.storage.lock import ProjectLock
from tests.support.models import register_tiny_matte, register_tiny_tagger

NAME = "masks"
PHOTOS = Path(__file__).resolve().parents[2] / "../shared/data/photos"


def pattern(seed: int) -> np.ndarray:
    """32x32 RGB: a red block (foreground for both styles) somewhere on a blue field, a different one per seed."""
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 2] = 210
    rgb[4 + seed : 20 + seed, 2 * seed : 12 + 2 * seed, 0] = 240
    return rgb


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[ConfigurationService, Project]]:
    src = tmp_path / "src"
    src.mkdir()
    for seed in range(3):
        Image.fromarray(pattern(seed)).save(src / f"p{seed}.png")
    config = ConfigurationService()
    proj = ProjectService(config).create(NAME)
    summary = ImageProcessingService(config, proj).import_paths([src], jobs=1)
    assert summary.imported == 3
    yield config, proj
    proj.close()


def ids_by_name(proj: Project) -> dict[str, int]:
    with proj.db.session() as s:
        return {name: image_id for image_id, name in s.execute(select(ImageRecord.id, ImageRecord.file_name))}


def stored_mask(proj: Project, image_id: int) -> np.ndarray | None:
    path = RegionService(proj).mask_path(image_id)
    if path is None:
        return None
    with Image.open(path) as mask:
        assert mask.mode == "L"
        return np.asarray(mask)


def cli(*args: str) -> int:
    return main(["mask", "auto", "--project", NAME, *args])


@pytest.mark.parametrize("style", ["rmbg", "birefnet"])
def test_stored_mask_is_the_models_matte(
    project: tuple[ConfigurationService, Project], tmp_path: Path, style: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _config, proj = project
    tiny = register_tiny_matte(tmp_path / "model", "tiny-matte", style)
    ids = ids_by_name(proj)
    assert cli("--model", "tiny-matte", "--filter", "", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["masked"]) == sorted(ids.values()) and report["failures"] == []
    for seed in range(3):
        got = stored_mask(proj, ids[f"p{seed}.png"])
        assert got is not None
        np.testing.assert_array_equal(got, tiny.expected(pattern(seed)))
        assert got.max() >= 254 and got.min() == 0  # a real foreground/background split, not a flat mask


def test_existing_masks_are_skipped_unless_replace_and_threshold_binarises(
    project: tuple[ConfigurationService, Project], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config, proj = project
    tiny = register_tiny_matte(tmp_path / "model", "tiny-biref", "birefnet")
    ids = ids_by_name(proj)
    painted = Image.new("L", (32, 32), 77)
    RegionService(proj).set_mask(ids["p0.png"], painted)

    assert cli("--model", "tiny-biref", "--ids", f"{ids['p0.png']},{ids['p1.png']}") == 0
    captured = capsys.readouterr()
    assert "1 image(s) masked, 1 skipped" in captured.out and "already has a mask" in captured.err
    p0 = stored_mask(proj, ids["p0.png"])
    assert p0 is not None and (p0 == 77).all()  # the painted mask is kept

    # --replace redoes it; --threshold makes the soft 254 of a sigmoid a clean 255.
    assert cli("--model", "tiny-biref", "--ids", str(ids["p0.png"]), "--replace", "--threshold", "0.5") == 0
    p0 = stored_mask(proj, ids["p0.png"])
    expected = np.where(tiny.foreground(pattern(0)), 255, 0)
    assert p0 is not None
    np.testing.assert_array_equal(p0, expected)
    assert cli("--model", "tiny-biref", "--ids", str(ids["p0.png"]), "--threshold", "1.5") != 0
    assert "--threshold must be in (0, 1]" in capsys.readouterr().err


def test_a_broken_image_is_recorded_and_the_exit_code_says_so(
    project: tuple[ConfigurationService, Project], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config, proj = project
    register_tiny_matte(tmp_path / "model")
    ids = ids_by_name(proj)
    with proj.db.session() as s:
        broken = proj.root / s.get(ImageRecord, ids["p1.png"]).file_path  # type: ignore[union-attr]
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert cli("--model", "tiny-rmbg", "--filter", "") == 1
    err = capsys.readouterr().err
    assert "failed" in err and "p1.png" in err and "cannot read the image" in err
    assert stored_mask(proj, ids["p1.png"]) is None
    assert stored_mask(proj, ids["p0.png"]) is not None and stored_mask(proj, ids["p2.png"]) is not None
    # Only the broken one left to do: every image to do failed -> 2.
    assert cli("--model", "tiny-rmbg", "--filter", "") == 2


def test_wrong_or_missing_model_is_refused_before_anything_is_written(
    project: tuple[ConfigurationService, Project], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config, proj = project
    register_tiny_tagger(tmp_path / "wd")
    assert cli("--model", "tiny-wd", "--filter", "") != 0
    err = capsys.readouterr().err
    assert "tiny-wd is a tagger model, not a background-removal model" in err and "rmbg-1.4" in err
    assert cli("--model", "no-such-model", "--filter", "") != 0
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert all(stored_mask(proj, i) is None for i in ids_by_name(proj).values())


def test_the_project_lock_is_taken(project: tuple[ConfigurationService, Project], tmp_path: Path) -> None:
    config, proj = project
    register_tiny_matte(tmp_path / "model")
    with ProjectLock(proj.root, "import"), pytest.raises(ProjectBusyError):
        AutoMaskService(config, proj).run(list(ids_by_name(proj).values()), "tiny-rmbg")


def test_cancel_after_the_first_batch_keeps_what_was_stored(
    project: tuple[ConfigurationService, Project], tmp_path: Path
) -> None:
    config, proj = project
    config.update_setting("annotation", "batch_size", 1)
    register_tiny_matte(tmp_path / "model")
    cancel = threading.Event()
    batches: list[set[int]] = []

    def on_batch(changes: Changes) -> None:  # deterministic: cancel once the first image is stored
        batches.append(set(changes.image_ids))
        cancel.set()

    ids = sorted(ids_by_name(proj).values())
    summary = AutoMaskService(config, proj).run(ids, "tiny-rmbg", cancel=cancel, on_batch=on_batch)
    assert summary.cancelled and summary.masked == (ids[0],) and batches == [{ids[0]}]
    assert summary.exit_code == 0 and summary.changes.image_ids == {ids[0]}
    assert [stored_mask(proj, i) is not None for i in ids] == [True, False, False]


def test_unknown_id_is_an_error(project: tuple[ConfigurationService, Project], tmp_path: Path) -> None:
    config, proj = project
    register_tiny_matte(tmp_path / "model")
    with pytest.raises(AutoMaskError, match="no image with id 999"):
        AutoMaskService(config, proj).run([999], "tiny-rmbg")


def test_onetrainer_export_carries_the_auto_mask(project: tuple[ConfigurationService, Project], tmp_path: Path) -> None:
    _config, proj = project
    register_tiny_matte(tmp_path / "model")
    ids = ids_by_name(proj)
    assert cli("--model", "tiny-rmbg", "--filter", "") == 0
    out = tmp_path / "ot"
    assert (
        main(
            [
                "export",
                "--project",
                NAME,
                "--format",
                "onetrainer",
                "--resolution",
                "0",
                "--trigger",
                "ptn",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for name, image_id in ids.items():
        with Image.open(out / f"{Path(name).stem}-masklabel.png") as exported:
            np.testing.assert_array_equal(np.asarray(exported.convert("L")), stored_mask(proj, image_id))


@pytest.mark.skipif(not PHOTOS.is_dir(), reason="shared photos not present")
def test_real_photos_get_masks_at_their_own_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:3]
    src = tmp_path / "photos"
    src.mkdir()
    for photo in photos:
        (src / photo.name).write_bytes(photo.read_bytes())
    config = ConfigurationService()
    proj = ProjectService(config).create(NAME)
    ImageProcessingService(config, proj).import_paths([src], jobs=1)
    register_tiny_matte(tmp_path / "model")
    assert cli("--model", "tiny-rmbg", "--filter", "") == 0
    with proj.db.session() as s:
        sizes = {r.id: (r.width, r.height) for r in s.scalars(select(ImageRecord))}
    for image_id, (width, height) in sizes.items():
        mask = stored_mask(proj, image_id)
        assert mask is not None and mask.shape == (height, width)
    proj.close()
    assert "warning" not in capsys.readouterr().err  # no rescale: the matte already had the image's size


def test_annotate_refuses_a_matte_model_and_points_to_mask_auto(
    project: tuple[ConfigurationService, Project], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_tiny_matte(tmp_path / "model")
    assert main(["annotate", "--project", NAME, "--models", "tiny-rmbg"]) != 0
    assert "use `lorairo mask auto --model tiny-rmbg`" in capsys.readouterr().err


def test_a_model_that_cannot_load_stops_with_one_error_and_stores_nothing(
    project: tuple[ConfigurationService, Project], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config, proj = project
    tiny = register_tiny_matte(tmp_path / "model")
    (tiny.folder / tiny.model_file).unlink()  # as a model not downloaded yet, offline
    assert cli("--model", "tiny-rmbg", "--filter", "") != 0
    err = capsys.readouterr().err
    assert err.count("tiny-rmbg cannot run") == 1 and "onnx/model.onnx" in err
    assert all(stored_mask(proj, i) is None for i in ids_by_name(proj).values())
