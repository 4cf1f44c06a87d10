"""What the details panel shows about one image (tags with provenance, captions, scores, ratings, failures) and
the tag counts over a selection: frozen snapshots read in one session, safe to hand between threads. Qt-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lorairo.database.chunks import chunked
from lorairo.database.schema import (
    SOURCE_MANUAL,
    AnnotationFailure,
    CaptionRecord,
    ImageRecord,
    ModelRecord,
    QualityScoreRecord,
    RatingRecord,
    TagRecord,
)
from lorairo.database.tag_repository import MANUAL_SCORE_NAME


@dataclass(frozen=True)
class TagInfo:
    """One active tag of an image with its provenance (`model` is the model name for model tags)."""

    tag_id: int
    tag: str
    category: str | None
    source: str
    model: str | None
    confidence: float | None
    position: int | None = None  # the user's place of the tag in the caption (None: not placed)

    @property
    def provenance(self) -> str:
        return self.model or self.source


@dataclass(frozen=True)
class CaptionInfo:
    text: str
    source: str
    model: str | None


@dataclass(frozen=True)
class ScoreInfo:
    name: str
    value: float
    scale_min: float
    scale_max: float
    source: str
    model: str | None


@dataclass(frozen=True)
class RatingInfo:
    label: str
    source: str
    model: str | None


@dataclass(frozen=True)
class FailureInfo:
    model: str
    provider: str
    reason: str
    message: str | None
    failed_at: datetime
    policy_violation: bool


@dataclass(frozen=True)
class ImageDetails:
    """Everything the details panel shows about one image (a snapshot; safe to hand between threads)."""

    image_id: int
    file_name: str
    path: Path  # absolute path of the file LoRAIro reads
    original_path: str
    stored_in_project: bool
    file_size: int
    width: int
    height: int
    format: str
    mode: str
    has_alpha: bool
    exif_orientation: int
    hash_value: str
    phash: str
    excluded: bool
    manual_rating: str | None
    imported_at: datetime
    other_paths: tuple[str, ...]
    tags: tuple[TagInfo, ...]
    rejected_tags: tuple[TagInfo, ...]
    captions: tuple[CaptionInfo, ...]
    scores: tuple[ScoreInfo, ...]
    ratings: tuple[RatingInfo, ...]
    failures: tuple[FailureInfo, ...]

    @property
    def manual_caption(self) -> str | None:
        return next((c.text for c in self.captions if c.source == SOURCE_MANUAL), None)

    @property
    def manual_score(self) -> float | None:
        return next((s.value for s in self.scores if s.source == SOURCE_MANUAL and s.name == MANUAL_SCORE_NAME), None)


@dataclass(frozen=True)
class TagCount:
    """A tag over a selection: how many of the selected images carry it."""

    tag: str
    category: str | None
    count: int


def load_details(session: Session, root: Path, image_id: int) -> ImageDetails | None:
    image = session.get(ImageRecord, image_id)
    if image is None:
        return None
    models: dict[int, str] = {int(i): str(n) for i, n in session.execute(select(ModelRecord.id, ModelRecord.name))}
    tag_rows = session.scalars(select(TagRecord).where(TagRecord.image_id == image_id).order_by(TagRecord.id))
    tags = [
        (
            r.is_rejected,
            TagInfo(r.id, r.tag, r.category, r.source, models.get(r.model_id or -1), r.confidence, r.position),
        )
        for r in tag_rows
    ]
    # In id order: manual captions are kept in the user's order by their ids (see SetManualCaptionLists).
    captions = session.scalars(
        select(CaptionRecord).where(CaptionRecord.image_id == image_id).order_by(CaptionRecord.id)
    )
    scores = session.scalars(select(QualityScoreRecord).where(QualityScoreRecord.image_id == image_id))
    ratings = session.scalars(select(RatingRecord).where(RatingRecord.image_id == image_id))
    failures = session.scalars(
        select(AnnotationFailure).where(AnnotationFailure.image_id == image_id).order_by(AnnotationFailure.id)
    )
    path = Path(image.file_path)
    return ImageDetails(
        image_id=image.id,
        file_name=image.file_name,
        path=path if path.is_absolute() else root / path,
        original_path=image.original_path,
        stored_in_project=image.stored_in_project,
        file_size=image.file_size,
        width=image.width,
        height=image.height,
        format=image.format,
        mode=image.mode,
        has_alpha=image.has_alpha,
        exif_orientation=image.exif_orientation,
        hash_value=image.hash_value,
        phash=image.phash,
        excluded=image.excluded,
        manual_rating=image.manual_rating,
        imported_at=image.created_at,
        other_paths=tuple(s.source_path for s in image.sources if s.source_path != image.original_path),
        tags=tuple(info for rejected, info in tags if not rejected),
        rejected_tags=tuple(info for rejected, info in tags if rejected),
        # Manual first: it is the caption export uses.
        captions=tuple(
            sorted(
                (CaptionInfo(c.text, c.source, models.get(c.model_id or -1)) for c in captions),
                key=lambda c: c.source != SOURCE_MANUAL,
            )
        ),
        scores=tuple(
            ScoreInfo(s.score_name, s.value, s.scale_min, s.scale_max, s.source, models.get(s.model_id or -1))
            for s in scores
        ),
        ratings=tuple(RatingInfo(r.label, r.source, models.get(r.model_id or -1)) for r in ratings),
        failures=tuple(
            FailureInfo(f.model_name, f.provider, f.failure_reason, f.error_message, f.failed_at, f.is_policy_violation)
            for f in failures
        ),
    )


def load_tag_counts(session: Session, image_ids: Sequence[int]) -> list[TagCount]:
    found: dict[str, TagCount] = {}
    for chunk in chunked(image_ids):  # chunks are disjoint image sets, so counts add up
        rows = session.execute(
            select(TagRecord.tag, func.max(TagRecord.category), func.count(func.distinct(TagRecord.image_id)))
            .where(TagRecord.image_id.in_(chunk), TagRecord.is_rejected.is_(False))
            .group_by(TagRecord.tag)
        )
        for tag, category, count in rows:
            old = found.get(tag)
            found[tag] = TagCount(tag, (old.category if old else None) or category, (old.count if old else 0) + count)
    return sorted(found.values(), key=lambda t: (-t.count, t.tag))
