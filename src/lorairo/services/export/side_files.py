"""The files beside an export's images: kohya metadata and dataset_config.toml, Hugging Face metadata and
card, and the configs of the trainer formats (SimpleTuner, ai-toolkit, diffusion-pipe, musubi-tuner)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lorairo.services.export import trainers
from lorairo.services.export.captions import SECONDARY_SEPARATOR, collapse
from lorairo.services.export.compose import metadata_texts, pick_caption
from lorairo.services.export.options import KOHYA_FORMATS, ExportOptions
from lorairo.services.export.plan import PlannedImage
from lorairo.services.export.writers import (
    CONFIG_NAME,
    MetadataRow,
    SubsetSpec,
    dataset_config_toml,
    hf_dataset_card,
    hf_metadata_jsonl,
    kohya_metadata_json,
    kohya_metadata_jsonl,
)


def write_side_files(
    opts: ExportOptions,
    done: Sequence[PlannedImage],
    sizes: dict[int, tuple[int, int]],
    target: Path,
    final_image_dir: Path,
    work: Path,
    kt: int,
    *,
    project_name: str,
    alpha_mask: bool = False,
) -> tuple[Path | None, Path | None]:
    """The metadata file and dataset_config.toml of a kohya export, metadata.jsonl and the card of a Hugging
    Face one, written into the staging folder `work`; returns (config path, metadata path) as finally placed."""
    config_path: Path | None = None
    metadata_path: Path | None = None

    def written(path: Path) -> str:
        # The TOML and metadata name the final (moved-into-place) paths, or paths relative to the target.
        return path.relative_to(target).as_posix() if opts.relative_paths else str(path)

    if opts.format in ("kohya-json", "kohya-jsonl"):
        rows = []
        for p in done:
            caption, tags = metadata_texts(p.composed, opts)
            image_path = written(final_image_dir / f"{p.stem}{p.ext}")
            rows.append(MetadataRow(image_path, caption, tags, sizes[p.item.image_id]))
        name = "metadata.json" if opts.format == "kohya-json" else "metadata.jsonl"
        text = kohya_metadata_json(rows) if opts.format == "kohya-json" else kohya_metadata_jsonl(rows)
        (work / name).write_text(text, encoding="utf-8")
        metadata_path = target / name
    if opts.format in KOHYA_FORMATS:
        subset = SubsetSpec(
            image_dir=written(final_image_dir),
            metadata_file=written(metadata_path) if metadata_path is not None else None,
            alpha_mask=opts.alpha == "mask" or alpha_mask,
            protected_sentences=any(SECONDARY_SEPARATOR in p.composed.caption for p in done),
        )
        (work / CONFIG_NAME).write_text(dataset_config_toml(opts, subset, kt), encoding="utf-8")
        config_path = target / CONFIG_NAME
    if opts.format == "hf":
        rows_hf = []
        for p in done:
            score = p.item.score(opts.score_name)
            rows_hf.append(
                {
                    "file_name": f"{p.stem}{p.ext}",
                    "text": p.composed.lines[0],  # one line: several were reduced by single_caption
                    "tags": list(p.composed.tags),
                    "caption": p.composed.caption or collapse(pick_caption(p.item)),
                    "rating": p.item.rating,
                    "aesthetic_score": score.value if score else None,
                }
            )
        (work / "train" / "metadata.jsonl").write_text(hf_metadata_jsonl(rows_hf), encoding="utf-8")
        (work / "README.md").write_text(hf_dataset_card(project_name, len(done), opts.trigger_words), encoding="utf-8")
        metadata_path = target / "train" / "metadata.jsonl"
    return config_path, metadata_path


def write_trainer_files(
    opts: ExportOptions,
    done: Sequence[PlannedImage],
    sizes: dict[int, tuple[int, int]],
    target: Path,
    work: Path,
    kt: int,
    *,
    captions_json: bool,
    masks: bool,
) -> tuple[Path | None, Path | None]:
    """The config of a SimpleTuner / ai-toolkit / diffusion-pipe / musubi-tuner export (and its metadata)."""

    def written(path: Path) -> str:
        return path.relative_to(target).as_posix() if opts.relative_paths else str(path)

    has_masks = masks and opts.format != "musubi"
    jsonl_path = target / trainers.MUSUBI_JSONL if opts.format == "musubi" and opts.musubi_jsonl else None
    paths = trainers.TrainerPaths(
        images=written(target / "images"),
        masks=written(target / "masks") if has_masks else None,
        cache=written(target / "cache"),
        jsonl=written(jsonl_path) if jsonl_path is not None else None,
    )
    metadata_path: Path | None = None
    if opts.format == "simpletuner":
        multiline = any(len(p.composed.lines) > 1 for p in done)
        text = trainers.simpletuner_config(opts, paths, multiline=multiline, keep_tokens=kt)
    elif opts.format == "ai-toolkit":
        text = trainers.ai_toolkit_config(opts, paths, keep_tokens=kt)
    elif opts.format == "diffusion-pipe":
        text = trainers.diffusion_pipe_config(opts, paths, [sizes[p.item.image_id] for p in done])
        if captions_json:
            data = {f"{p.stem}{p.ext}": p.composed.lines for p in done}
            (work / "images" / trainers.CAPTIONS_JSON).write_text(
                trainers.diffusion_pipe_captions(data), encoding="utf-8"
            )
            metadata_path = target / "images" / trainers.CAPTIONS_JSON
    else:
        text = trainers.musubi_config(opts, paths)
        if jsonl_path is not None:
            rows = [(written(target / "images" / f"{p.stem}{p.ext}"), p.composed.lines[0]) for p in done]
            (work / trainers.MUSUBI_JSONL).write_text(trainers.musubi_jsonl(rows), encoding="utf-8")
            metadata_path = jsonl_path
    name = trainers.CONFIG_NAMES[opts.format]
    (work / name).write_text(text, encoding="utf-8")
    return target / name, metadata_path
