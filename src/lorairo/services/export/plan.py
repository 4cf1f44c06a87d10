"""Planning an export: each image's composed caption, output extension and image job, per format.

Planned images keep what writing and the side files need (the caption is composed once); their tag rows are
dropped, which at 500k images would be most of an export's memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lorairo.services.export.compose import ComposedCaption, compose, single_line
from lorairo.services.export.data import ExportItem
from lorairo.services.export.imaging import MASK_SUFFIX, ImageJob, output_extension
from lorairo.services.export.options import KOHYA_FORMATS, ExportOptions
from lorairo.services.export.results import ExportIssue

#: Formats whose metadata file lists an image's tags (kohya metadata JSON, Hugging Face metadata.jsonl).
_TAGS_IN_METADATA = ("kohya-json", "kohya-jsonl", "hf")


@dataclass(frozen=True, slots=True)
class PlannedImage:
    """One image of an export: its item (without tag rows), composed caption, file stem and extension."""

    item: ExportItem
    composed: ComposedCaption
    stem: str
    ext: str
    reduced: bool = False  # several captions written as one (single_caption)


def plan_items(items: Iterable[ExportItem], opts: ExportOptions) -> tuple[list[PlannedImage], list[ExportIssue]]:
    """Compose every image's caption and choose its output extension; images with an empty caption are skipped."""
    keep_alpha = opts.alpha == "mask" and opts.format in (*KOHYA_FORMATS, "hf")
    planned: list[PlannedImage] = []
    skipped: list[ExportIssue] = []
    for item in items:
        composed = compose(item, opts)
        if composed.is_empty:
            skipped.append(ExportIssue(item.image_id, item.shown_path, "empty caption: no tags pass the filters"))
            continue
        masked = opts.masks and item.mask_path is not None
        ext = output_extension(item.format, opts.image_format, keep_alpha)
        if masked and opts.format in KOHYA_FORMATS and ext in (".jpg", ".bmp"):
            ext = ".png"  # the mask goes into the alpha channel (alpha_mask), which JPEG and BMP cannot hold
        if opts.format == "ai-toolkit" and ext not in (".jpg", ".png"):
            ext = ".png"  # ai-toolkit reads jpg / jpeg / png only (it warns about and skips webp)
        reduced = False
        if not opts.multi_caption and len(composed.lines) > 1 and opts.format not in ("kohya-json", "kohya-jsonl"):
            composed = replace(composed, lines=(single_line(composed.lines, opts.single_caption),))
            reduced = True
        # The caption is composed: the tag rows are not needed any more (at 500k images they would be
        # most of the export's memory; metadata files still read the captions and scores), nor the formatted
        # tags unless a metadata file lists them apart from the caption lines.
        if opts.format not in _TAGS_IN_METADATA:
            composed = replace(composed, tags=())
        planned.append(PlannedImage(replace(item, tags=()), composed, "", ext, reduced))
    return planned, skipped


def carries_masks(opts: ExportOptions) -> bool:
    """The format has a place for masks (musubi-tuner and Hugging Face imagefolder have none)."""
    return opts.format not in ("musubi", "hf")


def image_job(
    opts: ExportOptions,
    p: PlannedImage,
    staged_images: Path,
    work: Path,
    alpha_mode: str,
    any_mask: bool,
) -> ImageJob:
    """One image's job: where it and its mask go, per format."""
    item = p.item
    stored = str(item.mask_path) if opts.masks and item.mask_path is not None else None
    mask_dest: str | None = None
    into_alpha = False
    white_default = False
    if opts.format == "onetrainer":
        if alpha_mode == "mask" or stored:
            mask_dest = str(staged_images / f"{p.stem}{MASK_SUFFIX}")
    elif opts.format in KOHYA_FORMATS:
        into_alpha = stored is not None  # sd-scripts alpha_mask reads the mask from the image's alpha
    elif opts.format in ("ai-toolkit", "diffusion-pipe"):
        if stored or (alpha_mode == "mask" and item.has_alpha):
            mask_dest = str(work / "masks" / f"{p.stem}.png")
    elif opts.format == "simpletuner" and any_mask:
        # SimpleTuner pairs a conditioning image with every training image by file name: once any image has
        # a mask, the others get an all-white one (train on everything), so no image is left unpaired.
        mask_dest = str(work / "masks" / f"{p.stem}{p.ext}")
        white_default = True
    if mask_dest is not None:
        Path(mask_dest).parent.mkdir(parents=True, exist_ok=True)
    return ImageJob(
        image_id=item.image_id,
        source=str(item.source_path),
        dest=str(staged_images / f"{p.stem}{p.ext}"),
        buckets=opts.bucket_settings,
        alpha=alpha_mode,
        background=opts.background,
        mask_dest=mask_dest,
        quality=opts.jpeg_quality,
        resize_filter=opts.resize_filter,
        crop=item.crop,
        mask_source=stored if carries_masks(opts) else None,
        mask_into_alpha=into_alpha,
        mask_white_default=white_default,
    )


def alpha_mode(opts: ExportOptions) -> str:
    """How a transparent image is written: ``composite`` on the background, ``keep`` (RGBA, sd-scripts reads
    ``alpha_mask`` from it) or ``mask`` (composited, its alpha written as the format's mask file)."""
    if opts.alpha == "composite" or opts.format == "musubi":  # musubi-tuner has no masks
        return "composite"
    if opts.format in (*KOHYA_FORMATS, "hf"):
        return "keep"
    return "mask"


def caption_summary(opts: ExportOptions, done: Sequence[PlannedImage], captions_json: bool) -> str:
    several = sum(1 for p in done if len(p.composed.lines) > 1)
    reduced = sum(1 for p in done if p.reduced)
    if captions_json:
        return f"{several} images have several captions, listed in images/captions.json"
    if several:
        return f"one caption per line; {several} images have several"
    if reduced:
        return f"one caption each; {reduced} images with several were written as one ({opts.single_caption})"
    return "one caption each"
