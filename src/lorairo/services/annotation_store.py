"""Writing annotation results into a project database, and re-thresholding stored probabilities.

Rules that keep a user's work safe:
- A model's rows (tags, caption, scores, rating with `source="model"` and its model_id) are replaced only by a
  newer run of the same model; manual and sidecar rows are never touched.
- A model tag the user rejected (`is_rejected=True`) stays rejected when the model says it again.
- Every result keeps its raw output (all candidates with probabilities, rating probabilities, scores) in
  `annotations.raw_json`, so thresholds can change later without re-running the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lorairo.annotations.ai_annotator import AnnotatorModel, ModelOutput, TagOutput
from lorairo.database.db_repository import ModelRepository
from lorairo.database.schema import (
    SOURCE_MODEL,
    AnnotationFailure,
    AnnotationRecord,
    CaptionRecord,
    QualityScoreRecord,
    RatingRecord,
    TagRecord,
)

TagNormalizer = Callable[[str], str]
RATING_CATEGORY = "rating"


@dataclass(frozen=True)
class Thresholds:
    """Which stored candidates become tags: per-category thresholds (others use `general`)."""

    general: float = 0.35
    character: float = 0.85

    def keep(self, tag: TagOutput) -> bool:
        if tag.category == RATING_CATEGORY:
            return False  # ratings live in their own table
        if tag.confidence is None:
            return True
        limit = self.character if tag.category == "character" else self.general
        return tag.confidence >= limit


def _model_id(session: Session, model: AnnotatorModel | None, name: str) -> int:
    repo = ModelRepository(session)
    if model is None:
        return repo.get_or_create(name, provider="local", kind="unknown").id
    return repo.get_or_create(name, provider=model.provider_name, kind=model.kind, framework=model.framework).id


def _rejected(session: Session, image_id: int, model_id: int) -> set[str]:
    rows = session.scalars(
        select(TagRecord.tag).where(
            TagRecord.image_id == image_id, TagRecord.model_id == model_id, TagRecord.is_rejected.is_(True)
        )
    )
    return set(rows)


def _replace_model_tags(
    session: Session,
    image_id: int,
    model_id: int,
    annotation_id: int,
    tags: Iterable[TagOutput],
    normalize: TagNormalizer,
) -> list[str]:
    rejected = _rejected(session, image_id, model_id)
    session.execute(
        delete(TagRecord).where(
            TagRecord.image_id == image_id, TagRecord.model_id == model_id, TagRecord.source == SOURCE_MODEL
        )
    )
    kept: dict[str, TagOutput] = {}
    for tag in tags:
        if tag.category == RATING_CATEGORY:
            continue  # ratings live in their own table
        name = normalize(tag.name)
        if name and (name not in kept or (tag.confidence or 0) > (kept[name].confidence or 0)):
            kept[name] = tag
    for name, tag in kept.items():
        session.add(
            TagRecord(
                image_id=image_id,
                tag=name,
                category=tag.category,
                source=SOURCE_MODEL,
                model_id=model_id,
                annotation_id=annotation_id,
                confidence=tag.confidence,
                is_rejected=name in rejected,
            )
        )
    return list(kept)


def _raw_json(output: ModelOutput) -> str:
    return json.dumps(
        {
            "candidates": [[t.name, t.category, t.confidence] for t in output.candidates],
            "rating": {"label": output.rating_label, "probabilities": output.rating_probabilities},
            "scores": {s.name: [s.value, s.scale_min, s.scale_max] for s in output.scores},
            "raw": output.raw,
        },
        ensure_ascii=False,
        default=str,
    )


def store_output(
    session: Session,
    image_id: int,
    output: ModelOutput,
    model: AnnotatorModel | None,
    normalize: TagNormalizer,
) -> None:
    """Store one model's result for one image (success: data rows; failure: an annotation_failures row)."""
    model_id = _model_id(session, model, output.model_name)
    provider = model.provider_name if model else "local"
    if not output.ok:
        session.add(
            AnnotationFailure(
                image_id=image_id,
                model_name=output.model_name,
                provider=provider,
                failure_reason=output.error_code or "unknown",
                error_message=output.error_message,
                is_policy_violation=output.is_policy_violation,
            )
        )
        return
    confidences = [t.confidence for t in output.tags if t.confidence is not None]
    annotation = AnnotationRecord(
        image_id=image_id,
        model_id=model_id,
        provider=provider,
        model=output.model_name,
        caption=output.caption,
        confidence=max(confidences) if confidences else None,
        processing_time=output.processing_time,
        framework=output.framework,
        device=output.device,
        raw_json=_raw_json(output),
    )
    session.add(annotation)
    session.flush()
    names = _replace_model_tags(session, image_id, model_id, annotation.id, output.tags, normalize)
    annotation.tags = json.dumps(names, ensure_ascii=False)
    for table in (CaptionRecord, QualityScoreRecord, RatingRecord):
        session.execute(
            delete(table).where(table.image_id == image_id, table.model_id == model_id, table.source == SOURCE_MODEL)
        )
    if output.caption:
        session.add(
            CaptionRecord(
                image_id=image_id,
                text=output.caption,
                source=SOURCE_MODEL,
                model_id=model_id,
                annotation_id=annotation.id,
            )
        )
    for score in output.scores:
        session.add(
            QualityScoreRecord(
                image_id=image_id,
                score_name=score.name,
                value=score.value,
                scale_min=score.scale_min,
                scale_max=score.scale_max,
                scoring_model=output.model_name,
                source=SOURCE_MODEL,
                model_id=model_id,
                annotation_id=annotation.id,
            )
        )
    if output.rating_label:
        session.add(
            RatingRecord(
                image_id=image_id,
                label=output.rating_label,
                probabilities_json=json.dumps(output.rating_probabilities),
                source=SOURCE_MODEL,
                model_id=model_id,
                annotation_id=annotation.id,
            )
        )
    # A success supersedes earlier failures of this model on this image.
    session.execute(
        delete(AnnotationFailure).where(
            AnnotationFailure.image_id == image_id, AnnotationFailure.model_name == output.model_name
        )
    )


def rethreshold(
    session: Session,
    model_name: str,
    thresholds: Thresholds,
    normalize: TagNormalizer,
    image_ids: Iterable[int] | None = None,
) -> int:
    """Re-select a model's tags from its latest stored candidates; returns how many images changed.

    No model runs: the probabilities recorded at annotation time are reused.
    """
    stmt = select(AnnotationRecord).where(AnnotationRecord.model == model_name).order_by(AnnotationRecord.id)
    if image_ids is not None:
        stmt = stmt.where(AnnotationRecord.image_id.in_(list(image_ids)))
    latest: dict[int, AnnotationRecord] = {}
    for record in session.scalars(stmt):
        latest[record.image_id] = record  # ordered by id: the last one wins
    changed = 0
    for image_id, record in latest.items():
        raw = json.loads(record.raw_json or "{}")
        candidates = [TagOutput(n, c, p) for n, c, p in raw.get("candidates", [])]
        before = set(
            session.scalars(
                select(TagRecord.tag).where(
                    TagRecord.image_id == image_id,
                    TagRecord.model_id == record.model_id,
                    TagRecord.source == SOURCE_MODEL,
                )
            )
        )
        kept = [t for t in candidates if thresholds.keep(t)]
        names = _replace_model_tags(session, image_id, record.model_id, record.id, kept, normalize)
        record.tags = json.dumps(names, ensure_ascii=False)
        changed += set(names) != before
    return changed
