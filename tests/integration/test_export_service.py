"""ExportService end to end: real files, a real project database, every format."""

from __future__ import annotations

import json
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from lorairo.exceptions import ExportError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export.bucketing import BucketSettings, make_bucket_resolutions, select_bucket
from lorairo.services.export.captions import parse_sidecar_line
from lorairo.services.export_service import ExportService
from lorairo.services.project_service import Project, ProjectService
from tests.support.export_data import ImageSpec, add_images, simple_tags

BUCKETS_1024 = set(make_bucket_resolutions((1024, 1024), 256, 1024, 64))


@pytest.fixture
def project() -> Iterator[Project]:
    config = ConfigurationService()
    project = ProjectService(config).create("exp")
    yield project
    project.close()


@pytest.fixture
def service(project: Project) -> ExportService:
    return ExportService(ConfigurationService(), project)


def standard_images(tmp_path: Path) -> list[ImageSpec]:
    return [
        ImageSpec("portrait.png", (600, 900), tags=simple_tags("1girl", "photo_(medium)", "^_^", "long hair")),
        ImageSpec("wide.jpg", (1600, 900), fmt="JPEG", tags=simple_tags("landscape", "hello, world")),
        ImageSpec("square.webp", (700, 700), fmt="WEBP", tags=[("cat", "general", "manual", None, False)]),
        ImageSpec("anim.gif", (320, 240), fmt="GIF", tags=simple_tags("pixel art")),
        ImageSpec("scan.tiff", (500, 800), fmt="TIFF", tags=simple_tags("document")),
        ImageSpec("alpha.png", (512, 768), mode="RGBA", tags=simple_tags("transparent background")),
        ImageSpec("rotated.jpg", (800, 400), fmt="JPEG", exif_orientation=6, tags=simple_tags("rotated")),
        ImageSpec("dup.png", (640, 640), tags=simple_tags("near duplicate"), excluded=True),
        ImageSpec("outside.png", (640, 480), tags=simple_tags("referenced"), referenced_at=tmp_path / "originals"),
    ]


