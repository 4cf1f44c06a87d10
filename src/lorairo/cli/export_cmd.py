"""`lorairo export --project P --format kohya --out DIR --resolution 1024 --trigger sks [...]`."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lorairo.cli.common import console, err_console, print_json, state
from lorairo.cli.selection import FilterOption, IdsOption, Selection
from lorairo.exceptions import ExportError
from lorairo.services.export.options import FORMATS, TAG_CATEGORIES, split_words
from lorairo.services.progress_text import Pace

if TYPE_CHECKING:  # imports the database layer and Pillow: loaded only when an export runs
    from lorairo.services.export_service import ExportService

_REFRESH_S = 0.2


def _options_from_cli(service: ExportService, given: dict[str, Any], out: Path | None) -> Any:
    """Config defaults overridden by the options the user actually gave (None = not given)."""
    overrides = {k: v for k, v in given.items() if v is not None}
    return service.default_options(out, **overrides)


def export(
    project: Annotated[str, typer.Option("--project", "-p", help="Project name.")],
    format_: Annotated[
        str | None, typer.Option("--format", help=f"One of {', '.join(FORMATS)} (default: export.format).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Target folder (default: <export_dir>/<project>).")
    ] = None,
    resolution: Annotated[
        int | None, typer.Option("--resolution", help="Bucket resolution, e.g. 1024; 0 keeps the original sizes.")
    ] = None,
    trigger: Annotated[
        str | None, typer.Option("--trigger", help="Trigger word(s), comma-separated; written first.")
    ] = None,
    class_tokens: Annotated[str | None, typer.Option("--class", help="Class token, e.g. woman.")] = None,
    repeats: Annotated[int | None, typer.Option("--repeats", min=1, help="num_repeats / folder prefix.")] = None,
    caption_ext: Annotated[
        str | None, typer.Option("--caption-ext", help="Caption extension: .txt (default), .caption or custom.")
    ] = None,
    caption_mode: Annotated[
        str | None,
        typer.Option(
            "--caption-mode",
            help=(
                "tags, caption or both. For sd-scripts (kohya formats) a caption sentence is written as one unit: "
                "its commas become ';;;' and dataset_config.toml gets secondary_separator = ';;;', so "
                "shuffle_caption moves the sentence as a whole (never cuts it apart) and sd-scripts turns ';;;' "
                "back into commas before training."
            ),
        ),
    ] = None,
    variants: Annotated[
        bool,
        typer.Option(
            "--variants",
            help="With --caption-mode both: tags and caption as two alternative lines (enable_wildcard; one is "
            "picked per step).",
        ),
    ] = False,
    shuffle_caption: Annotated[
        bool | None,
        typer.Option(
            "--shuffle-caption/--no-shuffle-caption",
            help="Write shuffle_caption to dataset_config.toml (default: not written; the trainer decides).",
        ),
    ] = None,
    relative_paths: Annotated[
        bool,
        typer.Option(
            "--relative-paths",
            help="Write image_dir relative to dataset_config.toml, so the folder can be moved (train from there).",
        ),
    ] = False,
    all_captions: Annotated[
        bool,
        typer.Option(
            "--all-captions",
            help="Write every caption of an image (manual first), one per line where the format holds several "
            "(kohya turns on enable_wildcard; diffusion-pipe gets captions.json).",
        ),
    ] = False,
    single_caption: Annotated[
        str | None,
        typer.Option(
            "--single-caption",
            help="For formats that hold one caption (ai-toolkit, musubi, hf) when an image has several: first, "
            "longest or join. The summary says how many images it decided.",
        ),
    ] = None,
    no_masks: Annotated[
        bool, typer.Option("--no-masks", help="Leave the project's masks out (crops still apply).")
    ] = False,
    musubi_jsonl: Annotated[
        bool,
        typer.Option("--jsonl", help="musubi: write metadata.jsonl (image_jsonl_file) instead of caption files."),
    ] = False,
    ids: IdsOption = None,
    filter_text: FilterOption = None,
    min_confidence: Annotated[
        float | None, typer.Option("--min-confidence", help="Model tags below this are left out.")
    ] = None,
    categories: Annotated[
        str | None,
        typer.Option(
            "--categories",
            help="Tag categories to include, e.g. general,character (default: all). One of: "
            + ", ".join(TAG_CATEGORIES),
        ),
    ] = None,
    max_bucket_reso: Annotated[int | None, typer.Option("--max-bucket-reso", help="e.g. 2048 for SDXL.")] = None,
    no_upscale: Annotated[bool, typer.Option("--no-upscale", help="bucket_no_upscale: keep small images small.")] = (
        False
    ),
    image_format: Annotated[str | None, typer.Option("--image-format", help="original, png, jpg or webp.")] = None,
    alpha: Annotated[str | None, typer.Option("--alpha", help="composite (on white) or mask.")] = None,
    escape: Annotated[bool, typer.Option("--escape-parentheses", help="A1111 \\( \\) escaping.")] = False,
    keep_tokens_separator: Annotated[
        bool, typer.Option("--keep-tokens-separator", help="Write 'trigger ||| tags' instead of keep_tokens.")
    ] = False,
    rating_tag: Annotated[bool, typer.Option("--rating-tag", help="Add rating_<label>.")] = False,
    score_tag: Annotated[bool, typer.Option("--score-tag", help="Add score_<n> from the aesthetic score.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace a non-empty target folder as a whole (never one holding a project or its originals).",
        ),
    ] = False,
    push: Annotated[
        bool, typer.Option("--push", help="Push the folder to the Hugging Face Hub (huggingface.* settings).")
    ] = False,
    repo: Annotated[str | None, typer.Option("--repo", help="Hub dataset repo user/name for --push.")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Export a training dataset: kohya folder + dataset_config.toml, kohya metadata, OneTrainer, HF imagefolder,
    SimpleTuner (multidatabackend.json), ai-toolkit (datasets: YAML), diffusion-pipe or musubi-tuner (dataset.toml).
    Crops and masks set in the project are applied in every format."""
    selection = Selection(ids, filter_text)  # parsed before the project opens: a typo fails at once
    proj = state.projects.open(project)
    try:
        from lorairo.services.export_service import ExportService

        service = ExportService(state.config, proj)
        image_ids = None if selection.everything else tuple(selection.image_ids(proj))
        if image_ids is not None and not image_ids:
            what = f"the filter {filter_text!r}" if filter_text else "--ids"
            raise ExportError(f"no image matches {what}" + (" and --ids" if filter_text and ids else ""))
        given: dict[str, Any] = {
            "format": format_,
            "resolution": (resolution or None) if resolution is not None else None,
            "trigger_words": split_words(trigger) if trigger is not None else None,
            "class_tokens": class_tokens,
            "repeats": repeats,
            "caption_extension": caption_ext,
            "caption_mode": caption_mode,
            "caption_variants": variants or None,
            "image_ids": image_ids,
            "min_confidence": min_confidence,
            "categories": frozenset(c.lower() for c in split_words(categories)) if categories else None,
            "max_bucket_reso": max_bucket_reso,
            "bucket_no_upscale": no_upscale or None,
            "image_format": image_format,
            "alpha": alpha,
            "escape_parentheses": escape or None,
            "use_keep_tokens_separator": keep_tokens_separator or None,
            "include_rating_tag": rating_tag or None,
            "include_score_tag": score_tag or None,
            "shuffle_caption": shuffle_caption,
            "relative_paths": relative_paths or None,
            "force": force,
            "all_captions": all_captions or None,
            "single_caption": single_caption,
            "masks": False if no_masks else None,
            "musubi_jsonl": musubi_jsonl or None,
        }
        options = _options_from_cli(service, given, out)
        if resolution == 0:
            options = options.with_changes(resolution=None)  # 0 = keep original sizes
        elif options.resolution and max_bucket_reso is None and options.max_bucket_reso < options.resolution:
            # sd-scripts needs max_bucket_reso >= resolution; a bigger --resolution alone raises it to match
            options = options.with_changes(max_bucket_reso=options.resolution)
        result = _run(service, options, json)
        hub = service.push_to_hub(result.target, repo_id=repo) if push and not result.cancelled else None
    finally:
        proj.close()
    if json:
        data = result.as_dict()
        if hub is not None:
            data["hub"] = {"repo_id": hub.repo_id, "commit_url": hub.commit_url, "files": hub.files}
        print_json(data)
        return
    _report(result)
    if hub is not None:
        console.print(f"Pushed {hub.files} files to dataset [bold]{hub.repo_id}[/] ({hub.commit_url})")


