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
import sqlite3
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loguru import logger
from sqlalchemy import func, select

from lorairo.database.schema import SOURCE_MANUAL, CaptionRecord, ImageRecord, ImageSourceRecord
from lorairo.exceptions import ExportError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export import hf_push, staging, trainers
from lorairo.services.export.bucketing import select_bucket
from lorairo.services.export.captions import SECONDARY_SEPARATOR, collapse
from lorairo.services.export.compose import (
    ComposedCaption,
    compose,
    keep_tokens,
    metadata_texts,
    pick_caption,
    single_line,
)
from lorairo.services.export.data import ExportItem, LoadedSelection, SelectionItems, load_selection
from lorairo.services.export.imaging import MASK_SUFFIX, ImageJob, ImageJobResult, output_extension
from lorairo.services.export.layout import assign_stems, image_subdir
from lorairo.services.export.options import KOHYA_FORMATS, TRAINER_FORMATS, ExportOptions, split_words
from lorairo.services.export.results import ExportIssue, ExportPreview, ExportResult
from lorairo.services.export.runner import run_jobs
from lorairo.services.export.writers import (
    CONFIG_NAME,
    MetadataRow,
    SubsetSpec,
    dataset_config_toml,
    hf_dataset_card,
    hf_metadata_jsonl,
    kohya_metadata_json,
    kohya_metadata_jsonl,
)
from lorairo.services.project_service import Project
from lorairo.utils.faults import fault_point

Progress = Callable[[int, int, str], None]


#: Most images a preview composes; a larger selection is previewed from this many spread over it (a tag on
#: half the images is then estimated within about 1.6 %, two standard deviations). Reading and composing
#: 4,000 images takes about a second on the shared 2-core machine (bench/export_scale.py).
PREVIEW_SAMPLE = 4_000


