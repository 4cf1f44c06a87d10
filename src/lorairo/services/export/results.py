"""Frozen summaries an export and its preview hand back (safe across threads, printable as JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ExportIssue:
    """An image that was skipped (nothing to caption) or failed (could not be read or written)."""

    image_id: int
    path: str
    reason: str


@dataclass(frozen=True)
class ExportResult:
    """What an export did.

    Attributes:
        target: The final folder.
        image_dir: Where the images are (the kohya ``<repeats>_<trigger> <class>`` folder etc.).
        exported: Images written (each with its caption file / metadata row).
        skipped: Images left out on purpose (empty caption), with the reason.
        failures: Images that could not be exported, with the error.
        excluded: Images left out because they are excluded in the project (near-duplicates etc.).
        renamed: (image id, wanted stem, stem used) where two images would have shared a stem.
        buckets: ``"WxH"`` -> number of images written at that size.
        keep_tokens: The value written to the TOML (0 with keep_tokens_separator).
        config_path: ``dataset_config.toml`` when written.
        metadata_path: metadata.json / metadata.jsonl when written.
        class_captioned: Images with no tag or caption that got the class token as their caption.
        replaced: Entries of a forced target that were replaced (the whole folder is replaced).
        cancelled: True when the user cancelled (then nothing was written to the target).
    """

    target: Path
    format: str
    image_dir: Path
    exported: int
    caption_extension: str
    keep_tokens: int
    skipped: tuple[ExportIssue, ...] = ()
    failures: tuple[ExportIssue, ...] = ()
    excluded: int = 0
    renamed: tuple[tuple[int, str, str], ...] = ()
    buckets: dict[str, int] = field(default_factory=dict)
    config_path: Path | None = None
    metadata_path: Path | None = None
    replaced: tuple[str, ...] = ()
    class_captioned: tuple[int, ...] = ()
    cancelled: bool = False
    elapsed_s: float = 0.0
    notes_path: Path | None = None  # README_TRAINING.md beside the trainer configs
    masks_written: int = 0  # mask files (or alpha masks) written from the project's masks or the images' alpha
    masks_dropped: int = 0  # images whose mask the format cannot carry (musubi-tuner, Hugging Face)
    cropped: int = 0  # images written with the crop set in the project
    captions_reduced: int = 0  # images with several captions written as one (``single_caption``)
    single_caption: str = "first"
    caption_files: str = ""  # how captions were written when that is not <stem><ext>: "captions.json", "jsonl"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExportPreview:
    """What the dialog shows before writing (no image decoded: sizes come from the database).

    Attributes:
        image_count: Images that would be written.
        excluded: Excluded images left out.
        skipped_empty: Images that would be skipped because their caption would be empty.
        preview_image_id: The image ``caption_lines`` belong to (None when there are no images).
        caption_lines: Its caption file lines with the current options.
        tag_count: Distinct tags over all captions; ``tag_occurrences`` counts every use.
        buckets: ((w, h), count) sorted by size; empty when exporting at the original size.
        tag_frequency: The most frequent tags, (tag, count), most frequent first.
        keep_tokens: The keep_tokens value the TOML would get.
        sampled: 0 when every image was composed; else the number of images (spread evenly over the selection)
            the counts were estimated from: image / skipped / tag / bucket counts are scaled to the selection,
            ``tag_count`` counts the distinct tags of the sample.
    """

    image_count: int
    excluded: int
    skipped_empty: int
    preview_image_id: int | None
    caption_lines: tuple[str, ...]
    tag_count: int
    tag_occurrences: int
    buckets: tuple[tuple[tuple[int, int], int], ...]
    tag_frequency: tuple[tuple[str, int], ...]
    keep_tokens: int
    sampled: int = 0

    @property
    def bucket_count(self) -> int:
        return len(self.buckets)
