"""AnnotationService: run chosen models over chosen images and store every result with provenance.

The seed's flow: AnnotationService -> AnnotationWorker (gui) -> ai_annotator.py -> image-annotator-lib.
Images are decoded in batches (`annotation.batch_size`, 100 by default); each image is decoded once per batch
and handed to every model. Results are stored as they become final (`annotation_writer`): a cloud answer the
moment it arrives, local results per model chunk. A crash, kill or cancel therefore loses no answer received,
and a re-run annotates only what is left (an image counts as done for a model once an `annotations` row
exists for the pair). Thread-safety: call from one worker thread at a time.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger
from PIL import Image
from sqlalchemy import select
from sqlalchemy import text as text_sql
from sqlalchemy.orm import Session

from lorairo.annotations import ai_annotator
from lorairo.annotations.ai_annotator import AnnotatorModel, ModelEstimate, ModelOutput
from lorairo.database.chunks import chunked
from lorairo.database.schema import SOURCE_MODEL, AnnotationFailure, AnnotationRecord, ImageRecord, TagRecord
from lorairo.exceptions import AIProviderError
from lorairo.services.annotation_store import Thresholds, rethreshold, store_output
from lorairo.services.annotation_writer import ResultWriter, Tally
from lorairo.services.changes import Changes
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.embeddings.compute import store_embeddings
from lorairo.services.id_text import parse_id_text, sorted_distinct
from lorairo.services.project_service import Project
from lorairo.services.tag_cleaning import TagCleaner, display_form
from lorairo.storage.layout import image_path
from lorairo.storage.lock import ProjectLock

if TYPE_CHECKING:
    import numpy as np

ProgressCallback = Callable[[int, int, str], None]
# Called with what each stored group of results changed (from the writer thread; keep it short).
BatchCallback = Callable[[Changes], None]
CANCELLED = "cancelled"
DEFAULT_LOCAL_SECONDS = 0.25  # per image and model, until this project has measured the model


def configure_annotator_library(config: ConfigurationService) -> None:
    """Hand the app's provider settings and the user's model files to the library (call once per change)."""
    table = config.as_dict(masked=False)["ai_providers"]
    providers = {p: table[p] for p in ("openai", "anthropic", "google")}
    limits = {k: int(table[k]) for k in ai_annotator.ANSWER_LIMIT_OPTIONS if table.get(k)}
    user_dir = config.config_path.parent
    ai_annotator.configure(
        providers, [user_dir / "annotator_config.toml", user_dir / "available_api_models.toml"], limits
    )


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
    # reason -> the first few distinct "model: message" lines (what the user reads to fix it)
    failure_messages: dict[str, list[str]] = field(default_factory=dict)
    cancelled: bool = False
    elapsed: float = 0.0
    images: int = 0

    @property
    def images_per_second(self) -> float:
        return self.images / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def failed_total(self) -> int:
        """Image-model pairs that got no annotation in this run (policy refusals included; deliberate skips of
        done or previously refused images are not failures)."""
        return sum(self.failed.values())


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

    @staticmethod
    def existing_ids(project: Project, image_ids: Sequence[int]) -> set[int]:
        """Which of `image_ids` are images of `project` (to refuse unknown --ids before anything runs)."""
        found: set[int] = set()
        with project.db.session() as session:
            for chunk in chunked(image_ids):
                found.update(session.scalars(select(ImageRecord.id).where(ImageRecord.id.in_(chunk))))
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

    def pending_counts(
        self, image_ids: np.ndarray, model_names: Sequence[str], *, rerun: bool = False
    ) -> dict[str, int]:
        """How many of `image_ids` (distinct, int64) each model would annotate: `plan`'s pending lengths without
        a Python int per image. The estimate runs after every selection change; over a 1M-image Ctrl+A, `plan`
        (the ids listed, chunked IN queries, a set per model) took 2.5 s of a worker's CPU in short GIL-holding
        steps and stalled the GUI thread 76-250 ms (docs/benchmarks.md, "Ctrl+A at 1M"). Here SQLite joins each
        model's annotated ids into one text and numpy parses and matches them (sorting releases the GIL)."""
        import numpy as np

        counts: dict[str, int] = {}
        total = len(image_ids)
        for name in dict.fromkeys(model_names):
            if rerun or not total:
                counts[name] = total
                continue
            with self.project.db.session() as session:
                text = session.execute(
                    text_sql("SELECT group_concat(image_id) FROM annotations WHERE model = :m"), {"m": name}
                ).scalar()
            done = sorted_distinct(parse_id_text(text))
            counts[name] = total - int(np.count_nonzero(np.isin(image_ids, done)))
        return counts

    def estimate(
        self, image_ids: Sequence[int], model_names: Sequence[str], plan: AnnotationPlan | None = None
    ) -> list[ModelEstimate]:
        """Seconds (and USD for priced cloud models) per model: cloud from the library, local from this
        project's own measured processing times. Pass the `plan` when the caller has one already."""
        plan = plan or self.plan(image_ids, model_names)
        return self.estimate_counts({name: len(ids) for name, ids in plan.pending.items()}, model_names)

    def estimate_counts(self, pending: dict[str, int], model_names: Sequence[str]) -> list[ModelEstimate]:
        """`estimate` from each model's number of images to annotate (`pending_counts` or a plan's)."""
        cloud = [n for n in model_names if (m := self.model(n)) is not None and m.is_cloud and pending.get(n)]
        estimates = {e.model_name: e for n in cloud for e in ai_annotator.estimate_cloud([n], pending[n])}
        result: list[ModelEstimate] = []
        for name in model_names:
            if name in estimates:
                result.append(estimates[name])
                continue
            per_image = self._measured_seconds(name) or DEFAULT_LOCAL_SECONDS
            result.append(ModelEstimate(name, per_image * pending.get(name, 0), None))
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

        Results are stored as they become final; `on_batch(changes)` is called (from the writer thread) with
        what each stored group changed. `cancel` stops the run after the requests already sent are answered.

        Raises:
            ProjectBusyError: another writer operation (an import, another annotation) holds the project.
        """
        with ProjectLock(self.project.root, "annotate"):  # two runs would store and pay for everything twice
            return self._annotate(image_ids, model_names, rerun, resend_policy_violations, progress, cancel, on_batch)

    def _annotate(
        self,
        image_ids: Sequence[int],
        model_names: Sequence[str],
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
        tally = Tally()
        done = 0
        batch_size = int(self.config.get("annotation.batch_size"))
        api_keys = self.config.api_keys()
        cancelled = False
        # Our own event too: an interrupt (Ctrl+C) must stop the library sending further paid requests.
        stop = cancel if cancel is not None else threading.Event()
        logger.info("annotating {} images with {} ({} image-model pairs)", len(ordered), models, total)
        writer = ResultWriter(self.store_outputs, tally, on_batch)
        try:
            with ThreadPoolExecutor(max_workers=self.config.max_workers(), thread_name_prefix="decode") as pool:
                for batch in chunked(ordered, batch_size):
                    if stop.is_set():
                        cancelled = True
                        break
                    was_cancelled = self._run_batch(batch, work, api_keys, pool, done, total, progress, stop, writer)
                    writer.flush()  # this batch is in the database before progress says so
                    done += sum(len(work[i]) for i in batch)
                    if progress:
                        progress(min(done, total), total, f"{len(tally.images)} images annotated")
                    if was_cancelled:
                        cancelled = True
                        break
        except BaseException:
            stop.set()
            raise
        finally:
            writer.close()  # everything received is stored, also when interrupted
        return run_summary(models, plan, tally, skipped_policy=skipped_policy, cancelled=cancelled, started=started)

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
        writer: ResultWriter,
    ) -> bool:
        """Annotate one batch; every result goes to `writer` as soon as it is final. True when cancelled."""
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
        futures = {i: pool.submit(load_image, image_path(self.project, rows[i][0])) for i in batch if i in rows}
        images: dict[int, Image.Image] = {}
        for image_id, future in futures.items():
            try:
                images[image_id] = future.result()
            except Exception as exc:  # missing or unreadable file: a failure for each model, the rest goes on
                message = f"{rows[image_id][0]}: cannot read image ({exc})"
                for name in work[image_id]:
                    writer.put(image_id, ModelOutput(name, error_code="invalid_image", error_message=message))
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
        cancelled = False
        try:
            for model_names, ids in groups.items():
                keys = result_keys([(i, rows[i][1]) for i in ids])
                image_of = dict(zip(keys, ids, strict=True))
                handed: set[tuple[str, str]] = set()

                def relay(done: int, _total: int, message: str, offset: int = offset) -> None:
                    if progress:
                        progress(min(offset + done, total), total, message)

                def store(
                    key: str,
                    output: ModelOutput,
                    image_of: dict[str, int] = image_of,
                    handed: set[tuple[str, str]] = handed,
                ) -> None:
                    handed.add((key, output.model_name))
                    writer.put(image_of[key], output)

                call = partial(
                    ai_annotator.call_annotate_library,
                    [images[i] for i in ids],
                    list(model_names),
                    keys,
                    api_keys=api_keys,
                    progress=relay,
                    cancel=cancel,
                    on_result=store,
                )
                results = _finish_on_interrupt(call, cancel)
                for key, per_model in results.items():
                    for name, output in per_model.items():
                        if (key, name) not in handed:  # the library hands every result over; this is a safety net
                            writer.put(image_of[key], output)
                        cancelled = cancelled or output.error_code == CANCELLED
                offset += len(ids) * len(model_names)
        finally:
            for image in images.values():
                image.close()
        return cancelled

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

    def store_outputs(self, outputs: dict[int, list[ModelOutput]], tally: Tally | None = None) -> Changes:
        """Store results already computed (live runs and Batch API imports) in one transaction; returns what
        changed (the images written, and which kinds of data)."""
        tally = tally if tally is not None else Tally()
        names = [t.name for per in outputs.values() for o in per for t in (*o.tags,)]
        cleaned = self.cleaner.clean_many(names)

        def normalize(name: str) -> str:
            return cleaned.get(name) or display_form(name)

        stored: list[int] = []
        kept: list[tuple[int, ModelOutput]] = []
        with self.project.db.session(write=True) as session:
            for image_id, per_model in outputs.items():
                wrote = False
                for output in per_model:
                    if output.error_code == CANCELLED:
                        continue  # not recorded: a resumed run does it
                    store_output(session, image_id, output, self.model(output.model_name), normalize)
                    kept.append((image_id, output))
                    wrote = True
                if wrote:
                    stored.append(image_id)
        for image_id, output in kept:  # counted once committed: a failed transaction counts nothing
            tally.count(image_id, output)
        store_embeddings(self.project, outputs)  # embedding models and aesthetic scorers: vectors beside the DB
        ok = [o for _, o in kept if o.ok]
        return Changes.of(
            stored,
            tags=any(o.tags for o in ok),
            captions=any(o.caption for o in ok),
            scores=any(o.scores for o in ok),
            ratings=any(o.rating_label for o in ok),
            annotations=bool(stored),
        )

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


T = TypeVar("T")


def _finish_on_interrupt(call: Callable[[], T], stop: threading.Event | None) -> T:
    """Run `call` in a helper thread; on Ctrl+C stop sending, wait for the answers in flight, then re-raise.

    Requests already sent are paid for: their answers arrive within the provider's timeout and go to the writer
    like any other. A second Ctrl+C while waiting quits at once (the helper thread is a daemon).
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="annotate-library", daemon=True).start()
    try:
        done.wait()
    except KeyboardInterrupt:
        if stop is not None:
            stop.set()
        logger.warning("interrupted: storing the answers of requests already sent (Ctrl+C again to quit now)")
        done.wait()
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_summary(
    models: Sequence[str],
    plan: AnnotationPlan,
    tally: Tally,
    *,
    skipped_policy: dict[str, int],
    cancelled: bool,
    started: float,
) -> AnnotationRunSummary:
    """The summary of a finished (or cancelled) run from what its writer counted, its failures logged: the same
    for every engine (local, Ray). `started` is the run's `time.perf_counter()` at its start."""
    summary = AnnotationRunSummary(
        models=tuple(models),
        annotated=dict(tally.annotated),
        failed=dict(tally.failed),
        policy_violations=dict(tally.policy),
        skipped_done=dict(plan.already_done),
        skipped_policy=skipped_policy,
        failure_reasons=dict(tally.reasons),
        failure_messages={k: list(v) for k, v in tally.messages.items()},
        cancelled=cancelled,
        elapsed=time.perf_counter() - started,
        images=len(tally.images),
    )
    _log_failures(summary)
    return summary


def _log_failures(summary: AnnotationRunSummary) -> None:
    """One log line per failure reason with its count and first messages (the run's record in the log)."""
    for reason, count in sorted(summary.failure_reasons.items()):
        messages = " | ".join(summary.failure_messages.get(reason, []))
        logger.warning("annotation: {} image-model pairs failed with {}: {}", count, reason, messages)


def require_available(service: AnnotationService, model_names: Sequence[str]) -> None:
    """Refuse unknown model names up front (unavailable ones run and record why, per image)."""
    models = {m.name: m for m in service.models()}
    unknown = [n for n in model_names if n not in models]
    if unknown:
        raise AIProviderError(f"unknown model(s): {', '.join(unknown)}; see `lorairo models list`")
    # A matte model annotates nothing (no tags, captions or scores): its output is a mask.
    mattes = [n for n in model_names if models[n].kind == ai_annotator.MATTE_KIND]
    if mattes:
        raise AIProviderError(
            f"{', '.join(mattes)}: background-removal model(s) make masks, not annotations; "
            f"use `lorairo mask auto --model {mattes[0]}`"
        )