def _run(service: ExportService, options: Any, json: bool) -> Any:
    """Export with a progress line like import's: count, images/s and ETA (on stderr; off with --json)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    cancel = threading.Event()
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
    )
    # auto_refresh=False: no refresh thread; the line is redrawn at most every _REFRESH_S from the callback.
    bar = Progress(*columns, console=err_console, disable=json, auto_refresh=False, transient=False)
    with bar:
        task = bar.add_task("exporting", total=None, rate="", eta="--:--")
        started = time.monotonic()
        last = 0.0

        def progress(done: int, total: int, message: str) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < _REFRESH_S and done < total:
                return
            last = now
            pace = Pace(done, total, now - started)
            bar.update(task, completed=done, total=total, rate=pace.rate_text(), eta=pace.eta_text)
            bar.refresh()

        try:
            result = service.export(options, progress=progress, cancel=cancel)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                cancel.set()
            bar.remove_task(task)  # the error is the one line left, not an empty bar above it
            bar.refresh()
            raise
        done = result.exported + len(result.failures)
        bar.update(task, completed=done, total=done or 1, description="done", eta="0:00")
        bar.refresh()
        return result


def _report(result: Any) -> None:
    rate = result.exported / result.elapsed_s if result.elapsed_s > 0 else 0.0
    console.print(
        f"Exported [bold]{result.exported}[/] images ({result.format}) to {result.image_dir} "
        f"in {result.elapsed_s:.1f} s ({rate:.1f} images/s)"
        + (f"; {result.excluded} excluded left out" if result.excluded else "")
    )
    if result.class_captioned:
        console.print(
            f"[yellow]{len(result.class_captioned)} images had no tags or caption[/]: their caption is the class "
            "token alone"
        )
    if result.config_path and result.format in ("kohya", "kohya-json", "kohya-jsonl"):
        ext = f"caption_extension {result.caption_extension}, " if result.format == "kohya" else ""
        console.print(f"dataset_config.toml: {result.config_path} ({ext}keep_tokens {result.keep_tokens})")
    elif result.config_path:
        console.print(f"config: {result.config_path}")
    if result.notes_path:
        console.print(f"how to train: {result.notes_path}")
    if result.cropped:
        console.print(f"{result.cropped} images cropped as set in the project (masks cropped the same way)")
    if result.masks_written:
        console.print(f"{result.masks_written} masks written")
    if result.masks_dropped:
        console.print(f"[yellow]{result.masks_dropped} masks not exported[/]: {result.format} has no place for masks")
    if result.captions_reduced:
        console.print(
            f"[yellow]{result.captions_reduced} images had several captions[/]: {result.format} holds one, kept "
            f"the {result.single_caption} (--single-caption first|longest|join)"
            if result.single_caption != "join"
            else f"[yellow]{result.captions_reduced} images had several captions[/]: {result.format} holds one, "
            "joined them (--single-caption join)"
        )
    if result.caption_files == "captions.json":
        console.print("several captions per image: written to images/captions.json (file name -> list)")
    elif result.format == "onetrainer" and result.keep_tokens:
        console.print(f"OneTrainer: set keep_tags_count = {result.keep_tokens} in the concept's text settings")
    if result.metadata_path:
        console.print(f"metadata: {result.metadata_path}")
    if result.buckets:
        console.print("buckets: " + ", ".join(f"{size} x{n}" for size, n in result.buckets.items()))
    if result.replaced:
        console.print(f"replaced the previous contents of {result.target} ({len(result.replaced)} entries)")
    for wanted_id, wanted, used in result.renamed:
        console.print(f"[yellow]renamed[/] image {wanted_id}: {wanted} -> {used} (two images shared a name)")
    for issue in result.skipped:
        console.print(f"[yellow]skipped[/] {issue.path}: {issue.reason}")
    for issue in result.failures:
        console.print(f"[red]failed[/] {issue.path}: {issue.reason}")
