"""What an export reads from the project database, as frozen values (safe to hand to other threads).

Everything is loaded with one query per table (chunked IN lists), so a preview of thousands of images is cheap
and never decodes an image: sizes come from the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lorairo.database.chunks import chunked
from lorairo.database.schema import (
    SOURCE_MANUAL,
    CaptionRecord,
    ImageRecord,
    ImageRegionRecord,
    QualityScoreRecord,
    RatingRecord,
    TagRecord,
)
from lorairo.exceptions import ExportError
from lorairo.services.export.layout import displayable


@dataclass(frozen=True)
class TagEntry:
    tag: str
    category: str | None
    source: str
    confidence: float | None
    rejected: bool
    row_id: int
    position: int | None = None  # the user's order (dragged chips); None: not placed by the user


@dataclass(frozen=True)
class CaptionEntry:
    text: str
    source: str
    row_id: int


@dataclass(frozen=True)
class ScoreEntry:
    name: str
    value: float
    scale_min: float
    scale_max: float
    source: str
    row_id: int

    def on_ten_scale(self) -> float:
        """The value on a 1-10 scale (aesthetic predictors already are; 0-1 scores are stretched)."""
        if self.scale_max == 10.0 and self.scale_min in (0.0, 1.0):
            return self.value
        span = self.scale_max - self.scale_min
        if span <= 0:
            return self.value
        return 1.0 + 9.0 * (self.value - self.scale_min) / span


@dataclass(frozen=True)
class ExportItem:
    """One image with everything its caption and metadata can use."""

    image_id: int
    source_path: Path
    file_name: str
    width: int
    height: int
    format: str
    has_alpha: bool
    exif_orientation: int
    original_path: str = ""  # where the user's file was imported from (shown in reports, never written)
    tags: tuple[TagEntry, ...] = ()
    captions: tuple[CaptionEntry, ...] = ()
    rating: str | None = None
    scores: tuple[ScoreEntry, ...] = ()
    crop: tuple[int, int, int, int] | None = None  # (left, top, width, height) in upright pixels
    mask_path: Path | None = None  # the stored greyscale mask (upright size), when the image has one

    @property
    def export_size(self) -> tuple[int, int]:
        """The size before bucketing: the crop's when the image has one (export never decodes to know it)."""
        if self.crop is not None:
            return (self.crop[2], self.crop[3])
        return (self.width, self.height)

    @property
    def shown_path(self) -> str:
        """The path a report names: the user's original (not the copy in the project store), as valid text."""
        return displayable(self.original_path or str(self.source_path))

    def score(self, name: str | None) -> ScoreEntry | None:
        """The named score (manual first, then the newest), or the first ``aesthetic*`` score when no name."""
        candidates = [s for s in self.scores if (s.name == name if name else s.name.lower().startswith("aesthetic"))]
        if not candidates:
            return None
        candidates.sort(key=lambda s: (s.source != SOURCE_MANUAL, -s.row_id))
        return candidates[0]


@dataclass(frozen=True)
class LoadedSelection:
    items: tuple[ExportItem, ...]
    excluded_count: int


def resolve_image_path(project_root: Path, file_path: str) -> Path:
    """ImageRecord.file_path is relative to the project root when copied, absolute when referenced in place."""
    path = Path(file_path)
    return path if path.is_absolute() else project_root / path


def load_selection(session: Session, project_root: Path, image_ids: Sequence[int] | None) -> LoadedSelection:
    """Load the images to export (excluded ones counted and left out).

    Raises:
        ExportError: an id in ``image_ids`` does not exist in the project.
    """
    records: list[ImageRecord] = []
    if image_ids is None:
        records = list(session.scalars(select(ImageRecord).order_by(ImageRecord.id)))
    else:
        wanted = sorted(set(image_ids))
        for chunk in chunked(wanted):
            records.extend(session.scalars(select(ImageRecord).where(ImageRecord.id.in_(chunk))))
        missing = sorted(set(wanted) - {r.id for r in records})
        if missing:
            shown = ", ".join(str(i) for i in missing[:10])
            raise ExportError(f"no image with id {shown}{' ...' if len(missing) > 10 else ''} in this project")
        records.sort(key=lambda r: r.id)
    excluded = sum(1 for r in records if r.excluded)
    records = [r for r in records if not r.excluded]
    ids = [r.id for r in records]

    tags: dict[int, list[TagEntry]] = defaultdict(list)
    captions: dict[int, list[CaptionEntry]] = defaultdict(list)
    ratings: dict[int, list[tuple[bool, int, str]]] = defaultdict(list)
    scores: dict[int, list[ScoreEntry]] = defaultdict(list)
    regions: dict[int, ImageRegionRecord] = {}
    for chunk in chunked(ids):
        for region in session.scalars(select(ImageRegionRecord).where(ImageRegionRecord.image_id.in_(chunk))):
            regions[region.image_id] = region
        for t in session.scalars(select(TagRecord).where(TagRecord.image_id.in_(chunk)).order_by(TagRecord.id)):
            tags[t.image_id].append(
                TagEntry(t.tag, t.category, t.source, t.confidence, t.is_rejected, t.id, t.position)
            )
        for c in session.scalars(
            select(CaptionRecord).where(CaptionRecord.image_id.in_(chunk)).order_by(CaptionRecord.id)
        ):
            captions[c.image_id].append(CaptionEntry(c.text, c.source, c.id))
        for r in session.scalars(select(RatingRecord).where(RatingRecord.image_id.in_(chunk))):
            ratings[r.image_id].append((r.source == SOURCE_MANUAL, r.id, r.label))
        for q in session.scalars(select(QualityScoreRecord).where(QualityScoreRecord.image_id.in_(chunk))):
            scores[q.image_id].append(ScoreEntry(q.score_name, q.value, q.scale_min, q.scale_max, q.source, q.id))

    items: list[ExportItem] = []
    for rec in records:
        rating = rec.manual_rating
        if not rating and ratings[rec.id]:
            rating = max(ratings[rec.id])[2]  # manual first, then the newest row
        crop, mask_path = _region_of(regions.get(rec.id), project_root, (rec.width, rec.height))
        items.append(
            ExportItem(
                image_id=rec.id,
                source_path=resolve_image_path(project_root, rec.file_path),
                file_name=rec.file_name,
                width=rec.width,
                height=rec.height,
                format=rec.format,
                has_alpha=rec.has_alpha,
                exif_orientation=rec.exif_orientation,
                original_path=rec.original_path,
                tags=tuple(tags[rec.id]),
                captions=tuple(captions[rec.id]),
                rating=rating or None,
                scores=tuple(scores[rec.id]),
                crop=crop,
                mask_path=mask_path,
            )
        )
    return LoadedSelection(items=tuple(items), excluded_count=excluded)


def _region_of(
    region: ImageRegionRecord | None, project_root: Path, size: tuple[int, int]
) -> tuple[tuple[int, int, int, int] | None, Path | None]:
    """The crop (clamped to the image, so a stale row can never crop outside it) and the mask file of an image."""
    if region is None:
        return None, None
    crop = None
    if region.crop_left is not None and region.crop_top is not None and region.crop_width and region.crop_height:
        left, top = max(0, region.crop_left), max(0, region.crop_top)
        right = min(size[0], region.crop_left + region.crop_width)
        bottom = min(size[1], region.crop_top + region.crop_height)
        if right > left and bottom > top and (left, top, right, bottom) != (0, 0, size[0], size[1]):
            crop = (left, top, right - left, bottom - top)
    mask = project_root / region.mask_file if region.mask_file else None
    return crop, mask if mask is not None and mask.is_file() else None
