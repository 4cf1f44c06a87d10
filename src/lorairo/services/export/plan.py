"""Planning an export: each image's composed caption, output extension and image job, per format.

Planned images keep what writing and the side files need (the caption is composed once); their tag rows are
dropped. An export does not keep them in memory either: `plan_export` streams them into a `PlanSpool` and
keeps only the few facts about the whole selection that writing needs (`PlanSummary`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from lorairo.services.export.captions import collapse
from lorairo.services.export.compose import ComposedCaption, compose, pick_caption, single_line
from lorairo.services.export.data import ExportItem
from lorairo.services.export.imaging import MASK_SUFFIX, ImageJob, output_extension
from lorairo.services.export.layout import StemAssigner, displayable
from lorairo.services.export.options import KOHYA_FORMATS, ExportOptions
from lorairo.services.export.results import ExportIssue

if TYPE_CHECKING:
    from lorairo.services.export.spool import PlanSpool

#: Formats whose metadata file lists an image's tags (kohya metadata JSON, Hugging Face metadata.jsonl).
_TAGS_IN_METADATA = ("kohya-json", "kohya-jsonl", "hf")


class PlannedImage(NamedTuple):
    """One image of an export as writing it needs: plain values only (no `ExportItem`, no `Path`).

    An export spools one per image to its staging folder and reads it back twice (image jobs, then the side
    files). As a named tuple of ints, strings and tuples it pickles and unpickles in C; the item and
    `Path` it was first built from went through dataclass ``__setstate__`` and path parsing in Python, which
    made the bounded-memory export 1.2-1.5x slower than the in-memory one (issue 20).

    Attributes:
        image_id: The image.
        source: The stored image file (``str`` of `ExportItem.source_path`).
        file_name: The image's original file name (progress messages).
        original_path: Where the user's file was imported from (reports only).
        has_alpha: The image is transparent.
        crop: (left, top, width, height) in upright pixels, or None.
        mask: The stored mask file, or None (whether or not the export writes masks).
        stem: The unique file stem in the export.
        ext: The written image's extension.
        reduced: Several captions were written as one (``single_caption``).
        composed: The caption lines and metadata texts.
        rating: The image's rating (Hugging Face metadata).
        aesthetic: The score the Hugging Face metadata lists (``ExportItem.score(score_name)``), hf only.
        fallback_caption: The caption text the Hugging Face metadata lists when the composed caption has
            none (``collapse(pick_caption(item))``), hf only.
    """

    image_id: int
    source: str
    file_name: str
    original_path: str
    has_alpha: bool
    crop: tuple[int, int, int, int] | None
    mask: str | None
    stem: str
    ext: str
    reduced: bool
    composed: ComposedCaption
    rating: str | None = None
    aesthetic: float | None = None
    fallback_caption: str = ""

    @property
    def shown_path(self) -> str:
        """The path a report names (`ExportItem.shown_path`)."""
        return displayable(self.original_path or self.source)


def plan_one(item: ExportItem, opts: ExportOptions) -> PlannedImage | ExportIssue:
    """Compose one image's caption and choose its output extension (no stem yet); an empty caption skips it."""
    keep_alpha = opts.alpha == "mask" and opts.format in (*KOHYA_FORMATS, "hf")
    composed = compose(item, opts)
    if composed.is_empty:
        return ExportIssue(item.image_id, item.shown_path, "empty caption: no tags pass the filters")
    masked = opts.masks and item.mask_path is not None
    ext = output_extension(item.format, opts.image_format, keep_alpha)
    if masked and opts.format in KOHYA_FORMATS and ext in (".jpg", ".bmp"):
        ext = ".png"  # the mask goes into the alpha channel (alpha_mask), which JPEG and BMP cannot hold
    if opts.format == "ai-toolkit" and ext not in (".jpg", ".png"):
        ext = ".png"  # ai-toolkit reads jpg / jpeg / png only (it warns about and skips webp)
    reduced = False
    if not opts.multi_caption and len(composed.lines) > 1 and opts.format not in ("kohya-json", "kohya-jsonl"):
        composed = composed._replace(lines=(single_line(composed.lines, opts.single_caption),))
        reduced = True
    # The formatted tags are kept only when a metadata file lists them apart from the caption lines.
    if opts.format not in _TAGS_IN_METADATA:
        composed = composed._replace(tags=())
    aesthetic: float | None = None
    fallback_caption = ""
    if opts.format == "hf":
        score = item.score(opts.score_name)
        aesthetic = score.value if score else None
        fallback_caption = "" if composed.caption else collapse(pick_caption(item))
    return PlannedImage(
        image_id=item.image_id,
        source=str(item.source_path),
        file_name=item.file_name,
        original_path=item.original_path,
        has_alpha=item.has_alpha,
        crop=item.crop,
        mask=str(item.mask_path) if item.mask_path is not None else None,
        stem="",
        ext=ext,
        reduced=reduced,
        composed=composed,
        rating=item.rating,
        aesthetic=aesthetic,
        fallback_caption=fallback_caption,
    )


