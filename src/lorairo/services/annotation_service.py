"""AnnotationService: run chosen models over chosen images and store every result with provenance.

The seed's flow: AnnotationService -> AnnotationWorker (gui) -> ai_annotator.py -> image-annotator-lib.
Images are processed in batches (`annotation.batch_size`, 100 by default); each image is decoded once per
batch and handed to every model. Results are committed per batch, so a crash or a cancel loses at most the
batch in flight, and a re-run annotates only what is left (an image counts as done for a model once an
`annotations` row exists for the pair). Thread-safety: call from one worker thread at a time.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from lorairo.annotations import ai_annotator
from lorairo.annotations.ai_annotator import AnnotatorModel, ModelEstimate, ModelOutput
from lorairo.database.chunks import chunked
from lorairo.database.schema import SOURCE_MODEL, AnnotationFailure, AnnotationRecord, ImageRecord, TagRecord
from lorairo.exceptions import AIProviderError
from lorairo.services.annotation_store import Thresholds, rethreshold, store_output
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.embeddings.compute import store_embeddings
from lorairo.services.project_service import Project
from lorairo.services.tag_cleaning import TagCleaner, display_form
from lorairo.storage.layout import image_path
from lorairo.storage.lock import ProjectLock

ProgressCallback = Callable[[int, int, str], None]
BatchCallback = Callable[[list[int]], None]
CANCELLED = "cancelled"
DEFAULT_LOCAL_SECONDS = 0.25  # per image and model, until this project has measured the model


def configure_annotator_library(config: ConfigurationService) -> None:
    """Hand the app's provider settings and the user's model files to the library (call once per change)."""
    providers = {p: config.as_dict(masked=False)["ai_providers"][p] for p in ("openai", "anthropic", "google")}
    user_dir = config.config_path.parent
    ai_annotator.configure(providers, [user_dir / "annotator_config.toml", user_dir / "available_api_models.toml"])


@dataclass(frozen=True)
class AnnotationPlan:
    """What a run would do, computed before it starts (the UI shows it and asks about policy violations)."""

    pending: dict[str, list[int]]  # model -> image ids still to annotate
    already_done: dict[str, int]  # model -> images skipped because they are annotated (unless rerun)
    policy_violations: dict[str, list[int]]  # model -> image ids with a past policy violation for that model

    @property
    def total_pairs(self) -> int:
        return sum(len(ids) for ids in self.pending.values())


@dataclass(frozen=True)
class AnnotationRunSummary:
    models: tuple[str, ...]
    annotated: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    policy_violations: dict[str, int] = field(default_factory=dict)
    skipped_done: dict[str, int] = field(default_factory=dict)
    skipped_policy: dict[str, int] = field(default_factory=dict)
    failure_reasons: dict[str, int] = field(default_factory=dict)
    cancelled: bool = False
    elapsed: float = 0.0
    images: int = 0

    @property
    def images_per_second(self) -> float:
        return self.images / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class _Tally:
    annotated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    policy: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    images: set[int] = field(default_factory=set)


def result_keys(images: Sequence[tuple[int, str]]) -> list[str]:
    """The key of each (image id, pHash) for the library: the pHash, made unique within one call
    (`<phash>-<id>`: Batch APIs allow only [A-Za-z0-9_-] in custom_id) when two images share it."""
    keys: list[str] = []
    seen: set[str] = set()
    for image_id, phash in images:
        key = phash if phash not in seen else f"{phash}-{image_id}"
        seen.add(key)
        keys.append(key)
    return keys


def load_image(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()  # decode once here, in parallel; every model reuses the decoded pixels
    return image


class AnnotationService:
    """Annotation of one open project."""

    def __init__(self, config: ConfigurationService, project: Project, *, cleaner: TagCleaner | None = None) -> None:
        self.config = config
        self.project = project
        self.cleaner = cleaner or TagCleaner(use_database=bool(config.get("annotation.clean_tags")))
        self._models: dict[str, AnnotatorModel] | None = None

    # --- models ----------------------------------------------------------------------------------------

    def models(self, *, refresh: bool = False) -> list[AnnotatorModel]:
        if self._models is None or refresh:
            configure_annotator_library(self.config)
            listed = ai_annotator.get_available_annotator_models(self.config.api_keys())
            self._models = {m.name: m for m in listed}
        return list(self._models.values())

    def model(self, name: str) -> AnnotatorModel | None:
        if self._models is None:
            self.models()
        assert self._models is not None
        return self._models.get(name)

    # --- planning --------------------------------------------------------------------------------------

    def _matching(self, image_ids: Sequence[int], column: Any, *conditions: Any) -> set[int]:
        """Which of `image_ids` have a row where `column` is the image id and `conditions` hold (chunked IN)."""
        found: set[int] = set()
        with self.project.db.session() as session:
            for chunk in chunked(image_ids):
                found.update(session.scalars(select(column).where(column.in_(chunk), *conditions)))
        return found

    def check_policy_violations(self, image_ids: Sequence[int], model_name: str) -> list[int]:
        """Images among `image_ids` that this model refused before (the seed's check_policy_violations)."""
        return sorted(
            self._matching(
                image_ids,
                AnnotationFailure.image_id,
                AnnotationFailure.model_name == model_name,
                AnnotationFailure.is_policy_violation.is_(True),
            )
        )

    def annotated_ids(self, image_ids: Sequence[int], model_name: str) -> set[int]:
        """Images among `image_ids` this model has annotated (done for a re-run without --rerun)."""
        return self._matching(image_ids, AnnotationRecord.image_id, AnnotationRecord.model == model_name)

    def plan(self, image_ids: Sequence[int], model_names: Sequence[str], *, rerun: bool = False) -> AnnotationPlan:
        pending: dict[str, list[int]] = {}
        done_counts: dict[str, int] = {}
        violations: dict[str, list[int]] = {}
        for name in dict.fromkeys(model_names):
            done = set() if rerun else self.annotated_ids(image_ids, name)
            pending[name] = [i for i in image_ids if i not in done]
            done_counts[name] = len(image_ids) - len(pending[name])
            flagged = self.check_policy_violations(pending[name], name)
            if flagged:
                violations[name] = flagged
        return AnnotationPlan(pending, done_counts, violations)

    def estimate(
        self, image_ids: Sequence[int], model_names: Sequence[str], plan: AnnotationPlan | None = None
    ) -> list[ModelEstimate]:
        """Seconds (and USD for priced cloud models) per model: cloud from the library, local from this
        project's own measured processing times. Pass the `plan` when the caller has one already."""
        plan = plan or self.plan(image_ids, model_names)
        cloud = [n for n in model_names if (m := self.model(n)) is not None and m.is_cloud and plan.pending[n]]
        estimates = {e.model_name: e for n in cloud for e in ai_annotator.estimate_cloud([n], len(plan.pending[n]))}
        result: list[ModelEstimate] = []
        for name in model_names:
            if name in estimates:
                result.append(estimates[name])
                continue
            per_image = self._measured_seconds(name) or DEFAULT_LOCAL_SECONDS
            result.append(ModelEstimate(name, per_image * len(plan.pending.get(name, [])), None))
        return result

    def _measured_seconds(self, model_name: str) -> float | None:
        from sqlalchemy import func

        with self.project.db.session() as session:
            value = session.scalar(
                select(func.avg(AnnotationRecord.processing_time)).where(AnnotationRecord.model == model_name)
            )
        return float(value) if value else None

    # --- running ---------------------------------------------------------------------------------------

    def run(
        self,
        image_ids: Sequence[int],
        model_names: Sequence[str],
        *,
        rerun: bool = False,
        resend_policy_violations: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        on_batch: BatchCallback | None = None,
    ) -> AnnotationRunSummary:
        """Annotate; returns counts per model. Never raises for a per-image or per-model failure.

        Raises:
            ProjectBusyError: another writer operation (an import, another annotation) holds the project.
        """
        with ProjectLock(self.project.root, "annotate"):  # two runs would store and pay for everything twice
            return self._run_locked(
                image_ids, model_names, rerun=rerun, resend_policy_violations=resend_policy_violations,
                progress=progress, cancel=cancel, on_batch=on_batch,
            )  # fmt: skip

    def _run_locked(
        self,
        image_ids: Sequence[int],
        model_names: Sequence[str],
        *,
        rerun: bool,
        resend_policy_violations: bool,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        on_batch: BatchCallback | None,
    ) -> AnnotationRunSummary:
        started = time.perf_counter()
        models = list(dict.fromkeys(model_names))
        plan = self.plan(image_ids, models, rerun=rerun)
        skipped_policy: dict[str, int] = {}
        work: dict[int, list[str]] = defaultdict(list)
        for name in models:
            flagged = set() if resend_policy_violations else set(plan.policy_violations.get(name, []))
            skipped_policy[name] = len(flagged)
            for image_id in plan.pending[name]:
                if image_id not in flagged:
                    work[image_id].append(name)
        ordered = [i for i in dict.fromkeys(image_ids) if i in work]
        total = sum(len(work[i]) for i in ordered)
        tally = _Tally()
        done = 0
        batch_size = int(self.config.get("annotation.batch_size"))
        api_keys = self.config.api_keys()
        cancelled = False
        logger.info("annotating {} images with {} ({} image-model pairs)", len(ordered), models, total)
        with ThreadPoolExecutor(max_workers=self.config.max_workers(), thread_name_prefix="decode") as pool:
            for batch in chunked(ordered, batch_size):
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                outputs = self._run_batch(batch, work, api_keys, pool, done, total, progress, cancel)
                stored = self.store_outputs(outputs, tally)
                done += sum(len(work[i]) for i in batch)
                if progress:
                    progress(min(done, total), total, f"{len(tally.images)} images annotated")
                if on_batch and stored:
                    on_batch(stored)
                if any(o.error_code == CANCELLED for per in outputs.values() for o in per):
                    cancelled = True
                    break
        return AnnotationRunSummary(
            models=tuple(models),
            annotated=dict(tally.annotated),
            failed=dict(tally.failed),
            policy_violations=dict(tally.policy),
            skipped_done=dict(plan.already_done),
            skipped_policy=skipped_policy,
            failure_reasons=dict(tally.reasons),
            cancelled=cancelled,
            elapsed=time.perf_counter() - started,
            images=len(tally.images),
        )

    def _run_batch(
        self,
        batch: Sequence[int],
        work: dict[int, list[str]],
        api_keys: dict[str, str],
        pool: ThreadPoolExecutor,
        base: int,
        total: int,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> dict[int, list[ModelOutput]]:
        with self.project.db.session() as session:
            rows = {
                r.id: (r.file_path, r.phash, r.file_name)
                for r in session.execute(
                    select(ImageRecord.id, ImageRecord.file_path, ImageRecord.phash, ImageRecord.file_name).where(
                        ImageRecord.id.in_(batch)
                    )
                )
            }
            wants_context = any((m := self.model(n)) is not None and m.is_cloud for i in batch for n in work[i])
            existing = self._user_tags(session, batch) if wants_context else {}
        outputs: dict[int, list[ModelOutput]] = defaultdict(list)
        futures = {i: pool.submit(load_image, image_path(self.project, rows[i][0])) for i in batch if i in rows}
        images: dict[int, Image.Image] = {}
        for image_id, future in futures.items():
            try:
                images[image_id] = future.result()
            except Exception as exc:  # missing or unreadable file: a failure for each model, the rest goes on
                message = f"{rows[image_id][0]}: cannot read image ({exc})"
                outputs[image_id] = [
                    ModelOutput(m, error_code="invalid_image", error_message=message) for m in work[image_id]
                ]
        if wants_context:  # cloud prompts may use {file_name} and {existing_tags}
            for image_id, image in images.items():
                ai_annotator.set_prompt_context(
                    image, file_name=rows[image_id][2], existing_tags=existing.get(image_id, [])
                )
        # Images that need the same models go to the library together.
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for image_id in images:
            groups[tuple(work[image_id])].append(image_id)
        offset = base
        try:
            for model_names, ids in groups.items():
                keys = result_keys([(i, rows[i][1]) for i in ids])

                def relay(done: int, _total: int, message: str, offset: int = offset) -> None:
                    if progress:
                        progress(min(offset + done, total), total, message)

                results = ai_annotator.call_annotate_library(
                    [images[i] for i in ids], list(model_names), keys, api_keys=api_keys, progress=relay, cancel=cancel
                )
                for image_id, key in zip(ids, keys, strict=True):
                    outputs[image_id] = [results[key][m] for m in model_names if m in results.get(key, {})]
                offset += len(ids) * len(model_names)
        finally:
            for image in images.values():
                image.close()
        return outputs

    @staticmethod
    def _user_tags(session: Session, image_ids: Sequence[int]) -> dict[int, list[str]]:
        """Manual and sidecar tags (not rejected) of each image: the user's own words for cloud prompts."""
        found: dict[int, list[str]] = defaultdict(list)
        rows = session.execute(
            select(TagRecord.image_id, TagRecord.tag).where(
                TagRecord.image_id.in_(image_ids), TagRecord.source != SOURCE_MODEL, TagRecord.is_rejected.is_(False)
            )
        )
        for image_id, tag in rows:
            found[image_id].append(tag)
        return found

    def store_outputs(self, outputs: dict[int, list[ModelOutput]], tally: _Tally | None = None) -> list[int]:
        """Store results already computed (live runs and Batch API imports); returns the image ids written."""
        tally = tally if tally is not None else _Tally()
        names = [t.name for per in outputs.values() for o in per for t in (*o.tags,)]
        cleaned = self.cleaner.clean_many(names)

        def normalize(name: str) -> str:
            return cleaned.get(name) or display_form(name)

        stored: list[int] = []
        with self.project.db.session(write=True) as session:
            for image_id, per_model in outputs.items():
                wrote = False
                for output in per_model:
                    if output.error_code == CANCELLED:
                        continue  # not recorded: a resumed run does it
                    store_output(session, image_id, output, self.model(output.model_name), normalize)
                    wrote = True
                    if output.ok:
                        tally.annotated[output.model_name] += 1
                        tally.images.add(image_id)
                    else:
                        tally.failed[output.model_name] += 1
                        tally.reasons[output.error_code or "unknown"] += 1
                        if output.is_policy_violation:
                            tally.policy[output.model_name] += 1
                if wrote:
                    stored.append(image_id)
        store_embeddings(self.project, outputs)  # embedding models and aesthetic scorers: vectors beside the DB
        return stored

    # --- re-thresholding -------------------------------------------------------------------------------

    def rethreshold(
        self,
        model_name: str,
        *,
        general: float | None = None,
        character: float | None = None,
        image_ids: Sequence[int] | None = None,
    ) -> int:
        """Re-select a tagger's tags from stored probabilities with new thresholds; no model runs."""
        thresholds = Thresholds(
            general=self.config.get("annotation.general_threshold") if general is None else general,
            character=self.config.get("annotation.character_threshold") if character is None else character,
        )
        with self.project.db.session(write=True) as session:
            return rethreshold(session, model_name, thresholds, display_form, image_ids)


def require_available(service: AnnotationService, model_names: Sequence[str]) -> None:
    """Refuse unknown model names up front (unavailable ones run and record why, per image)."""
    known = {m.name for m in service.models()}
    unknown = [n for n in model_names if n not in known]
    if unknown:
        raise AIProviderError(f"unknown model(s): {', '.join(unknown)}; see `lorairo models list`")
