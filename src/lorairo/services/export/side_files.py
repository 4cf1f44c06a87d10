"""The files beside an export's images: kohya metadata and dataset_config.toml, Hugging Face metadata and
card, and the configs of the trainer formats (SimpleTuner, ai-toolkit, diffusion-pipe, musubi-tuner).

They are written from `WrittenImages`: the images that were written, read back in plan order from the export's
spool one chunk at a time, and a few facts gathered while writing, so a metadata file of 500k rows is streamed
to the staging folder and never held in memory (issue 20).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lorairo.services.export import trainers
from lorairo.services.export.compose import metadata_texts
from lorairo.services.export.options import KOHYA_FORMATS, ExportOptions
from lorairo.services.export.plan import PlannedImage
from lorairo.services.export.writers import (
    CONFIG_NAME,
    MetadataRow,
    SubsetSpec,
    dataset_config_toml,
    hf_dataset_card,
    write_hf_metadata_jsonl,
    write_kohya_metadata_json,
    write_kohya_metadata_jsonl,
)


@dataclass(frozen=True)
class WrittenImages:
    """The images an export wrote, in plan order, each with its written size (read again on each iteration).

    Attributes:
        planned: Every planned image, in plan order (the export's spool, re-read per iteration).
        sizes: Written (width, height) per plan index; (0, 0) where the image failed.
        count: How many were written.
        several_lines: Written images with more than one caption line.
        protected_sentences: Some written caption holds a sentence joined by the secondary separator.
    """

    planned: Iterable[PlannedImage]
    sizes: Iterable[int]  # flat: width, height of plan index 0, then 1, ...
    count: int
    several_lines: int
    protected_sentences: bool

    def __iter__(self) -> Iterator[tuple[PlannedImage, tuple[int, int]]]:
        flat = iter(self.sizes)
        for p in self.planned:
            w, h = next(flat), next(flat)
            if w:
                yield p, (w, h)

    def image_sizes(self) -> Iterator[tuple[int, int]]:
        flat = iter(self.sizes)
        for w, h in zip(flat, flat, strict=True):
            if w:
                yield w, h


def write_side_files(
    opts: ExportOptions,
    done: WrittenImages,
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

        def rows() -> Iterator[MetadataRow]:
            for p, size in done:
                caption, tags = metadata_texts(p.composed, opts)
                yield MetadataRow(written(final_image_dir / f"{p.stem}{p.ext}"), caption, tags, size)

        name = "metadata.json" if opts.format == "kohya-json" else "metadata.jsonl"
        with (work / name).open("w", encoding="utf-8") as out:
            if opts.format == "kohya-json":
                write_kohya_metadata_json(out, rows())
            else:
                write_kohya_metadata_jsonl(out, rows())
        metadata_path = target / name
    if opts.format in KOHYA_FORMATS:
        subset = SubsetSpec(
            image_dir=written(final_image_dir),
            metadata_file=written(metadata_path) if metadata_path is not None else None,
            alpha_mask=opts.alpha == "mask" or alpha_mask,
            protected_sentences=done.protected_sentences,
        )
        (work / CONFIG_NAME).write_text(dataset_config_toml(opts, subset, kt), encoding="utf-8")
        config_path = target / CONFIG_NAME
    if opts.format == "hf":

        def rows_hf() -> Iterator[dict[str, object]]:
            for p, _size in done:
                yield {
                    "file_name": f"{p.stem}{p.ext}",
                    "text": p.composed.lines[0],  # one line: several were reduced by single_caption
                    "tags": list(p.composed.tags),
                    "caption": p.composed.caption or p.fallback_caption,
                    "rating": p.rating,
                    "aesthetic_score": p.aesthetic,
                }

        with (work / "train" / "metadata.jsonl").open("w", encoding="utf-8") as out:
            write_hf_metadata_jsonl(out, rows_hf())
        (work / "README.md").write_text(hf_dataset_card(project_name, done.count, opts.trigger_words), encoding="utf-8")
        metadata_path = target / "train" / "metadata.jsonl"
    return config_path, metadata_path


def write_trainer_files(
    opts: ExportOptions,
    done: WrittenImages,
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
        multiline = done.several_lines > 0
        text = trainers.simpletuner_config(opts, paths, multiline=multiline, keep_tokens=kt)
    elif opts.format == "ai-toolkit":
        text = trainers.ai_toolkit_config(opts, paths, keep_tokens=kt)
    elif opts.format == "diffusion-pipe":
        text = trainers.diffusion_pipe_config(opts, paths, done.image_sizes())
        if captions_json:
            with (work / "images" / trainers.CAPTIONS_JSON).open("w", encoding="utf-8") as out:
                trainers.write_diffusion_pipe_captions(out, ((f"{p.stem}{p.ext}", p.composed.lines) for p, _ in done))
            metadata_path = target / "images" / trainers.CAPTIONS_JSON
    else:
        text = trainers.musubi_config(opts, paths)
        if jsonl_path is not None:
            rows = ((written(target / "images" / f"{p.stem}{p.ext}"), p.composed.lines[0]) for p, _ in done)
            with (work / trainers.MUSUBI_JSONL).open("w", encoding="utf-8") as out:
                trainers.write_musubi_jsonl(out, rows)
            metadata_path = jsonl_path
    name = trainers.CONFIG_NAMES[opts.format]
    (work / name).write_text(text, encoding="utf-8")
    return target / name, metadata_path