def test_kohya_export_captions_toml_and_buckets(project: Project, service: ExportService, tmp_path: Path) -> None:
    specs = standard_images(tmp_path)
    add_images(project, specs)
    sources = {p: p.read_bytes() for p in project.root.rglob("images/**/*") if p.is_file()}
    target = tmp_path / "out"
    opts = service.default_options(target, trigger_words=("sks",), class_tokens="woman", repeats=10)
    events: list[tuple[int, int, str]] = []
    result = service.export(opts, progress=lambda d, t, m: events.append((d, t, m)))

    assert result.exported == 8 and result.excluded == 1 and not result.failures
    folder = target / "10_sks woman"
    assert result.image_dir == folder.resolve()
    images = sorted(p for p in folder.iterdir() if p.suffix != ".txt")
    assert {p.stem for p in images} == {"portrait", "wide", "square", "anim", "scan", "alpha", "rotated", "outside"}
    assert {p.suffix for p in images} == {".png", ".jpg", ".webp"}  # GIF and TIFF became PNG
    for img_path in images:
        caption = (folder / f"{img_path.stem}.txt").read_text(encoding="utf-8")
        assert caption.strip() and caption.split(", ")[0] == "sks"
        with Image.open(img_path) as im:
            assert im.size in BUCKETS_1024
            assert im.mode == "RGB"
    assert (folder / "portrait.txt").read_text() == "sks, 1girl, photo (medium), ^_^, long hair"
    assert (folder / "wide.txt").read_text() == "sks, landscape, hello world"
    # EXIF orientation 6 (rotate 90): the 800x400 stored image is 400x800 upright -> portrait bucket
    with Image.open(folder / "rotated.jpg") as im:
        assert im.height > im.width and not im.getexif().get(0x0112, 1) > 1
    # alpha composited on white: the transparent corner is white
    with Image.open(folder / "alpha.png") as im:
        assert im.getpixel((0, 0)) == (255, 255, 255)

    config = tomllib.loads((target / "dataset_config.toml").read_text(encoding="utf-8"))
    assert config["general"]["caption_extension"] == ".txt"
    assert config["general"]["keep_tokens"] == 1 and "keep_tokens_separator" not in config["general"]
    dataset = config["datasets"][0]
    assert dataset["resolution"] == 1024 and dataset["enable_bucket"] is True
    assert (dataset["min_bucket_reso"], dataset["max_bucket_reso"], dataset["bucket_reso_steps"]) == (256, 1024, 64)
    subset = dataset["subsets"][0]
    assert Path(subset["image_dir"]) == folder.resolve() and Path(subset["image_dir"]).is_absolute()
    assert subset["num_repeats"] == 10 and subset["class_tokens"] == "woman" and "is_reg" not in subset
    assert "batch_size" not in dataset and "caption_dropout_rate" not in subset  # the trainer's, unless set

    assert events[-1][:2] == (8, 8)
    # sources untouched, no temp folder left beside the target
    assert all(p.read_bytes() == data for p, data in sources.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["originals", "out"]


def test_round_trip_tags_come_back_the_same(project: Project, service: ExportService, tmp_path: Path) -> None:
    tags = ["photo (medium)", "^_^", "(o)_(o)", "long hair", "looking at viewer", "{braced}", "smile"]
    add_images(project, [ImageSpec("a.png", (512, 512), tags=simple_tags(*tags), caption="A {curly} cat.")])
    for escape in (False, True):
        target = tmp_path / f"rt{escape}"
        opts = service.default_options(
            target,
            trigger_words=("sks",),
            caption_mode="both",
            caption_variants=True,
            escape_parentheses=escape,
            order_by_category=False,
        )
        result = service.export(opts)
        cfg = tomllib.loads((target / "dataset_config.toml").read_text())
        assert cfg["general"]["enable_wildcard"] is True
        assert "shuffle_caption" not in cfg["general"]  # the trainer's choice; the sentence has no comma to cut
        assert "secondary_separator" not in cfg["general"]
        lines = (result.image_dir / "a.txt").read_text().split("\n")
        assert len(lines) == 2
        assert parse_sidecar_line(lines[0], wildcard=True) == ["sks", *tags]
        assert lines[1] == "sks, A {{curly}} cat."


def test_caption_extension_custom_and_keep_tokens_separator(
    project: Project, service: ExportService, tmp_path: Path
) -> None:
    add_images(project, [ImageSpec("a.png", (512, 512), tags=simple_tags("smile"))])
    target = tmp_path / "out"
    opts = service.default_options(
        target, caption_extension=".caption", trigger_words=("sks", "ohwx"), use_keep_tokens_separator=True
    )
    result = service.export(opts)
    assert (result.image_dir / "a.caption").read_text() == "sks, ohwx ||| smile"
    general = tomllib.loads((target / "dataset_config.toml").read_text())["general"]
    assert general["caption_extension"] == ".caption"
    assert general["keep_tokens_separator"] == "|||" and "keep_tokens" not in general


def test_empty_captions_are_skipped_and_reported(project: Project, service: ExportService, tmp_path: Path) -> None:
    ids = add_images(
        project,
        [
            ImageSpec("tagged.png", tags=simple_tags("smile")),
            ImageSpec("weak.png", tags=simple_tags("maybe", confidence=0.1)),
            ImageSpec("none.png"),
        ],
    )
    result = service.export(service.default_options(tmp_path / "out", trigger_words=()))
    assert result.exported == 1
    assert [s.image_id for s in result.skipped] == ids[1:]
    assert all("empty caption" in s.reason for s in result.skipped)
    assert sorted(p.name for p in result.image_dir.iterdir()) == ["tagged.png", "tagged.txt"]
    # with a trigger word every image gets a caption
    again = service.export(service.default_options(tmp_path / "out2", trigger_words=("sks",)))
    assert again.exported == 3 and (again.image_dir / "none.txt").read_text() == "sks"


def test_stem_collisions_get_unique_names(project: Project, service: ExportService, tmp_path: Path) -> None:
    ids = add_images(
        project,
        [
            ImageSpec("a.png", tags=simple_tags("one")),
            ImageSpec("a.jpg", fmt="JPEG", tags=simple_tags("two")),
            ImageSpec("A.webp", fmt="WEBP", tags=simple_tags("three")),
        ],
    )
    result = service.export(service.default_options(tmp_path / "out", trigger_words=("sks",)))
    names = sorted(p.name for p in result.image_dir.iterdir())
    assert names == sorted(
        ["a.png", "a.txt", f"a_{ids[1]}.jpg", f"a_{ids[1]}.txt", f"A_{ids[2]}.webp", f"A_{ids[2]}.txt"]
    )
    assert (result.image_dir / f"a_{ids[1]}.txt").read_text() == "sks, two"
    assert len(result.renamed) == 2


def test_non_empty_target_needs_force_and_force_replaces_the_whole_folder(
    project: Project, service: ExportService, tmp_path: Path
) -> None:
    add_images(project, [ImageSpec("a.png", tags=simple_tags("smile"))])
    target = tmp_path / "out"
    opts = service.default_options(target, trigger_words=("sks",), class_tokens="woman")
    service.export(opts)
    folder = target / "10_sks woman"
    (folder / "a_1024x1024_sd.npz").write_bytes(b"x")
    (target / "metadata_cache.json").write_text("{}")
    with pytest.raises(ExportError, match="not empty"):
        service.export(opts)
    # a new repeat count: the old 10_ folder must not stay beside the new 3_ one (sd-scripts would train both)
    result = service.export(opts.with_changes(force=True, repeats=3))
    assert set(result.replaced) == {"10_sks woman", "dataset_config.toml", "metadata_cache.json"}
    assert sorted(p.name for p in target.iterdir()) == ["3_sks woman", "dataset_config.toml"]
    assert sorted(p.name for p in (target / "3_sks woman").iterdir()) == ["a.png", "a.txt"]
    assert not list(tmp_path.glob(".out.*"))


def test_unsafe_targets_are_refused(project: Project, service: ExportService, tmp_path: Path) -> None:
    add_images(project, [ImageSpec("x.png", tags=simple_tags("s"), referenced_at=tmp_path / "src")])
    with pytest.raises(ExportError, match="lies in project 'exp'"):
        service.export(service.default_options(project.root / "export"))
    with pytest.raises(ExportError, match="holds the projects folder"):
        service.export(service.default_options(project.root.parent.parent, force=True))
    other = ProjectService(ConfigurationService()).create("other")
    other.close()
    with pytest.raises(ExportError, match="lies in project 'other'"):
        service.export(service.default_options(other.root / "export"))
    with pytest.raises(ExportError, match="an image project 'exp' was imported from"):
        service.export(service.default_options(tmp_path, force=True))
    with pytest.raises(ExportError, match="no image with id 999"):
        service.export(service.default_options(tmp_path / "o", image_ids=(999,)))
    assert (tmp_path / "src" / "x.png").is_file()


def test_per_image_failures_are_reported_and_cancel_leaves_nothing(
    project: Project, service: ExportService, tmp_path: Path
) -> None:
    ids = add_images(project, [ImageSpec(f"i{n}.png", (300, 300), tags=simple_tags("t")) for n in range(6)])
    broken = next(project.root.rglob("img1.png"))
    broken.write_bytes(b"not an image")
    result = service.export(service.default_options(tmp_path / "out", trigger_words=("sks",)))
    assert result.exported == 5
    assert [f.image_id for f in result.failures] == [ids[1]]
    assert str(broken) in result.failures[0].path
    assert not (result.image_dir / "i1.txt").exists()  # no caption without its image

    cancel = threading.Event()
    cancel.set()
    cancelled = service.export(service.default_options(tmp_path / "never", trigger_words=("sks",)), cancel=cancel)
    assert cancelled.cancelled and not (tmp_path / "never").exists()
    assert not list(tmp_path.glob(".never.*"))


@pytest.mark.slow
def test_process_pool_path_and_bucket_no_upscale(
    project: Project, service: ExportService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lorairo.services.export.runner.MIN_JOBS_FOR_POOL", 4)  # use the process pool here
    sizes = [(300 + 37 * n, 900 - 29 * n) for n in range(12)]
    add_images(project, [ImageSpec(f"p{n}.png", s, tags=simple_tags("t")) for n, s in enumerate(sizes)])
    opts = service.default_options(tmp_path / "out", trigger_words=("sks",), bucket_no_upscale=True)
    result = service.export(opts)
    assert result.exported == 12
    settings = BucketSettings(bucket_no_upscale=True)
    for n, size in enumerate(sizes):
        with Image.open(result.image_dir / f"p{n}.png") as im:
            assert im.size == select_bucket(*size, settings).bucket
            assert im.width <= size[0] and im.height <= size[1]


def test_metadata_json_and_jsonl(project: Project, service: ExportService, tmp_path: Path) -> None:
    add_images(project, [ImageSpec("a.png", (800, 600), tags=simple_tags("smile", "1girl"), caption="A girl.")])
    result = service.export(
        service.default_options(tmp_path / "j", format="kohya-json", trigger_words=("sks",), caption_mode="both")
    )
    data = json.loads((tmp_path / "j" / "metadata.json").read_text())
    ((key, entry),) = data.items()
    assert Path(key).is_absolute() and Path(key).is_file() and Path(key).parent == result.image_dir
    assert entry == {"caption": "sks, A girl.", "tags": "1girl, smile", "image_size": [1024, 768]}
    toml = tomllib.loads((tmp_path / "j" / "dataset_config.toml").read_text())
    subset = toml["datasets"][0]["subsets"][0]
    assert Path(subset["metadata_file"]) == tmp_path / "j" / "metadata.json"
    assert Path(subset["image_dir"]) == result.image_dir
    # fine-tuning subsets take no sidecar / DreamBooth keys
    assert "caption_extension" not in toml["general"] and "class_tokens" not in subset and "is_reg" not in subset

    service.export(service.default_options(tmp_path / "l", format="kohya-jsonl", trigger_words=("sks",)))
    rows = [json.loads(x) for x in (tmp_path / "l" / "metadata.jsonl").read_text().splitlines()]
    assert set(rows[0]) == {"image_path", "caption", "tags", "image_size"}


def test_onetrainer_masks_and_hf_imagefolder(project: Project, service: ExportService, tmp_path: Path) -> None:
    add_images(
        project,
        [
            ImageSpec("a.png", (512, 512), mode="RGBA", tags=simple_tags("smile"), rating="general", aesthetic=7.4),
            ImageSpec("b.jpg", (640, 480), fmt="JPEG", tags=simple_tags("cat"), caption="A cat."),
        ],
    )
    ot = service.export(
        service.default_options(
            tmp_path / "ot", format="onetrainer", alpha="mask", resolution=512, max_bucket_reso=1024
        )
    )
    assert sorted(p.name for p in (tmp_path / "ot").iterdir()) == [
        "a-masklabel.png",
        "a.png",
        "a.txt",
        "b.jpg",
        "b.txt",
    ]
    with Image.open(tmp_path / "ot" / "a-masklabel.png") as mask, Image.open(tmp_path / "ot" / "a.png") as img:
        assert mask.mode == "L" and mask.size == img.size
        assert mask.getpixel((0, 0)) == 0 and mask.getpixel((256, 256)) == 255
    assert ot.config_path is None

    hf = service.export(
        service.default_options(tmp_path / "hf", format="hf", include_score_tag=True, include_rating_tag=True)
    )
    rows = [json.loads(x) for x in (tmp_path / "hf" / "train" / "metadata.jsonl").read_text().splitlines()]
    assert [r["file_name"] for r in rows] == ["a.png", "b.jpg"]
    assert all((hf.image_dir / r["file_name"]).is_file() for r in rows)
    assert rows[0]["text"] == "rating_general, score_7, smile" and rows[0]["tags"] == ["smile"]
    assert rows[0]["rating"] == "general" and rows[0]["aesthetic_score"] == pytest.approx(7.4)
    assert rows[1]["caption"] == "A cat." and rows[1]["rating"] is None
    assert (tmp_path / "hf" / "README.md").is_file()


def test_preview_counts_buckets_and_caption(project: Project, service: ExportService, tmp_path: Path) -> None:
    ids = add_images(
        project,
        [
            ImageSpec("a.png", (1000, 1500), tags=simple_tags("smile", "1girl")),
            ImageSpec("b.png", (1500, 1000), tags=simple_tags("smile")),
            ImageSpec("c.png", (1000, 1500), tags=simple_tags("cat", confidence=0.2)),
            ImageSpec("d.png", (1000, 1000), tags=simple_tags("x"), excluded=True),
        ],
    )
    opts = service.default_options(tmp_path / "o", trigger_words=())
    preview = service.preview(opts, image_id=ids[0])
    assert preview.caption_lines == ("1girl, smile",)
    assert (preview.image_count, preview.excluded, preview.skipped_empty) == (2, 1, 1)
    assert preview.tag_frequency == (("smile", 2), ("1girl", 1))
    assert preview.buckets == (((704, 1024), 1), ((1024, 704), 1))
    lower = service.preview(opts.with_changes(min_confidence=0.1, trigger_words=("sks",)), image_id=ids[2])
    assert lower.caption_lines == ("sks, cat",) and lower.image_count == 3 and lower.bucket_count == 2


def test_kohya_alpha_mask_keeps_the_alpha_channel(project: Project, service: ExportService, tmp_path: Path) -> None:
    add_images(project, [ImageSpec("a.png", (512, 512), mode="RGBA", tags=simple_tags("smile"))])
    result = service.export(service.default_options(tmp_path / "m", trigger_words=("sks",), alpha="mask"))
    with Image.open(result.image_dir / "a.png") as im:
        assert im.mode == "RGBA" and im.getpixel((0, 0))[3] == 0
    subset = tomllib.loads((tmp_path / "m" / "dataset_config.toml").read_text())["datasets"][0]["subsets"][0]
    assert subset["alpha_mask"] is True
    with pytest.raises(ExportError, match="JPEG"):
        service.export(service.default_options(tmp_path / "n", alpha="mask", image_format="jpg"))


SPLIT_LIKE_NAMES = ["test_1.png", "train-2.png", "valid 3.png", "my_test.png", "plain.png"]


def _hf_export_and_snippet(project: Project, service: ExportService, tmp_path: Path) -> tuple[Path, str]:
    add_images(project, [ImageSpec(n, (64, 64), tags=simple_tags("t")) for n in SPLIT_LIKE_NAMES])
    target = tmp_path / "hf"
    service.export(service.default_options(target, format="hf", resolution=None))
    readme = (target / "README.md").read_text()
    return target, readme.split("```python\n", 1)[1].split("```", 1)[0]


def test_hf_export_names_its_split_and_files_explicitly(
    project: Project, service: ExportService, tmp_path: Path
) -> None:
    target, snippet = _hf_export_and_snippet(project, service, tmp_path)
    rows = [json.loads(line) for line in (target / "train" / "metadata.jsonl").read_text().splitlines()]
    assert sorted(r["file_name"] for r in rows) == sorted(SPLIT_LIKE_NAMES)
    # data_dir="train" alone lets `datasets` infer test / validation splits from these names (and drop the
    # metadata of the images it moves): the snippet names the split and its files
    assert 'data_files={"train": "train/**"}' in snippet and 'split="train"' in snippet
    assert "path: train/**" in (target / "README.md").read_text()


def test_hf_export_loads_with_its_own_readme_snippet(
    project: Project, service: ExportService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = pytest.importorskip("datasets")  # not a LoRAIro dependency: checked where it is installed
    target, snippet = _hf_export_and_snippet(project, service, tmp_path)
    monkeypatch.chdir(target)
    namespace: dict[str, object] = {"load_dataset": datasets.load_dataset}
    exec(snippet.replace("from datasets import load_dataset\n", ""), namespace)
    loaded = namespace["ds"]
    assert len(loaded) == 5 and loaded[0]["text"] == "t"  # type: ignore[arg-type,index]


def test_reports_name_the_users_original_path_not_the_store_copy(
    project: Project, service: ExportService, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from lorairo.database.schema import ImageRecord

    ids = add_images(
        project,
        [ImageSpec("kept.png", tags=simple_tags("a")), ImageSpec("empty.png", tags=simple_tags("low", confidence=0.1))],
    )
    with project.db.session(write=True) as s:
        s.execute(update(ImageRecord).where(ImageRecord.id == ids[1]).values(original_path="/home/me/shoot/empty.png"))
    result = service.export(service.default_options(tmp_path / "out"))
    (skipped,) = result.skipped
    assert skipped.path == "/home/me/shoot/empty.png"  # not .../projects/exp/images/01/img1.png


@pytest.mark.parametrize("fmt", ["kohya", "kohya-json"])
def test_relative_paths_survive_moving_the_export(
    project: Project, service: ExportService, tmp_path: Path, fmt: str
) -> None:
    add_images(project, [ImageSpec("a.png", (512, 512), tags=simple_tags("smile"))])
    target = tmp_path / "made"
    service.export(service.default_options(target, format=fmt, relative_paths=True, trigger_words=("sks",)))
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    target.rename(moved)
    config = tomllib.loads((moved / "dataset_config.toml").read_text())
    subset = config["datasets"][0]["subsets"][0]
    assert not Path(subset["image_dir"]).is_absolute()
    assert (moved / subset["image_dir"]).is_dir()  # sd-scripts reads it from the toml's folder (the cwd)
    if fmt == "kohya-json":
        assert (moved / subset["metadata_file"]).is_file()
        keys = json.loads((moved / "metadata.json").read_text())
        assert all((moved / key).is_file() for key in keys)


def test_pillow_warnings_while_exporting_go_to_the_log_with_the_file_name(
    project: Project, service: ExportService, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A photo with a broken EXIF block: Pillow warns while reading it; the warning goes to the log naming the
    file, not through the progress bar (the workers have no log of their own)."""
    import io
    import struct

    from loguru import logger

    add_images(project, [ImageSpec("exif.jpg", (64, 48), fmt="JPEG", tags=simple_tags("a"), referenced_at=tmp_path)])
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x010F, 2, 100, 1000) + struct.pack("<I", 0)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(buffer, "JPEG", exif=b"Exif\x00\x00" + tiff)
    (tmp_path / "exif.jpg").write_bytes(buffer.getvalue())
    messages: list[str] = []
    sink = logger.add(messages.append, level="WARNING", format="{message}")
    try:
        result = service.export(service.default_options(tmp_path / "out", image_format="png"))
    finally:
        logger.remove(sink)
    assert result.exported == 1 and not result.failures
    assert "Tag data larger than file" not in capfd.readouterr().err
    assert any("exif.jpg" in m and "Tag data larger than file" in m for m in messages), messages
