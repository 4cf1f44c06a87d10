"""Automatic masks (issue 17): a background-removal model's matte stored as each image's mask.

The model runs on the local runtime through image-annotator-lib (`ai_annotator.compute_mattes`, family
"matte": RMBG-1.4, BiRefNet); each matte is stored through :class:`RegionService` like a painted mask (greyscale
PNG at the upright image's size, white = train on this), so every export writes it for its trainer. Images that
already have a mask are skipped unless ``replace``; unreadable images and model failures are recorded per image
and the run carries on. One run holds the project's writer lock. Qt-free: the GUI runs it in a JobManager job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import select

from lorairo.annotations import ai_annotator
from lorairo.annotations.ai_annotator import MATTE_KIND, AnnotatorModel, MatteOutput
from lorairo.database.chunks import chunked
from lorairo.database.schema import ImageRecord, ImageRegionRecord
from lorairo.exceptions import LoRAIroException
from lorairo.services.annotation_service import configure_annotator_library, load_image
from lorairo.services.changes import Changes
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import Project
from lorairo.services.regions import RegionService
from lorairo.storage.lock import ProjectLock

ProgressCallback = Callable[[int, int, str], None]
BatchCallback = Callable[[Changes], None]
CANCELLED = "cancelled"
# Failures of the model itself, the same for every image: the run stops with one clear error instead of
# repeating it for each image of the selection.
MODEL_FAILURES = frozenset({"model_not_found", "missing_files", "needs_extra", "load_failed"})


class AutoMaskError(LoRAIroException):
    """The run was refused before any image was touched (unknown or wrong model, bad threshold, unknown id)."""


@dataclass(frozen=True)
class AutoMaskSummary:
    model: str
    masked: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...]  # (image id, reason): already had a mask
    failures: tuple[tuple[int, str], ...]  # (image id, reason): unreadable image or the model failed on it
    warnings: tuple[str, ...]
    changes: Changes
    cancelled: bool
    elapsed: float

    @property
    def exit_code(self) -> int:
        """0: no failure; 1: some images failed; 2: failures and nothing masked (as the other mask commands)."""
        if not self.failures:
            return 0
        return 1 if self.masked else 2


@dataclass(frozen=True)
class _Target:
    id: int
    path: Path
    shown: str


def binarise(matte: np.ndarray, threshold: float | None) -> Image.Image:
    """The stored mask: the matte as it is (soft edges), or 255 where matte >= threshold x 255, else 0."""
    if threshold is None:
        return Image.fromarray(np.ascontiguousarray(matte, dtype=np.uint8), mode="L")
    return Image.fromarray(np.where(matte.astype(np.float32) >= threshold * 255.0, 255, 0).astype(np.uint8), "L")


class AutoMaskService:
    """Automatic masks for one open project. Safe to run from a worker thread (opens its own sessions)."""

    def __init__(self, config: ConfigurationService, project: Project) -> None:
        self.config = config
        self.project = project
        self.regions = RegionService(project)

    def matte_models(self) -> list[AnnotatorModel]:
        """The registered background-removal models, with installed / needs / device."""
        configure_annotator_library(self.config)
        return [m for m in ai_annotator.get_available_annotator_models() if m.kind == MATTE_KIND]

    def _check_model(self, model_name: str) -> None:
        models = {m.name: m for m in ai_annotator.get_available_annotator_models()}
        model = models.get(model_name)
        mattes = ", ".join(sorted(n for n, m in models.items() if m.kind == MATTE_KIND)) or "none registered"
        if model is None:
            raise AutoMaskError(f"unknown model {model_name!r}; background-removal models: {mattes}")
        if model.kind != MATTE_KIND:
            raise AutoMaskError(
                f"{model_name} is a {model.kind} model, not a background-removal model; use one of: {mattes}"
            )

    def _targets(self, image_ids: Sequence[int]) -> tuple[list[_Target], set[int]]:
        """The images in the given order and the ids among them that already have a mask."""
        rows: dict[int, ImageRecord] = {}
        masked: set[int] = set()
        wanted = list(dict.fromkeys(image_ids))
        with self.project.db.session() as session:
            for chunk in chunked(sorted(wanted)):
                rows.update({r.id: r for r in session.scalars(select(ImageRecord).where(ImageRecord.id.in_(chunk)))})
                masked.update(
                    session.scalars(
                        select(ImageRegionRecord.image_id).where(
                            ImageRegionRecord.image_id.in_(chunk), ImageRegionRecord.mask_file.is_not(None)
                        )
                    )
                )
        missing = [i for i in wanted if i not in rows]
        if missing:
            shown = ", ".join(str(i) for i in missing[:10])
            raise AutoMaskError(f"no image with id {shown}{' ...' if len(missing) > 10 else ''} in this project")
        targets = []
        for image_id in wanted:
            rec = rows[image_id]
            path = Path(rec.file_path)
            targets.append(
                _Target(
                    image_id,
                    path if path.is_absolute() else self.project.root / path,
                    rec.original_path or rec.file_name,
                )
            )
        return targets, masked

    def run(
        self,
        image_ids: Sequence[int],
        model_name: str,
        *,
        threshold: float | None = None,
        replace: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        on_batch: BatchCallback | None = None,
    ) -> AutoMaskSummary:
        """Mask each image with `model_name`'s matte (binarised at `threshold` in 0..1 when given).

        Raises:
            AutoMaskError: unknown / non-matte model, threshold outside (0, 1], an id the project lacks, or the
                model cannot be loaded (files missing offline, broken file): nothing is stored then.
            ProjectBusyError: another writer (import, annotate, ...) holds the project.
        """
        if threshold is not None and not 0.0 < threshold <= 1.0:
            raise AutoMaskError(f"--threshold must be in (0, 1], got {threshold}")
        configure_annotator_library(self.config)
        self._check_model(model_name)
        with ProjectLock(self.project.root, "auto mask"):
            return self._run(image_ids, model_name, threshold, replace, progress, cancel, on_batch)

    def _run(
        self,
        image_ids: Sequence[int],
        model_name: str,
        threshold: float | None,
        replace: bool,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        on_batch: BatchCallback | None,
    ) -> AutoMaskSummary:
        started = time.perf_counter()
        targets, has_mask = self._targets(image_ids)
        skipped = (
            []
            if replace
            else [(t.id, f"{t.shown}: already has a mask (--replace to redo)") for t in targets if t.id in has_mask]
        )
        todo = [t for t in targets if replace or t.id not in has_mask]
        stop = cancel if cancel is not None else threading.Event()
        masked: list[int] = []
        failures: list[tuple[int, str]] = []
        warnings: list[str] = []
        changes = Changes()
        done = 0
        cancelled = False
        total = len(todo)
        if progress:
            progress(0, total, f"Auto mask with {model_name}")
        batch_size = max(1, int(self.config.get("annotation.batch_size")))
        with ThreadPoolExecutor(max_workers=self.config.max_workers(), thread_name_prefix="decode") as pool:
            for batch in chunked(todo, batch_size):
                if stop.is_set():
                    cancelled = True
                    break
                decoded = list(pool.map(_decode, batch))
                ready = [(t, img) for t, img in zip(batch, decoded, strict=True) if isinstance(img, Image.Image)]
                for target, outcome in zip(batch, decoded, strict=True):
                    if isinstance(outcome, str):
                        failures.append((target.id, f"{target.shown}: cannot read the image: {outcome}"))
                outputs: dict[str, MatteOutput] = {}
                if ready:

                    def relay(step: int, _total: int, _message: str, offset: int = done) -> None:
                        if progress:
                            progress(min(offset + step, total), total, f"{len(masked)} masked")

                    keys = [str(t.id) for t, _ in ready]
                    try:
                        outputs = ai_annotator.compute_mattes(
                            [img for _, img in ready], model_name, keys, progress=relay, cancel=stop
                        )
                    finally:
                        for _, img in ready:
                            img.close()
                failed_model = {o.error_message for o in outputs.values() if o.error_code in MODEL_FAILURES}
                if outputs and len(failed_model) == 1 and all(o.error_code in MODEL_FAILURES for o in outputs.values()):
                    raise AutoMaskError(f"{model_name} cannot run: {failed_model.pop()}")
                batch_changes = Changes()
                for target, _ in ready:
                    output = outputs[str(target.id)]
                    if output.error_code == CANCELLED:
                        cancelled = True
                        continue
                    if not output.ok:
                        failures.append((target.id, f"{target.shown}: {output.error_code}: {output.error_message}"))
                        continue
                    try:
                        result = self.regions.set_mask(target.id, binarise(output.matte, threshold), source=model_name)
                    except Exception as exc:  # e.g. the image was deleted meanwhile: this image only
                        failures.append((target.id, f"{target.shown}: cannot store the mask: {exc}"))
                        continue
                    masked.append(target.id)
                    warnings.extend(result.warnings)
                    batch_changes = batch_changes.merge(result.changes)
                changes = changes.merge(batch_changes)
                if on_batch is not None and not batch_changes.is_empty():
                    on_batch(batch_changes)
                done += len(batch)
                if progress:
                    progress(min(done, total), total, f"{len(masked)} masked")
                if cancelled:
                    break
        return AutoMaskSummary(
            model=model_name,
            masked=tuple(masked),
            skipped=tuple(skipped),
            failures=tuple(failures),
            warnings=tuple(warnings),
            changes=changes,
            cancelled=cancelled,
            elapsed=time.perf_counter() - started,
        )


def _decode(target: _Target) -> Image.Image | str:
    """The decoded image, or why it cannot be read (one bad file must not stop the batch)."""
    try:
        return load_image(target.path)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