@dataclass(frozen=True)
class _Planned:
    item: ExportItem
    composed: ComposedCaption
    stem: str
    ext: str
    reduced: bool = False  # several captions written as one (single_caption)


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
            protected=self._protected_paths(),
        )
        staging.remove_leftovers(target)
        planned, skipped = self._plan(selection.items, opts)
        if not planned:
            raise ExportError(
                f"nothing to export: all {len(skipped)} images would get an empty caption "
                "(no tags or caption pass the filters and no trigger word is set)"
            )
        stems = assign_stems((p.item.image_id, p.item.file_name) for p in planned)
        planned = [replace(p, stem=stems.stems[p.item.image_id]) for p in planned]
        subdir = image_subdir(opts)
        final_image_dir = (target / subdir).resolve()
        work = staging.make_staging_dir(target)
        try:
            return self._write(
                opts,
                planned,
                skipped,
                selection,
                stems.renamed,
                target,
                final_image_dir,
                work,
                subdir,
                progress,
                cancel,
                started,
            )
        except OSError as exc:
            if exc.errno in staging.DISK_FULL_ERRNOS:
                raise staging.disk_full_error(exc, target) from exc
            raise
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)

    def _protected_paths(self) -> Iterator[tuple[str, str]]:
        """(project, absolute path) of every image any project was imported from or stores outside itself.

        Lazy: only a forced, non-empty target is checked against it. Other projects are read with a read-only
        SQLite connection (opening them as projects would migrate or lock them).
        """
        with self.project.db.session() as session:
            rows = session.execute(
                select(ImageRecord.file_path, ImageRecord.original_path).where(ImageRecord.id > 0)
            ).all()
            sources = session.scalars(select(ImageSourceRecord.source_path)).all()
        for file_path, original in rows:
            if Path(file_path).is_absolute():
                yield self.project.name, file_path
            yield self.project.name, original
        for source in sources:
            yield self.project.name, source
        projects_root = self.config.database_dir()
        if not projects_root.is_dir():
            return
        for other in sorted(projects_root.iterdir()):
            db_path = other / "database.db"
            if other.resolve() == self.project.root.resolve() or not db_path.is_file():
                continue
            yield from _project_sources(other.name, db_path)

    def _plan(self, items: Sequence[ExportItem], opts: ExportOptions) -> tuple[list[_Planned], list[ExportIssue]]:
        keep_alpha = opts.alpha == "mask" and opts.format in (*KOHYA_FORMATS, "hf")
        planned: list[_Planned] = []
        skipped: list[ExportIssue] = []
        for item in items:
            composed = compose(item, opts)
            if composed.is_empty:
                skipped.append(ExportIssue(item.image_id, item.shown_path, "empty caption: no tags pass the filters"))
                continue
            masked = opts.masks and item.mask_path is not None
            ext = output_extension(item.format, opts.image_format, keep_alpha)
            if masked and opts.format in KOHYA_FORMATS and ext in (".jpg", ".bmp"):
                ext = ".png"  # the mask goes into the alpha channel (alpha_mask), which JPEG and BMP cannot hold
            if opts.format == "ai-toolkit" and ext not in (".jpg", ".png"):
                ext = ".png"  # ai-toolkit reads jpg / jpeg / png only (it warns about and skips webp)
            reduced = False
            if not opts.multi_caption and len(composed.lines) > 1 and opts.format not in ("kohya-json", "kohya-jsonl"):
                composed = replace(composed, lines=(single_line(composed.lines, opts.single_caption),))
                reduced = True
            # The caption is composed: the tag rows are not needed any more (at 500k images they would be
            # most of the export's memory; metadata files still read the captions and scores).
            planned.append(_Planned(replace(item, tags=()), composed, "", ext, reduced))
        return planned, skipped

    def _write(
        self,
        opts: ExportOptions,
        planned: list[_Planned],
        skipped: list[ExportIssue],
        selection: LoadedSelection,
        renamed: tuple[tuple[int, str, str], ...],
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
        alpha_mode = _alpha_mode(opts)
        by_id = {p.item.image_id: p for p in planned}
        any_mask = (opts.masks and any(p.item.mask_path is not None for p in planned)) or (
            alpha_mode == "mask" and any(p.item.has_alpha for p in planned)
        )
        jobs = [self._job(opts, p, staged_images, work, alpha_mode, any_mask) for p in planned]
        failures: list[ExportIssue] = []
        sizes: dict[int, tuple[int, int]] = {}
        masks_written = 0
        total = len(jobs)
        captions_json = opts.format == "diffusion-pipe" and any(len(p.composed.lines) > 1 for p in planned)
        sidecars = (
            opts.format in ("kohya", "onetrainer", "simpletuner", "ai-toolkit")
            or (opts.format == "diffusion-pipe" and not captions_json)
            or (opts.format == "musubi" and not opts.musubi_jsonl)
        )

        def on_result(result: ImageJobResult) -> None:
            fault_point("export.item")  # crash tests only (utils/faults.py)
            if result.disk_full_at is not None:  # every later image would fail the same way: stop here
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), result.disk_full_at)
            plan = by_id[result.image_id]
            for message in result.warnings:  # Pillow's "Corrupt EXIF data" and the like: the log, not the terminal
                logger.warning("{}: {}", plan.item.shown_path, message)
            if result.error is not None or result.size is None:
                failures.append(ExportIssue(result.image_id, plan.item.shown_path, result.error or "no size"))
                logger.warning(
                    "Export failed for {} (stored as {}): {}", plan.item.shown_path, plan.item.source_path, result.error
                )
            else:
                sizes[result.image_id] = result.size
                if result.mask_written:
                    nonlocal masks_written
                    masks_written += 1
                if sidecars:
                    caption_file = staged_images / f"{plan.stem}{opts.caption_extension}"
                    caption_file.write_text("\n".join(plan.composed.lines), encoding="utf-8")
            if progress is not None:
                progress(len(sizes) + len(failures), total, plan.item.file_name)

        completed = run_jobs(jobs, self.config.max_workers(), on_result, cancel)
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
                skipped=tuple(skipped),
                failures=tuple(failures),
                excluded=selection.excluded_count,
                cancelled=True,
                elapsed_s=time.perf_counter() - started,
            )
        if not sizes:
            first = failures[0].reason if failures else "unknown error"
            raise ExportError(f"export failed: none of the {total} images could be written (first error: {first})")

        done = [p for p in planned if p.item.image_id in sizes]
        config_path, metadata_path = self._write_side_files(
            opts, done, sizes, target, final_image_dir, work, kt, alpha_mask=masks_written > 0
        )
        masks_dropped = sum(1 for p in done if p.item.mask_path is not None) if not self._carries_masks(opts) else 0
        cropped = sum(1 for p in done if p.item.crop is not None)
        notes_path = None
        if opts.format in TRAINER_FORMATS:
            config_path, metadata_path = self._write_trainer_files(
                opts, done, sizes, target, work, kt, captions_json=captions_json, masks=masks_written > 0
            )
            (work / trainers.NOTES_NAME).write_text(
                trainers.training_note(
                    opts.format,
                    count=len(done),
                    masks=masks_written if opts.format != "musubi" else 0,
                    cropped=cropped,
                    captions_per_image=_caption_summary(opts, done, captions_json),
                    relative=opts.relative_paths,
                    masks_dropped=masks_dropped,
                ),
                encoding="utf-8",
            )
            notes_path = target / trainers.NOTES_NAME
        replaced = staging.move_into_place(work, target)
        buckets = Counter(f"{w}x{h}" for w, h in sizes.values())
        result = ExportResult(
            target=target,
            format=opts.format,
            image_dir=final_image_dir,
            exported=len(sizes),
            caption_extension=opts.caption_extension,
            keep_tokens=kt,
            skipped=tuple(skipped),
            failures=tuple(sorted(failures, key=lambda f: f.image_id)),
            excluded=selection.excluded_count,
            renamed=tuple(r for r in renamed if r[0] in sizes),
            buckets=dict(sorted(buckets.items())),
            config_path=config_path,
            metadata_path=metadata_path,
            replaced=replaced,
            class_captioned=tuple(p.item.image_id for p in done if p.composed.class_only),
            elapsed_s=time.perf_counter() - started,
            notes_path=notes_path,
            masks_written=masks_written,
            masks_dropped=masks_dropped,
            cropped=cropped,
            captions_reduced=sum(1 for p in done if p.reduced),
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
            len(skipped),
            len(failures),
            selection.excluded_count,
        )
        return result

    def _write_side_files(
        self,
        opts: ExportOptions,
        done: list[_Planned],
        sizes: dict[int, tuple[int, int]],
        target: Path,
        final_image_dir: Path,
        work: Path,
        kt: int,
        *,
        alpha_mask: bool = False,
    ) -> tuple[Path | None, Path | None]:
        config_path: Path | None = None
        metadata_path: Path | None = None

        def written(path: Path) -> str:
            # The TOML and metadata name the final (moved-into-place) paths, or paths relative to the target.
            return path.relative_to(target).as_posix() if opts.relative_paths else str(path)

        if opts.format in ("kohya-json", "kohya-jsonl"):
            rows = []
            for p in done:
                caption, tags = metadata_texts(p.composed, opts)
                image_path = written(final_image_dir / f"{p.stem}{p.ext}")
                rows.append(MetadataRow(image_path, caption, tags, sizes[p.item.image_id]))
            name = "metadata.json" if opts.format == "kohya-json" else "metadata.jsonl"
            text = kohya_metadata_json(rows) if opts.format == "kohya-json" else kohya_metadata_jsonl(rows)
            (work / name).write_text(text, encoding="utf-8")
            metadata_path = target / name
        if opts.format in KOHYA_FORMATS:
            subset = SubsetSpec(
                image_dir=written(final_image_dir),
                metadata_file=written(metadata_path) if metadata_path is not None else None,
                alpha_mask=opts.alpha == "mask" or alpha_mask,
                protected_sentences=any(SECONDARY_SEPARATOR in p.composed.caption for p in done),
            )
            (work / CONFIG_NAME).write_text(dataset_config_toml(opts, subset, kt), encoding="utf-8")
            config_path = target / CONFIG_NAME
        if opts.format == "hf":
            rows_hf = []
            for p in done:
                score = p.item.score(opts.score_name)
                rows_hf.append(
                    {
                        "file_name": f"{p.stem}{p.ext}",
                        "text": p.composed.lines[0],  # one line: several were reduced by single_caption
                        "tags": list(p.composed.tags),
                        "caption": p.composed.caption or collapse(pick_caption(p.item)),
                        "rating": p.item.rating,
                        "aesthetic_score": score.value if score else None,
                    }
                )
            (work / "train" / "metadata.jsonl").write_text(hf_metadata_jsonl(rows_hf), encoding="utf-8")
            (work / "README.md").write_text(
                hf_dataset_card(self.project.name, len(done), opts.trigger_words), encoding="utf-8"
            )
            metadata_path = target / "train" / "metadata.jsonl"
        return config_path, metadata_path

    @staticmethod
    def _carries_masks(opts: ExportOptions) -> bool:
        """The format has a place for masks (musubi-tuner and Hugging Face imagefolder have none)."""
        return opts.format not in ("musubi", "hf")

    def _job(
        self,
        opts: ExportOptions,
        p: _Planned,
        staged_images: Path,
        work: Path,
        alpha_mode: str,
        any_mask: bool,
    ) -> ImageJob:
        """One image's job: where it and its mask go, per format."""
        item = p.item
        stored = str(item.mask_path) if opts.masks and item.mask_path is not None else None
        mask_dest: str | None = None
        into_alpha = False
        white_default = False
        if opts.format == "onetrainer":
            if alpha_mode == "mask" or stored:
                mask_dest = str(staged_images / f"{p.stem}{MASK_SUFFIX}")
        elif opts.format in KOHYA_FORMATS:
            into_alpha = stored is not None  # sd-scripts alpha_mask reads the mask from the image's alpha
        elif opts.format in ("ai-toolkit", "diffusion-pipe"):
            if stored or (alpha_mode == "mask" and item.has_alpha):
                mask_dest = str(work / "masks" / f"{p.stem}.png")
        elif opts.format == "simpletuner" and any_mask:
            # SimpleTuner pairs a conditioning image with every training image by file name: once any image has
            # a mask, the others get an all-white one (train on everything), so no image is left unpaired.
            mask_dest = str(work / "masks" / f"{p.stem}{p.ext}")
            white_default = True
        if mask_dest is not None:
            Path(mask_dest).parent.mkdir(parents=True, exist_ok=True)
        return ImageJob(
            image_id=item.image_id,
            source=str(item.source_path),
            dest=str(staged_images / f"{p.stem}{p.ext}"),
            buckets=opts.bucket_settings,
            alpha=alpha_mode,
            background=opts.background,
            mask_dest=mask_dest,
            quality=opts.jpeg_quality,
            resize_filter=opts.resize_filter,
            crop=item.crop,
            mask_source=stored if self._carries_masks(opts) else None,
            mask_into_alpha=into_alpha,
            mask_white_default=white_default,
        )

    def _write_trainer_files(
        self,
        opts: ExportOptions,
        done: list[_Planned],
        sizes: dict[int, tuple[int, int]],
        target: Path,
        work: Path,
        kt: int,
        *,
        captions_json: bool,
        masks: bool,
    ) -> tuple[Path | None, Path | None]:
        """The config of a SimpleTuner / ai-toolkit / diffusion-pipe / musubi-tuner export (and its metadata)."""

        def written(path: Path) -> str:
            return path.relative_to(target).as_posix() if opts.relative_paths else str(path)

        has_masks = masks and opts.format != "musubi"
        jsonl_path = target / trainers.MUSUBI_JSONL if opts.format == "musubi" and opts.musubi_jsonl else None
        paths = trainers.TrainerPaths(
            images=written(target / "images"),
            masks=written(target / "masks") if has_masks else None,
            cache=written(target / "cache"),
            jsonl=written(jsonl_path) if jsonl_path is not None else None,
        )
        metadata_path: Path | None = None
        if opts.format == "simpletuner":
            multiline = any(len(p.composed.lines) > 1 for p in done)
            text = trainers.simpletuner_config(opts, paths, multiline=multiline, keep_tokens=kt)
        elif opts.format == "ai-toolkit":
            text = trainers.ai_toolkit_config(opts, paths, keep_tokens=kt)
        elif opts.format == "diffusion-pipe":
            text = trainers.diffusion_pipe_config(opts, paths, [sizes[p.item.image_id] for p in done])
            if captions_json:
                data = {f"{p.stem}{p.ext}": p.composed.lines for p in done}
                (work / "images" / trainers.CAPTIONS_JSON).write_text(
                    trainers.diffusion_pipe_captions(data), encoding="utf-8"
                )
                metadata_path = target / "images" / trainers.CAPTIONS_JSON
        else:
            text = trainers.musubi_config(opts, paths)
            if jsonl_path is not None:
                rows = [(written(target / "images" / f"{p.stem}{p.ext}"), p.composed.lines[0]) for p in done]
                (work / trainers.MUSUBI_JSONL).write_text(trainers.musubi_jsonl(rows), encoding="utf-8")
                metadata_path = jsonl_path
        name = trainers.CONFIG_NAMES[opts.format]
        (work / name).write_text(text, encoding="utf-8")
        return target / name, metadata_path

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