def plan_items(items: Iterable[ExportItem], opts: ExportOptions) -> tuple[list[PlannedImage], list[ExportIssue]]:
    """Every image planned, in memory (the preview benchmark; an export streams with `plan_export`)."""
    planned: list[PlannedImage] = []
    skipped: list[ExportIssue] = []
    for item in items:
        outcome = plan_one(item, opts)
        (skipped if isinstance(outcome, ExportIssue) else planned).append(outcome)  # type: ignore[arg-type]
    return planned, skipped


@dataclass
class PlanSummary:
    """What an export must know about the whole selection before writing, without holding its images."""

    planned: int = 0
    skipped: list[ExportIssue] = field(default_factory=list)
    renamed: tuple[tuple[int, str, str], ...] = ()  # (image id, wanted stem, stem used)
    any_mask_file: bool = False  # some planned image has a stored mask (and masks are exported)
    any_alpha: bool = False  # some planned image is transparent
    any_several_lines: bool = False  # some planned image has more than one caption line


def plan_export(items: Iterable[ExportItem], opts: ExportOptions, spool: PlanSpool) -> PlanSummary:
    """Plan every image (in id order, as a selection yields them), give it its unique stem and append it to
    `spool`; returns the facts about the whole selection. Memory does not grow with the selection beyond the
    stems used (`StemAssigner`) and the skipped images."""
    summary = PlanSummary()
    stems = StemAssigner()
    for item in items:
        outcome = plan_one(item, opts)
        if isinstance(outcome, ExportIssue):
            summary.skipped.append(outcome)
            continue
        planned = outcome._replace(stem=stems.assign(item.image_id, item.file_name))
        spool.add(planned)
        summary.planned += 1
        summary.any_mask_file |= opts.masks and item.mask_path is not None
        summary.any_alpha |= item.has_alpha
        summary.any_several_lines |= len(planned.composed.lines) > 1
    spool.finish()
    summary.renamed = tuple(stems.renamed)
    return summary


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
    stored = p.mask if opts.masks else None
    mask_dest: str | None = None
    into_alpha = False
    white_default = False
    if opts.format == "onetrainer":
        if alpha_mode == "mask" or stored:
            mask_dest = str(staged_images / f"{p.stem}{MASK_SUFFIX}")
    elif opts.format in KOHYA_FORMATS:
        into_alpha = stored is not None  # sd-scripts alpha_mask reads the mask from the image's alpha
    elif opts.format in ("ai-toolkit", "diffusion-pipe"):
        if stored or (alpha_mode == "mask" and p.has_alpha):
            mask_dest = str(work / "masks" / f"{p.stem}.png")
    elif opts.format == "simpletuner" and any_mask:
        # SimpleTuner pairs a conditioning image with every training image by file name: once any image has
        # a mask, the others get an all-white one (train on everything), so no image is left unpaired.
        mask_dest = str(work / "masks" / f"{p.stem}{p.ext}")
        white_default = True
    if mask_dest is not None:
        Path(mask_dest).parent.mkdir(parents=True, exist_ok=True)
    return ImageJob(
        image_id=p.image_id,
        source=p.source,
        dest=str(staged_images / f"{p.stem}{p.ext}"),
        buckets=opts.bucket_settings,
        alpha=alpha_mode,
        background=opts.background,
        mask_dest=mask_dest,
        quality=opts.jpeg_quality,
        resize_filter=opts.resize_filter,
        crop=p.crop,
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


def caption_summary(opts: ExportOptions, several: int, reduced: int, captions_json: bool) -> str:
    """How README_TRAINING.md describes the captions: `several` images written with more than one line,
    `reduced` with several captions written as one."""
    if captions_json:
        return f"{several} images have several captions, listed in images/captions.json"
    if several:
        return f"one caption per line; {several} images have several"
    if reduced:
        return f"one caption each; {reduced} images with several were written as one ({opts.single_caption})"
    return "one caption each"
