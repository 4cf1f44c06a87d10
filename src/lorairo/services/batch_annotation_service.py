"""Cloud Batch API jobs from a project: submit, watch, fetch and import (OpenAI Batch, Anthropic Message Batches).

A job is stored in the project's `batch_jobs` table with the mapping from each request's `custom_id` (the
image's pHash) to the image id, so results come back to the right images even for files imported later.
Result files are downloaded into `directories.batch_results_dir`.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from loguru import logger
from sqlalchemy import select
from sqlalchemy.orm import Session

from lorairo.annotations import ai_annotator
from lorairo.annotations.ai_annotator import ModelOutput
from lorairo.database.chunks import chunked
from lorairo.database.schema import BatchJobRecord, ImageRecord, utcnow
from lorairo.exceptions import AIProviderError
from lorairo.services.annotation_service import AnnotationService, load_image, result_keys
from lorairo.services.changes import Changes
from lorairo.storage.layout import image_path
from lorairo.storage.lock import ProjectLock


@dataclass(frozen=True)
class BatchJobInfo:
    id: int
    remote_id: str
    provider: str
    model_name: str
    status: str
    n_requests: int
    submitted_at: datetime
    imported_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "expired", "cancelled")


@dataclass(frozen=True)
class BatchImportSummary:
    images: int
    annotated: int
    failed: int
    unmatched_keys: int
    # What the import changed, for the GUI's one broadcast (not part of the CLI's JSON: see `as_dict`).
    changes: Changes = field(default_factory=Changes, compare=False)

    def as_dict(self) -> dict[str, int]:
        return {
            "images": self.images,
            "annotated": self.annotated,
            "failed": self.failed,
            "unmatched_keys": self.unmatched_keys,
        }


def _info(record: BatchJobRecord) -> BatchJobInfo:
    return BatchJobInfo(
        record.id,
        record.remote_id,
        record.provider,
        record.model_name,
        record.status,
        record.n_requests,
        record.submitted_at,
        record.imported_at,
    )


class BatchAnnotationService:
    """Batch jobs of one project. Network calls happen only in these methods (run them in a worker)."""

    def __init__(self, annotations: AnnotationService) -> None:
        self.annotations = annotations
        self.config = annotations.config
        self.project = annotations.project

    @property
    def results_dir(self) -> Path:
        folder = self.config.batch_results_dir()
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def submit(self, image_ids: list[int], model_name: str) -> BatchJobInfo:
        model = self.annotations.model(model_name)
        if model is None or not model.is_cloud:
            raise AIProviderError(f"{model_name}: only cloud models of OpenAI or Anthropic can run as a batch")
        with self.project.db.session() as session:
            rows = session.execute(
                select(ImageRecord.id, ImageRecord.file_path, ImageRecord.phash).where(ImageRecord.id.in_(image_ids))
            ).all()
        if not rows:
            raise AIProviderError("no images to send")
        keys = result_keys([(r.id, r.phash) for r in rows])
        with ThreadPoolExecutor(max_workers=self.config.max_workers()) as pool:
            images = list(pool.map(lambda r: load_image(image_path(self.project, r.file_path)), rows))
        try:
            job = ai_annotator.submit_batch_job(model_name, images, keys, self.results_dir, self.config.api_keys())
        finally:
            for image in images:
                image.close()
        mapping = {key: row.id for key, row in zip(keys, rows, strict=True)}
        with self.project.db.session(write=True) as session:
            record = BatchJobRecord(
                remote_id=job["id"],
                provider=job["provider"],
                model_name=model_name,
                status=job["status"],
                n_requests=int(job.get("n_requests") or len(rows)),
                image_ids_json=json.dumps(mapping),
                job_json=json.dumps(job),
            )
            session.add(record)
            session.flush()
            info = _info(record)
        logger.info("submitted batch {} ({} requests) for {}", info.remote_id, info.n_requests, model_name)
        return info

    def jobs(self) -> list[BatchJobInfo]:
        with self.project.db.session() as session:
            return [_info(r) for r in session.scalars(select(BatchJobRecord).order_by(BatchJobRecord.id.desc()))]

    def _record(self, session: Session, job_id: int | str) -> BatchJobRecord:
        column = BatchJobRecord.id if isinstance(job_id, int) else BatchJobRecord.remote_id
        record = session.scalar(select(BatchJobRecord).where(column == job_id))
        if record is None:
            raise AIProviderError(f"no batch job {job_id} in project '{self.project.name}'")
        return record

    def refresh(self, job_id: int | str) -> BatchJobInfo:
        """Ask the provider for the job's status and store it."""
        with self.project.db.session() as session:
            job = json.loads(self._record(session, job_id).job_json)
        updated = ai_annotator.refresh_batch_job(job, self.config.api_keys(), self.results_dir)
        with self.project.db.session(write=True) as session:
            record = self._record(session, job_id)
            record.status = updated["status"]
            record.job_json = json.dumps(updated)
            return _info(record)

    def import_results(self, job_id: int | str) -> BatchImportSummary:
        """Download a finished job's results into batch_results_dir and store them in the project."""
        with self.project.db.session() as session:
            record = self._record(session, job_id)
            job, mapping = json.loads(record.job_json), json.loads(record.image_ids_json)
        results = ai_annotator.fetch_batch_job(job, self.results_dir, self.config.api_keys())
        with ProjectLock(self.project.root, "batch import"):  # not beside an import or an annotation run
            summary = self._store({k: list(v.values()) for k, v in results.items()}, mapping)
            with self.project.db.session(write=True) as session:
                rec = self._record(session, job_id)
                rec.imported_at = utcnow()
                rec.status = "completed" if rec.status == "in_progress" else rec.status
        return summary

    def import_results_file(self, path: Path, *, model_name: str | None = None) -> BatchImportSummary:
        """Import a result JSONL already on disk: custom_id -> image through a known job or the pHash."""
        results = ai_annotator.parse_batch_results_file(path, model_name=model_name)
        mapping: dict[str, int] = {}
        with self.project.db.session() as session:
            for record in session.scalars(select(BatchJobRecord)):
                mapping.update(json.loads(record.image_ids_json))
            unknown = [k.split("-")[0] for k in results if k not in mapping]
            for chunk in chunked(unknown):
                for image_id, phash in session.execute(
                    select(ImageRecord.id, ImageRecord.phash).where(ImageRecord.phash.in_(chunk))
                ):
                    mapping.setdefault(phash, image_id)
        with ProjectLock(self.project.root, "batch import"):
            return self._store({k: list(v.values()) for k, v in results.items()}, mapping)

    def _store(self, results: dict[str, list[ModelOutput]], mapping: dict[str, int]) -> BatchImportSummary:
        outputs: dict[int, list[ModelOutput]] = {}
        unmatched = 0
        for key, per_model in results.items():
            image_id = mapping.get(key) or mapping.get(key.split("-")[0])
            if image_id is None:
                unmatched += 1
                continue
            outputs[image_id] = per_model
        changes = self.annotations.store_outputs(outputs)
        flat = [o for per in outputs.values() for o in per]
        if unmatched:
            logger.warning("{} batch results matched no image of project '{}'", unmatched, self.project.name)
        return BatchImportSummary(
            len(changes.image_ids), sum(o.ok for o in flat), sum(not o.ok for o in flat), unmatched, changes
        )
