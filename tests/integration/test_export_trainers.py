"""SimpleTuner, ai-toolkit, diffusion-pipe and musubi-tuner exports read back by each trainer's documented rules.

Each ``read_*`` function below is a small restatement of how that trainer finds its data (which files are images,
where a caption comes from, which mask goes with which image, how repeats count), written from the trainers'
docs: the test passes only when what LoRAIro wrote is what the trainer would train on. The configs are parsed
with the real parsers (json, tomllib, PyYAML) and must hold exactly the documented keys.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw

from lorairo.database.schema import CaptionRecord
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export_service import ExportService
from lorairo.services.project_service import Project, ProjectService
from lorairo.services.regions import Crop, RegionService
from tests.support.export_data import ImageSpec, add_images, simple_tags

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


@dataclass
class ReadBack:
    """What a trainer would train on: per image file name, its captions, its mask file and the repeats."""

    captions: dict[str, list[str]] = field(default_factory=dict)
    masks: dict[str, Path] = field(default_factory=dict)
    repeats: int = 1
    image_dir: Path = Path()


# --- readers (the trainers' documented rules) -------------------------------------------------------------


SIMPLETUNER_IMAGE_KEYS = {
    "id",
    "type",
    "dataset_type",
    "instance_data_dir",
    "cache_dir_vae",
    "caption_strategy",
    "resolution",
    "resolution_type",
    "minimum_image_size",
    "repeats",
    "crop",
}
SIMPLETUNER_OPTIONAL = {"disable_multiline_split", "conditioning_data"}


def read_simpletuner(config: Path) -> ReadBack:
    backends = json.loads(config.read_text(encoding="utf-8"))
    assert isinstance(backends, list)
    images = [b for b in backends if b["dataset_type"] == "image"]
    embeds = [b for b in backends if b["dataset_type"] == "text_embeds"]
    masks = [b for b in backends if b["dataset_type"] == "conditioning"]
    assert len(images) == 1 and len(embeds) == 1
    image = images[0]
    assert SIMPLETUNER_IMAGE_KEYS <= set(image) <= SIMPLETUNER_IMAGE_KEYS | SIMPLETUNER_OPTIONAL
    assert set(embeds[0]) == {"id", "type", "dataset_type", "default", "cache_dir"}
    assert image["type"] == "local" and image["caption_strategy"] == "textfile"
    assert image["resolution_type"] == "pixel_area" and image["minimum_image_size"] <= image["resolution"]
    caches = {image["cache_dir_vae"], embeds[0]["cache_dir"]}
    assert len(caches) == 2 and not any(Path(c).is_relative_to(image["instance_data_dir"]) for c in caches)
    out = ReadBack(repeats=image["repeats"] + 1, image_dir=Path(image["instance_data_dir"]))  # extra passes
    mask_dir: Path | None = None
    if masks:
        (mask,) = masks
        assert image["conditioning_data"] == mask["id"] and mask["conditioning_type"] == "mask"
        assert mask["source_dataset_id"] == image["id"]  # aligned with the images' buckets
        assert set(mask) == {
            "id",
            "type",
            "dataset_type",
            "conditioning_type",
            "source_dataset_id",
            "instance_data_dir",
            "resolution",
            "resolution_type",
            "minimum_image_size",
            "crop",
        }
        mask_dir = Path(mask["instance_data_dir"])
    for path in sorted(out.image_dir.rglob("*")):  # SimpleTuner discovers images recursively
        if path.suffix.lower() not in IMAGE_EXTS:
            continue
        text = path.with_suffix(".txt").read_text(encoding="utf-8")
        lines = [text] if image.get("disable_multiline_split") else [ln for ln in text.split("\n") if ln.strip()]
        out.captions[path.name] = lines
        if mask_dir is not None:
            paired = mask_dir / path.name  # paired by the image's own file name
            assert paired.is_file(), f"SimpleTuner needs a mask for {path.name}"
            out.masks[path.name] = paired
    return out


def read_ai_toolkit(config: Path) -> ReadBack:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert set(data) == {"datasets"}
    (entry,) = data["datasets"]
    assert {"folder_path", "caption_ext", "resolution", "num_repeats"} <= set(entry)
    assert set(entry) <= {"folder_path", "caption_ext", "resolution", "num_repeats", "keep_tokens", "mask_path"}
    assert isinstance(entry["resolution"], list)
    out = ReadBack(repeats=entry["num_repeats"], image_dir=Path(entry["folder_path"]))
    masks = {p.stem: p for p in Path(entry["mask_path"]).iterdir()} if "mask_path" in entry else {}
    for path in sorted(out.image_dir.iterdir()):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png"}:  # ai-toolkit reads these only
            assert path.suffix.lower() not in IMAGE_EXTS, f"ai-toolkit would skip {path.name}"
            continue
        out.captions[path.name] = [path.with_suffix("." + entry["caption_ext"]).read_text(encoding="utf-8")]
        if path.stem in masks:
            out.masks[path.name] = masks[path.stem]
    return out


DP_TOP_KEYS = {"resolutions", "enable_ar_bucket", "min_ar", "max_ar", "num_ar_buckets", "directory"}


def read_diffusion_pipe(config: Path) -> ReadBack:
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    assert set(data) == DP_TOP_KEYS
    assert data["min_ar"] <= data["max_ar"]
    (directory,) = data["directory"]
    assert {"path", "num_repeats"} <= set(directory) <= {"path", "num_repeats", "mask_path"}
    out = ReadBack(repeats=directory["num_repeats"], image_dir=Path(directory["path"]))
    captions_json = out.image_dir / "captions.json"
    listed = json.loads(captions_json.read_text(encoding="utf-8")) if captions_json.exists() else None
    masks = {p.stem: p for p in Path(directory["mask_path"]).iterdir()} if "mask_path" in directory else {}
    for path in sorted(out.image_dir.iterdir()):
        # diffusion-pipe reads every file that is not a caption, cache or metadata file as an image.
        if not path.is_file() or path.suffix in (".txt", ".npz", ".json", ".parquet", ".bak", ".db"):
            continue
        assert path.suffix.lower() in IMAGE_EXTS, f"diffusion-pipe would read {path.name} as an image"
        if listed is not None:
            assert isinstance(listed[path.name], list)
            out.captions[path.name] = listed[path.name]
        else:
            out.captions[path.name] = [path.with_suffix(".txt").read_text(encoding="utf-8").strip()]
        if path.stem in masks:
            out.masks[path.name] = masks[path.stem]
    return out


def read_musubi(config: Path) -> ReadBack:
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    assert set(data) == {"general", "datasets"}
    general = data["general"]
    assert {"resolution", "enable_bucket", "bucket_no_upscale"} <= set(general)
    assert set(general) <= {"resolution", "caption_extension", "batch_size", "enable_bucket", "bucket_no_upscale"}
    (dataset,) = data["datasets"]
    caches = [d["cache_directory"] for d in data["datasets"]]
    assert len(set(caches)) == len(caches)
    out = ReadBack(repeats=dataset["num_repeats"])
    if "image_jsonl_file" in dataset:
        assert set(dataset) == {"image_jsonl_file", "cache_directory", "num_repeats"}
        for line in Path(dataset["image_jsonl_file"]).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            assert set(row) == {"image_path", "caption"} and Path(row["image_path"]).is_file()
            out.captions[Path(row["image_path"]).name] = [row["caption"]]
        return out
    assert set(dataset) == {"image_directory", "cache_directory", "num_repeats"}
    out.image_dir = Path(dataset["image_directory"])
    for path in sorted(out.image_dir.iterdir()):
        if path.suffix.lower() in IMAGE_EXTS:
            text = path.with_suffix(general["caption_extension"]).read_text(encoding="utf-8")
            out.captions[path.name] = [text]
    return out


READERS = {
    "simpletuner": (read_simpletuner, "multidatabackend.json"),
    "ai-toolkit": (read_ai_toolkit, "dataset.yaml"),
    "diffusion-pipe": (read_diffusion_pipe, "dataset.toml"),
    "musubi": (read_musubi, "dataset.toml"),
}


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("trainers")
    yield project
    project.close()


@pytest.fixture
def service(project: Project) -> ExportService:
    return ExportService(ConfigurationService(), project)


def add_caption(project: Project, image_id: int, text: str, source: str) -> None:
    with project.db.session(write=True) as s:
        s.add(CaptionRecord(image_id=image_id, text=text, source=source))


def pattern_image(path: Path, size: tuple[int, int], square: tuple[int, int, int, int]) -> None:
    """Black with one white rectangle: the mask below marks the same rectangle, so alignment is checkable."""
    img = Image.new("RGB", size, (0, 0, 0))
    ImageDraw.Draw(img).rectangle((square[0], square[1], square[2] - 1, square[3] - 1), fill=(255, 255, 255))
    img.save(path)


def standard(project: Project, tmp_path: Path) -> list[int]:
    return add_images(
        project,
        [
            ImageSpec("portrait.png", (600, 900), tags=simple_tags("1girl", "long_hair")),
            ImageSpec("wide.jpg", (1600, 900), fmt="JPEG", tags=simple_tags("landscape")),
            ImageSpec("square.webp", (700, 700), fmt="WEBP", tags=simple_tags("cat")),
            ImageSpec("a.png", (640, 480), tags=simple_tags("first")),
            ImageSpec("a.jpg", (640, 480), fmt="JPEG", tags=simple_tags("second")),
            ImageSpec("gone.png", (640, 480), tags=simple_tags("excluded"), excluded=True),
        ],
    )


# --- tests -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["simpletuner", "ai-toolkit", "diffusion-pipe", "musubi"])
def test_trainer_export_reads_back(fmt: str, project: Project, service: ExportService, tmp_path: Path) -> None:
    ids = standard(project, tmp_path)
    mask = Image.new("L", (600, 900), 0)
    mask.paste(255, (100, 100, 500, 800))
    RegionService(project).set_mask(ids[0], mask)
    target = tmp_path / fmt
    opts = service.default_options(target, format=fmt, trigger_words=("sks",), repeats=4, resolution=512)
    result = service.export(opts)

    reader, config_name = READERS[fmt]
    assert result.config_path == target / config_name
    assert result.notes_path == target / "README_TRAINING.md" and result.notes_path.is_file()
    read = reader(target / config_name)
    assert read.repeats == 4
    # Which images: every non-excluded one, the a.png / a.jpg stems kept apart.
    stems = sorted(Path(n).stem for n in read.captions)
    assert stems == ["a", "a_5", "portrait", "square", "wide"]
    # Which captions: the trigger first, then the tags.
    by_stem = {Path(n).stem: c for n, c in read.captions.items()}
    assert by_stem["portrait"] == ["sks, 1girl, long hair"]
    assert by_stem["a"] == ["sks, first"] and by_stem["a_5"] == ["sks, second"]
    if fmt == "ai-toolkit":
        assert not any(n.endswith(".webp") for n in read.captions)  # converted
        assert "square.png" in read.captions
    # Which masks: the one image that has one (musubi has no masks and says so).
    if fmt == "musubi":
        assert read.masks == {} and result.masks_dropped == 1
    elif fmt == "simpletuner":
        assert set(read.masks) == set(read.captions)  # every image paired; the others train on everything
        assert Image.open(read.masks["square.webp"]).convert("L").getextrema() == (255, 255)
        assert result.masks_written == 1
    else:
        assert set(read.masks) == {"portrait.png"}
    if read.masks:
        portrait = next(n for n in read.captions if n.startswith("portrait"))
        assert Image.open(read.masks[portrait]).size == Image.open(read.image_dir / portrait).size


def test_mask_follows_crop_and_bucket_pixel_aligned(project: Project, service: ExportService, tmp_path: Path) -> None:
    (image_id,) = add_images(project, [ImageSpec("pattern.png", (900, 600), tags=simple_tags("pattern"))])
    # Overwrite the stored file with a known pattern (the sizes in the database stay right).
    with project.db.session() as s:
        from lorairo.database.schema import ImageRecord

        stored = project.root / s.get(ImageRecord, image_id).file_path  # type: ignore[union-attr]
    square = (300, 150, 600, 450)
    pattern_image(stored, (900, 600), square)
    mask = Image.new("L", (900, 600), 0)
    mask.paste(255, square)
    regions = RegionService(project)
    regions.set_mask(image_id, mask)
    regions.set_crop(image_id, Crop(150, 50, 600, 500))

    for fmt, mask_of in (
        ("ai-toolkit", lambda t: Image.open(t / "masks" / "pattern.png")),
        ("diffusion-pipe", lambda t: Image.open(t / "masks" / "pattern.png")),
        ("onetrainer", lambda t: Image.open(t / "pattern-masklabel.png")),
        ("kohya", lambda t: Image.open(next(t.glob("*/pattern.png"))).getchannel("A")),
    ):
        target = tmp_path / fmt
        result = service.export(service.default_options(target, format=fmt, resolution=512, trigger_words=("p",)))
        assert result.cropped == 1 and result.masks_written == 1
        image_file = next(p for p in target.rglob("pattern.png") if "masks" not in p.parts)
        img = np.asarray(Image.open(image_file).convert("L")) > 127
        got = np.asarray(mask_of(target).convert("L")) > 127
        assert img.shape == got.shape
        # 600x500 crop -> bucket 576x448 after resize: the white square is inside, neither empty nor everything.
        assert 0.1 < img.mean() < 0.6
        mismatch = (img != got).mean()
        assert mismatch < 0.01, f"{fmt}: mask and image differ on {mismatch:.2%} of pixels"
        if fmt == "kohya":
            config = tomllib.loads((target / "dataset_config.toml").read_text(encoding="utf-8"))
            assert config["datasets"][0]["subsets"][0]["alpha_mask"] is True
    # The stored original and mask are untouched by export.
    assert Image.open(stored).size == (900, 600)
    assert regions.crop(image_id) == Crop(150, 50, 600, 500)


def test_several_captions_per_format(project: Project, service: ExportService, tmp_path: Path) -> None:
    (image_id,) = add_images(
        project, [ImageSpec("cat.png", (512, 512), caption="a cat on a sofa", caption_source="model")]
    )
    add_caption(project, image_id, "a tabby cat sleeping", "manual")

    kohya = service.export(
        service.default_options(tmp_path / "k", format="kohya", caption_mode="caption", all_captions=True)
    )
    lines = next((tmp_path / "k").glob("*/cat.txt")).read_text(encoding="utf-8").splitlines()
    assert lines == ["a tabby cat sleeping", "a cat on a sofa"]  # manual first
    config = tomllib.loads(kohya.config_path.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    assert config["general"]["enable_wildcard"] is True

    service.export(
        service.default_options(tmp_path / "d", format="diffusion-pipe", caption_mode="caption", all_captions=True)
    )
    read = read_diffusion_pipe(tmp_path / "d" / "dataset.toml")
    assert read.captions == {"cat.png": ["a tabby cat sleeping", "a cat on a sofa"]}

    service.export(
        service.default_options(tmp_path / "s", format="simpletuner", caption_mode="caption", all_captions=True)
    )
    assert read_simpletuner(tmp_path / "s" / "multidatabackend.json").captions["cat.png"] == [
        "a tabby cat sleeping",
        "a cat on a sofa",
    ]

    result = service.export(
        service.default_options(
            tmp_path / "a", format="ai-toolkit", caption_mode="caption", all_captions=True, single_caption="longest"
        )
    )
    assert result.captions_reduced == 1 and result.single_caption == "longest"
    assert read_ai_toolkit(tmp_path / "a" / "dataset.yaml").captions == {"cat.png": ["a tabby cat sleeping"]}

    service.export(
        service.default_options(
            tmp_path / "m",
            format="musubi",
            caption_mode="caption",
            all_captions=True,
            single_caption="join",
            musubi_jsonl=True,
        )
    )
    read = read_musubi(tmp_path / "m" / "dataset.toml")
    assert read.captions == {"cat.png": ["a tabby cat sleeping, a cat on a sofa"]}


def test_relative_paths_resolve_from_the_config_folder(
    project: Project, service: ExportService, tmp_path: Path
) -> None:
    add_images(project, [ImageSpec("one.png", (512, 512), tags=simple_tags("one"))])
    service.export(service.default_options(tmp_path / "r", format="diffusion-pipe", relative_paths=True))
    data = tomllib.loads((tmp_path / "r" / "dataset.toml").read_text(encoding="utf-8"))
    assert data["directory"][0]["path"] == "images"
    assert (tmp_path / "r" / data["directory"][0]["path"] / "one.png").is_file()


def test_colliding_stems_keep_their_own_masks(project: Project, service: ExportService, tmp_path: Path) -> None:
    ids = add_images(
        project,
        [
            ImageSpec("same.png", (400, 400), tags=simple_tags("png")),
            ImageSpec("same.jpg", (400, 400), fmt="JPEG", tags=simple_tags("jpg")),
        ],
    )
    regions = RegionService(project)
    left = Image.new("L", (400, 400), 0)
    left.paste(255, (0, 0, 200, 400))
    regions.set_mask(ids[0], left)
    regions.set_mask(ids[1], left.transpose(Image.Transpose.FLIP_LEFT_RIGHT))  # right half
    result = service.export(service.default_options(tmp_path / "dp", format="diffusion-pipe", resolution=None))
    assert result.renamed == ((ids[1], "same", f"same_{ids[1]}"),)
    read = read_diffusion_pipe(tmp_path / "dp" / "dataset.toml")
    assert read.captions == {"same.png": ["png"], f"same_{ids[1]}.jpg": ["jpg"]}
    assert Image.open(read.masks["same.png"]).getpixel((50, 200)) == 255
    assert Image.open(read.masks[f"same_{ids[1]}.jpg"]).getpixel((50, 200)) == 0
    assert Image.open(read.masks[f"same_{ids[1]}.jpg"]).getpixel((350, 200)) == 255


def test_bad_trainer_options_name_the_field(service: ExportService, tmp_path: Path) -> None:
    from lorairo.exceptions import ExportError

    with pytest.raises(ExportError, match="ai-toolkit reads jpg, jpeg and png"):
        service.default_options(tmp_path, format="ai-toolkit", image_format="webp").validated()
    with pytest.raises(ExportError, match="single_caption 'shortest'"):
        service.default_options(tmp_path, format="musubi", single_caption="shortest").validated()
    assert service.default_options(tmp_path, format="musubi-tuner").validated().format == "musubi"
    assert service.default_options(tmp_path, format="ai_toolkit").validated().format == "ai-toolkit"


def test_alpha_as_mask_and_jpeg_output_keep_the_mask(project: Project, service: ExportService, tmp_path: Path) -> None:
    ids = add_images(
        project,
        [
            ImageSpec("cut.png", (400, 400), mode="RGBA", tags=simple_tags("cut")),
            ImageSpec("photo.jpg", (400, 400), fmt="JPEG", tags=simple_tags("photo")),
        ],
    )
    # --alpha mask on a trainer format: the transparency becomes the mask file, the image is composited.
    result = service.export(service.default_options(tmp_path / "dp", format="diffusion-pipe", alpha="mask"))
    assert result.masks_written == 1
    read = read_diffusion_pipe(tmp_path / "dp" / "dataset.toml")
    assert set(read.masks) == {"cut.png"}
    assert Image.open(read.image_dir / "cut.png").mode == "RGB"
    # kohya with --image-format jpg: an image with a stored mask is written as PNG (its alpha holds the mask).
    mask = Image.new("L", (400, 400), 0)
    mask.paste(255, (0, 0, 200, 400))
    RegionService(project).set_mask(ids[1], mask)
    service.export(service.default_options(tmp_path / "k", format="kohya", image_format="jpg", resolution=None))
    folder = next(p for p in (tmp_path / "k").iterdir() if p.is_dir())
    written = Image.open(folder / "photo.png")
    assert written.mode == "RGBA" and written.getchannel("A").getpixel((100, 200)) == 255
    assert written.getchannel("A").getpixel((300, 200)) == 0
    assert (folder / "cut.jpg").is_file()  # no mask: the chosen format


def test_crop_on_a_rotated_photo_and_in_the_preview(project: Project, service: ExportService, tmp_path: Path) -> None:
    # An 800x400 JPEG with EXIF orientation 6 is shown (and cropped) upright: 400 wide, 800 high.
    (image_id,) = add_images(
        project, [ImageSpec("rotated.jpg", (800, 400), fmt="JPEG", exif_orientation=6, tags=simple_tags("r"))]
    )
    RegionService(project).set_crop(image_id, Crop(0, 100, 400, 300))
    opts = service.default_options(tmp_path / "o", format="ai-toolkit", resolution=512)
    preview = service.preview(opts)
    assert preview.buckets == (((576, 448), 1),)  # the bucket of the 400x300 crop, not of the 400x800 photo
    result = service.export(opts)
    assert result.buckets == {"576x448": 1}
    service.export(service.default_options(tmp_path / "orig", format="musubi", resolution=None))
    assert Image.open(tmp_path / "orig" / "images" / "rotated.jpg").size == (400, 300)
