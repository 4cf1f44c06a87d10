"""Crops and masks stored in a project: clamping, rescaling, alpha, invert, letterbox, undo / redo, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from lorairo.database.schema import ImageRecord
from lorairo.main import main
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import Project, ProjectService
from lorairo.services.regions import Crop, RegionCommand, RegionError, RegionService, letterbox_box, parse_box
from tests.support.export_data import ImageSpec, add_images, simple_tags


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("regions")
    yield project
    project.close()


def stored_file(project: Project, image_id: int) -> Path:
    with project.db.session() as s:
        record = s.get(ImageRecord, image_id)
        assert record is not None
        return project.root / record.file_path


def stored_file_of(name: str, image_id: int) -> Path:
    opened = ProjectService(ConfigurationService()).open(name)
    try:
        return stored_file(opened, image_id)
    finally:
        opened.close()


def test_crop_outside_the_image_is_clamped_and_reported(project: Project) -> None:
    (image_id,) = add_images(project, [ImageSpec("a.png", (400, 300))])
    regions = RegionService(project)
    result = regions.set_crop(image_id, Crop(-20, 100, 500, 500))
    assert regions.crop(image_id) == Crop(0, 100, 400, 200)
    assert result.warnings and "clamped to 0,100,400,200" in result.warnings[0]
    assert result.changes.image_ids == {image_id}
    with pytest.raises(RegionError, match="lies outside image"):
        regions.set_crop(image_id, Crop(500, 500, 10, 10))
    assert regions.crop(image_id) == Crop(0, 100, 400, 200)  # the refused crop changed nothing


def test_mask_of_another_size_is_rescaled_with_a_warning(project: Project, tmp_path: Path) -> None:
    (image_id,) = add_images(project, [ImageSpec("a.png", (400, 300))])
    png = tmp_path / "mask.png"
    half = Image.new("L", (200, 150), 0)
    half.paste(255, (0, 0, 100, 150))  # left half white
    half.save(png)
    regions = RegionService(project)
    result = regions.set_mask_from_png(image_id, png)
    assert "rescaled" in result.warnings[0] and "200x150" in result.warnings[0]
    path = regions.mask_path(image_id)
    assert path is not None and path.parent == project.root / "masks"
    stored = Image.open(path)
    assert stored.size == (400, 300) and stored.mode == "L"
    assert stored.getpixel((50, 150)) == 255 and stored.getpixel((350, 150)) == 0
    with pytest.raises(RegionError, match="cannot read mask"):
        regions.set_mask_from_png(image_id, tmp_path / "missing.png")


def test_alpha_invert_clear_and_undo_redo(project: Project) -> None:
    ids = add_images(project, [ImageSpec("cut.png", (200, 100), mode="RGBA"), ImageSpec("flat.png", (200, 100))])
    regions = RegionService(project)
    result = regions.set_mask_from_alpha(ids)
    assert result.changed_ids == (ids[0],)
    assert [i for i, _ in result.skipped] == [ids[1]] and "no transparency" in result.skipped[0][1]
    assert result.failures == ()
    path = regions.mask_path(ids[0])
    assert path is not None
    assert Image.open(path).getpixel((100, 50)) == 255 and Image.open(path).getpixel((2, 2)) == 0  # centre opaque

    inverted = regions.invert_mask([ids[0]])
    assert Image.open(path).getpixel((100, 50)) == 0
    RegionCommand(inverted).undo(regions)
    assert Image.open(path).getpixel((100, 50)) == 255
    RegionCommand(inverted).redo(regions)
    assert Image.open(path).getpixel((100, 50)) == 0

    cleared = regions.clear_mask([ids[0]])
    assert regions.mask_path(ids[0]) is None and not path.exists()
    RegionCommand(cleared).undo(regions)
    assert regions.mask_path(ids[0]) == path and Image.open(path).getpixel((100, 50)) == 0


def test_letterbox_bars_are_found_and_flat_images_left_alone(project: Project) -> None:
    ids = add_images(project, [ImageSpec("boxed.jpg", (300, 200), fmt="JPEG"), ImageSpec("plain.png", (300, 200))])
    content = Image.radial_gradient("L").resize((300, 200)).convert("RGB")
    boxed = Image.new("RGB", (300, 260), (0, 0, 0))
    boxed.paste(content, (0, 30))
    boxed.save(stored_file(project, ids[0]), "JPEG", quality=85)  # JPEG noise in the bars must not matter
    with project.db.session(write=True) as s:
        record = s.get(ImageRecord, ids[0])
        assert record is not None
        record.width, record.height = 300, 260
    regions = RegionService(project)
    result = regions.auto_letterbox(ids)
    assert result.changed_ids == (ids[0],)
    crop = regions.crop(ids[0])
    assert crop is not None and crop.left == 0 and crop.width == 300
    assert abs(crop.top - 30) <= 1 and abs(crop.height - 200) <= 2
    assert letterbox_box(Image.new("L", (50, 50), 0)) is None  # all one colour: nothing to keep


def test_parse_box_refuses_malformed_boxes() -> None:
    assert parse_box("1, 2, 30, 40") == Crop(1, 2, 30, 40)
    for bad in ("1,2,3", "a,b,c,d", "0,0,0,10", "0,0,-5,10"):
        with pytest.raises(RegionError):
            parse_box(bad)


def test_cli_mask_and_crop_commands(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    ids = add_images(
        project,
        [ImageSpec("cut.png", (200, 100), mode="RGBA", tags=simple_tags("x")), ImageSpec("flat.png", (200, 100))],
    )
    name = project.name
    project.close()
    assert main(["mask", "from-alpha", "--project", name, "--ids", f"{ids[0]},{ids[1]}", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["changed"] == [ids[0]] and report["skipped"][0]["image_id"] == ids[1]
    # an image that cannot be read is a failure: exit 2 when nothing else changed
    stored_file_path = stored_file_of(name, ids[1])
    stored_file_path.write_bytes(b"not an image")
    assert main(["mask", "from-alpha", "--project", name, "--ids", str(ids[1])]) == 2
    assert "failed" in capsys.readouterr().err

    assert main(["crop", "set", "--project", name, "--id", str(ids[0]), "--box", "150,0,100,100", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["crops"][str(ids[0])] == [150, 0, 50, 100] and "clamped" in report["warnings"][0]

    assert main(["crop", "set", "--project", name, "--id", str(ids[0]), "--box", "1,2"]) != 0
    assert "four whole numbers" in capsys.readouterr().err
    assert main(["crop", "auto-letterbox", "--project", name, "--ids", str(ids[0])]) == 0  # no bars: unchanged
    assert main(["crop", "auto-letterbox", "--project", name]) == 2  # every image; the unreadable file is named
    assert "img1.png" in capsys.readouterr().err
    assert main(["mask", "clear", "--project", name]) != 0  # a write to every image must name them
    assert "--ids" in capsys.readouterr().err
    # --ids reads as in query / export / annotate: a range, and with --filter the listed images that match.
    low, high = sorted(ids)
    assert main(["mask", "clear", "--project", name, "--ids", f"{low}-{high}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == [ids[0]]  # only the masked one had a mask
    assert main(["crop", "clear", "--project", name, "--ids", f"{low}-{high}", "--filter", "name:cut", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == [ids[0]]
    assert main(["mask", "invert", "--project", name, "--ids", "999"]) != 0
    assert "no image with ID 999" in capsys.readouterr().err


def test_one_flat_edge_is_not_a_letterbox() -> None:
    sky = Image.new("L", (300, 200), 0)
    sky.paste(Image.radial_gradient("L").resize((300, 140)), (0, 60))  # 60 flat rows at the top only
    assert letterbox_box(sky) is None
    boxed = Image.new("L", (300, 200), 0)
    boxed.paste(Image.radial_gradient("L").resize((260, 200)), (20, 0))  # pillarbox: 20 px each side
    assert letterbox_box(boxed) == Crop(20, 0, 260, 200)