def _alpha_mode(opts: ExportOptions) -> str:
    """How a transparent image is written: ``composite`` on the background, ``keep`` (RGBA, sd-scripts reads
    ``alpha_mask`` from it) or ``mask`` (composited, its alpha written as the format's mask file)."""
    if opts.alpha == "composite" or opts.format == "musubi":  # musubi-tuner has no masks
        return "composite"
    if opts.format in (*KOHYA_FORMATS, "hf"):
        return "keep"
    return "mask"


def _caption_summary(opts: ExportOptions, done: Sequence[_Planned], captions_json: bool) -> str:
    several = sum(1 for p in done if len(p.composed.lines) > 1)
    reduced = sum(1 for p in done if p.reduced)
    if captions_json:
        return f"{several} images have several captions, listed in images/captions.json"
    if several:
        return f"one caption per line; {several} images have several"
    if reduced:
        return f"one caption each; {reduced} images with several were written as one ({opts.single_caption})"
    return "one caption each"


def _project_sources(name: str, db_path: Path) -> Iterator[tuple[str, str]]:
    """Absolute image paths of another project, read-only; a database that cannot be read protects nothing
    more than its folder (which check_target already refuses as part of the projects folder)."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return
    try:
        for query in (
            "SELECT file_path FROM images",
            "SELECT original_path FROM images",
            "SELECT source_path FROM image_sources",
        ):
            try:
                rows = conn.execute(query).fetchall()
            except sqlite3.Error:
                continue
            for (path,) in rows:
                if isinstance(path, str) and Path(path).is_absolute():
                    yield name, path
    finally:
        conn.close()


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
