"""ExportService: turn a project (or a selection of it) into a dataset a trainer loads unchanged.

Formats: kohya sd-scripts folder (``<repeats>_<trigger> <class>/`` with caption sidecars + ``dataset_config.toml``),
kohya metadata JSON / JSONL (fine-tuning), OneTrainer folder (``.txt`` captions, ``-masklabel.png`` masks), a
Hugging Face ``imagefolder`` with ``metadata.jsonl``, and SimpleTuner / ai-toolkit / diffusion-pipe / musubi-tuner
datasets (``images/`` + their config + README_TRAINING.md, see :mod:`lorairo.services.export.trainers`). Crops and
masks stored in the project are applied in every format, to copies only. The rules come from conventions.md
("Training-dataset export"); the pieces live in :mod:`lorairo.services.export`.

Safety: sources are only read; everything is written to a temporary folder beside the target and moved into
place at the end (cancel or a fatal error leaves the target as it was); a non-empty target needs ``force``.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger
from sqlalchemy import func, select

from lorairo.database.schema import SOURCE_MANUAL, CaptionRecord
from lorairo.exceptions import ExportError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export import hf_push, staging, trainers
from lorairo.services.export.bucketing import select_bucket
from lorairo.services.export.captions import SECONDARY_SEPARATOR
from lorairo.services.export.compose import (
    compose,
    keep_tokens,
)
from lorairo.services.export.data import ExportItem, LoadedSelection, SelectionItems, load_selection
from lorairo.services.export.imaging import ImageJob, ImageJobResult
from lorairo.services.export.layout import image_subdir
from lorairo.services.export.options import TRAINER_FORMATS, ExportOptions, split_words
from lorairo.services.export.plan import (
    PlannedImage,
    PlanSummary,
    alpha_mode,
    caption_summary,
    carries_masks,
    image_job,
    plan_export,
)
from lorairo.services.export.protected import protected_paths
from lorairo.services.export.results import ExportIssue, ExportPreview, ExportResult
from lorairo.services.export.runner import run_jobs
from lorairo.services.export.side_files import WrittenImages, write_side_files, write_trainer_files
from lorairo.services.export.spool import SPOOL_NAME, PlanSpool
from lorairo.services.project_service import Project
from lorairo.utils.faults import fault_point

Progress = Callable[[int, int, str], None]


#: Most images a preview composes; a larger selection is previewed from this many spread over it (a tag on
#: half the images is then estimated within about 1.6 %, two standard deviations). Reading and composing
#: 4,000 images takes about a second on the shared 2-core machine (bench/export_scale.py).
PREVIEW_SAMPLE = 4_000


class ExportService:
    """Exports of one open project. Thread-safe for one export at a time; the preview cache is per instance."""

    def __init__(self, config: ConfigurationService, project: Project) -> None:
        self.config = config
        self.project = project
        self._cache: dict[tuple[int, ...] | None, LoadedSelection] = {}
        self._sample: tuple[tuple[LoadedSelection, int] | None, Sequence[ExportItem]] = (None, ())
        self._lock = threading.Lock()

    # --- options -------------------------------------------------------------------------------------

    def default_options(self, target_dir: Path | None = None, **overrides: Any) -> ExportOptions:
        """Options from the ``[export]`` section of the config, with ``overrides`` applied."""
        get = self.config.get
        resolution = int(get("export.resolution"))
        image_format = str(get("export.image_format"))
        base = ExportOptions(
            format=str(get("export.format")),
            target_dir=target_dir or self.config.export_dir() / self.project.name,
            caption_extension=str(get("export.caption_extension")),
            trigger_words=split_words(str(get("export.trigger_words"))),
            class_tokens=str(get("export.class_tokens")),
            repeats=int(get("export.repeats")),
            underscores_to_spaces=bool(get("export.underscores_to_spaces")),
            keep_underscores=tuple(str(p) for p in get("export.keep_underscores")),
            escape_parentheses=bool(get("export.escape_parentheses")),
            min_confidence=float(get("export.min_confidence")),
            include_rating_tag=bool(get("export.include_rating_tag")),
            include_score_tag=bool(get("export.include_score_tag")),
            resolution=resolution if resolution > 0 else None,
            min_bucket_reso=int(get("export.min_bucket_reso")),
            max_bucket_reso=int(get("export.max_bucket_reso")),
            bucket_reso_steps=int(get("export.bucket_reso_steps")),
            bucket_no_upscale=bool(get("export.bucket_no_upscale")),
            image_format="jpg" if image_format == "jpeg" else image_format,
        )
        return base.with_changes(**overrides) if overrides else base

    def images_with_several_captions(self) -> int:
        """How many images hold more than one manual caption (the export dialog then writes every caption)."""
        several = (
            select(CaptionRecord.image_id)
            .where(CaptionRecord.source == SOURCE_MANUAL)
            .group_by(CaptionRecord.image_id)
            .having(func.count() > 1)
            .subquery()
        )
        with self.project.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(several)) or 0)

    # --- reading -------------------------------------------------------------------------------------

    def load(self, image_ids: Sequence[int] | None, *, refresh: bool = False) -> LoadedSelection:
        """The images to export with their annotations (cached per selection until ``refresh``)."""
        key = tuple(sorted(set(image_ids))) if image_ids is not None else None
        with self._lock:
            if refresh or key not in self._cache:
                self._cache = {key: load_selection(self.project.db, self.project.root, key)}
            return self._cache[key]

    def invalidate(self) -> None:
        """Forget cached annotations (call after tags change)."""
        with self._lock:
            self._cache.clear()
            self._sample = (None, ())

    def _preview_sample(self, selection: LoadedSelection) -> Sequence[ExportItem]:
        """The images a preview composes, kept while the selection is (changing an option re-composes them
        without reading the database again)."""
        with self._lock:
            key, sample = self._sample
            if key is not None and key[0] is selection and key[1] == PREVIEW_SAMPLE:
                return sample
        sample = _spread(selection.items, PREVIEW_SAMPLE)
        with self._lock:
            self._sample = ((selection, PREVIEW_SAMPLE), sample)
        return sample

    def preview(self, options: ExportOptions, image_id: int | None = None, top_tags: int = 30) -> ExportPreview:
        """Counts, bucket distribution, tag frequency and one image's caption lines for ``options``.

        Cheap: reads the database (cached) and never decodes an image. A selection of more than
        `PREVIEW_SAMPLE` images is previewed from that many images spread evenly over it and the counts are
        scaled to the whole selection (``ExportPreview.sampled``): 500k images preview in about a second.
        """
        opts = options.validated()
        selection = self.load(opts.image_ids)
        items = selection.items
        sample = self._preview_sample(selection)
        scale = len(items) / len(sample) if sample else 1.0
        settings = opts.bucket_settings
        tag_counter: Counter[str] = Counter()
        bucket_counter: Counter[tuple[int, int]] = Counter()
        skipped = 0
        for item in sample:
            composed = compose(item, opts)
            if composed.is_empty:
                skipped += 1
                continue
            tag_counter.update(composed.tags)
            if settings is not None:
                try:
                    bucket_counter[select_bucket(*item.export_size, settings).bucket] += 1
                except ValueError:
                    continue
        shown = _find(items, image_id) if image_id is not None else None
        if shown is None and items:
            shown = items[0]
        skipped_total = round(skipped * scale)

        def scaled(count: int) -> int:
            return round(count * scale)

        return ExportPreview(
            image_count=len(items) - skipped_total,
            excluded=selection.excluded_count,
            skipped_empty=skipped_total,
            preview_image_id=shown.image_id if shown else None,
            caption_lines=compose(shown, opts).lines if shown else (),
            tag_count=len(tag_counter),
            tag_occurrences=scaled(sum(tag_counter.values())),
            buckets=tuple(sorted((size, scaled(n)) for size, n in bucket_counter.items())),
            tag_frequency=tuple((tag, scaled(n)) for tag, n in tag_counter.most_common(top_tags)),
            keep_tokens=keep_tokens(opts),
            sampled=len(sample) if len(sample) < len(items) else 0,
        )

    # --- writing -------------------------------------------------------------------------------------

    def export(
        self,
        options: ExportOptions,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> ExportResult:
        """Write the dataset. Per-image failures are reported in the result; the export goes on.

        Raises:
            ExportError: bad options, an unsafe or non-empty target without force, nothing to export, or every
                image failed.
        """
        started = time.perf_counter()
        opts = options.validated()
        target = opts.target_dir.resolve()
        selection = self.load(opts.image_ids, refresh=True)
        if not selection.items:
            raise ExportError(
                f"nothing to export: no images selected ({selection.excluded_count} excluded images are left out)"
            )
        staging.check_target(
            target,
            force=opts.force,
            project_root=self.project.root,
            projects_root=self.config.database_dir(),
            protected=protected_paths(self.project, self.config.database_dir(), target),
        )
        staging.remove_leftovers(target)
        subdir = image_subdir(opts)
        final_image_dir = (target / subdir).resolve()
        work = staging.make_staging_dir(target)
        try:
            # The plan goes to a file in the staging folder, not to memory (issue 20): see export/spool.py.
            spool = PlanSpool(work / SPOOL_NAME)
            plan = plan_export(selection.items, opts, spool)
            if not plan.planned:
                raise ExportError(
                    f"nothing to export: all {len(plan.skipped)} images would get an empty caption "
                    "(no tags or caption pass the filters and no trigger word is set)"
                )
            return self._write(
                opts, spool, plan, selection, target, final_image_dir, work, subdir, progress, cancel, started
            )
        except OSError as exc:
            if exc.errno in staging.DISK_FULL_ERRNOS:
                raise staging.disk_full_error(exc, target) from exc
            raise
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)

    def _write(
        self,
        opts: ExportOptions,
        spool: PlanSpool,
        plan: PlanSummary,
        selection: LoadedSelection,
        target: Path,
        final_image_dir: Path,
        work: Path,
        subdir: Any,
        progress: Progress | None,
        cancel: threading.Event | None,
        started: float,
    ) -> ExportResult:
        staged_images = work / subdir
        staged_images.mkdir(parents=True, exist_ok=True)
        alpha = alpha_mode(opts)
        any_mask = plan.any_mask_file or (alpha == "mask" and plan.any_alpha)
        total = plan.planned
        captions_json = opts.format == "diffusion-pipe" and plan.any_several_lines
        sidecars = (
            opts.format in ("kohya", "onetrainer", "simpletuner", "ai-toolkit")
            or (opts.format == "diffusion-pipe" and not captions_json)
            or (opts.format == "musubi" and not opts.musubi_jsonl)
        )
        # Per image only its written size is kept (8 bytes, by plan index; 0 x 0 = not written); everything
        # else is a count. The images in flight (a few chunks per worker) are the only planned images in memory.
        sizes = array("I", bytes(8 * total))
        in_flight: dict[int, tuple[int, PlannedImage]] = {}
        failures: list[ExportIssue] = []
        tally = _Tally()

        def jobs() -> Iterator[ImageJob]:
            for index, p in enumerate(spool):
                in_flight[p.image_id] = (index, p)
                yield image_job(opts, p, staged_images, work, alpha, any_mask)

        def on_result(result: ImageJobResult) -> None:
            fault_point("export.item")  # crash tests only (utils/faults.py)
            if result.disk_full_at is not None:  # every later image would fail the same way: stop here
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), result.disk_full_at)
            index, p = in_flight.pop(result.image_id)
            for message in result.warnings:  # Pillow's "Corrupt EXIF data" and the like: the log, not the terminal
                logger.warning("{}: {}", p.shown_path, message)
            if result.error is not None or result.size is None:
                failures.append(ExportIssue(result.image_id, p.shown_path, result.error or "no size"))
                logger.warning("Export failed for {} (stored as {}): {}", p.shown_path, p.source, result.error)
            else:
                sizes[2 * index], sizes[2 * index + 1] = result.size
                tally.add(p, result.size, mask_written=result.mask_written)
                if sidecars:
                    caption_file = staged_images / f"{p.stem}{opts.caption_extension}"
                    caption_file.write_text("\n".join(p.composed.lines), encoding="utf-8")
            if progress is not None:
                progress(tally.written + len(failures), total, p.file_name)

        completed = run_jobs(jobs(), self.config.max_workers(), on_result, cancel, total=total)
        kt = keep_tokens(opts)
        if not completed:
            logger.info("Export to {} cancelled; nothing was written there", target)
            return ExportResult(
                target=target,
                format=opts.format,
                image_dir=final_image_dir,
                exported=0,
                caption_extension=opts.caption_extension,
                keep_tokens=kt,
                skipped=tuple(plan.skipped),
                failures=tuple(failures),
                excluded=selection.excluded_count,
                cancelled=True,
                elapsed_s=time.perf_counter() - started,
            )
        if not tally.written:
            first = failures[0].reason if failures else "unknown error"
            raise ExportError(f"export failed: none of the {total} images could be written (first error: {first})")

        done = WrittenImages(
            planned=spool,
            sizes=sizes,
            count=tally.written,
            several_lines=tally.several_lines,
            protected_sentences=tally.protected_sentences,
        )
        config_path, metadata_path = write_side_files(
            opts,
            done,
            target,
            final_image_dir,
            work,
            kt,
            project_name=self.project.name,
            alpha_mask=tally.masks_written > 0,
        )
        masks_dropped = tally.with_mask_file if not carries_masks(opts) else 0
        notes_path = None
        if opts.format in TRAINER_FORMATS:
            config_path, metadata_path = write_trainer_files(
                opts, done, target, work, kt, captions_json=captions_json, masks=tally.masks_written > 0
            )
            (work / trainers.NOTES_NAME).write_text(
                trainers.training_note(
                    opts.format,
                    count=tally.written,
                    masks=tally.masks_written if opts.format != "musubi" else 0,
                    cropped=tally.cropped,
                    captions_per_image=caption_summary(opts, tally.several_lines, tally.reduced, captions_json),
                    relative=opts.relative_paths,
                    masks_dropped=masks_dropped,
                ),
                encoding="utf-8",
            )
            notes_path = target / trainers.NOTES_NAME
        spool.remove()  # the plan is not part of the dataset
        replaced = staging.move_into_place(work, target)
        failed = {f.image_id for f in failures}
        result = ExportResult(
            target=target,
            format=opts.format,
            image_dir=final_image_dir,
            exported=tally.written,
            caption_extension=opts.caption_extension,
            keep_tokens=kt,
            skipped=tuple(plan.skipped),
            failures=tuple(sorted(failures, key=lambda f: f.image_id)),
            excluded=selection.excluded_count,
            renamed=tuple(r for r in plan.renamed if r[0] not in failed),
            buckets=dict(sorted(tally.buckets.items())),
            config_path=config_path,
            metadata_path=metadata_path,
            replaced=replaced,
            class_captioned=tuple(sorted(tally.class_captioned)),
            elapsed_s=time.perf_counter() - started,
            notes_path=notes_path,
            masks_written=tally.masks_written,
            masks_dropped=masks_dropped,
            cropped=tally.cropped,
            captions_reduced=tally.reduced,
            single_caption=opts.single_caption,
            caption_files="captions.json"
            if captions_json
            else ("jsonl" if opts.format == "musubi" and opts.musubi_jsonl else ""),
        )
        logger.info(
            "Exported {} images ({}) to {}: {} skipped, {} failed, {} excluded",
            result.exported,
            opts.format,
            target,
            len(plan.skipped),
            len(failures),
            selection.excluded_count,
        )
        return result

    # --- Hugging Face --------------------------------------------------------------------------------

    def push_to_hub(
        self,
        folder: Path,
        *,
        repo_id: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
        private: bool | None = None,
        progress: Progress | None = None,
    ) -> hf_push.HubPushResult:
        """Upload an exported folder as a dataset repository (repo and token from ``[huggingface]`` by default)."""
        return hf_push.push_folder(
            folder, self.config, repo_id=repo_id, token=token, endpoint=endpoint, private=private, progress=progress
        )


@dataclass
class _Tally:
    """Counts over the images written so far (what the result and README_TRAINING.md report)."""

    written: int = 0
    masks_written: int = 0
    with_mask_file: int = 0  # written images that have a stored mask (dropped by formats without masks)
    cropped: int = 0
    reduced: int = 0
    several_lines: int = 0
    protected_sentences: bool = False
    class_captioned: list[int] = field(default_factory=list)
    buckets: Counter[str] = field(default_factory=Counter)

    def add(self, p: PlannedImage, size: tuple[int, int], *, mask_written: bool) -> None:
        self.written += 1
        self.masks_written += mask_written
        self.with_mask_file += p.mask is not None
        self.cropped += p.crop is not None
        self.reduced += p.reduced
        self.several_lines += len(p.composed.lines) > 1
        self.protected_sentences |= SECONDARY_SEPARATOR in p.composed.caption
        if p.composed.class_only:
            self.class_captioned.append(p.image_id)
        self.buckets[f"{size[0]}x{size[1]}"] += 1


def _spread(items: Sequence[ExportItem], count: int) -> Sequence[ExportItem]:
    """All of `items`, or `count` of them spread evenly (one chunked read for a `SelectionItems`)."""
    if len(items) <= count:
        return items
    if isinstance(items, SelectionItems):
        return items.spread(count)
    step = len(items) / count
    return [items[int(k * step)] for k in range(count)]


def _find(items: Sequence[ExportItem], image_id: int) -> ExportItem | None:
    """The item of `image_id` in the selection, reading only that image for a `SelectionItems`."""
    if isinstance(items, SelectionItems):
        at = bisect_left(items.ids, image_id)
        return items[at] if at < len(items.ids) and items.ids[at] == image_id else None
    return next((item for item in items if item.image_id == image_id), None)
