"""`lorairo mask ...` and `lorairo crop ...`: per-image masks and crops, applied at export (never to originals)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lorairo.cli.common import console, err_console, print_json, state
from lorairo.cli.selection import IdsOption
from lorairo.exceptions import LoRAIroException

if TYPE_CHECKING:
    from lorairo.services.project_service import Project
    from lorairo.services.regions import RegionResult, RegionService

    Work = Callable[[RegionService, Project], RegionResult]

mask_app = typer.Typer(
    help="Per-image masks (masked loss: train on the subject, not the background).", no_args_is_help=True
)
crop_app = typer.Typer(help="Per-image crop rectangles, applied at export.", no_args_is_help=True)

_ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name.")]
_IdsOpt = IdsOption  # the same --ids as query, export and annotate (ranges, repeatable)
_FilterOpt = Annotated[
    str | None, typer.Option("--filter", "-f", help="The images matching a filter (see lorairo query).")
]
_JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _selection(
    project: Project, ids: list[str] | None, filter_text: str | None, *, default_all: bool = False
) -> list[int]:
    """The images named by --ids and/or --filter, read as by query, export and annotate (cli/selection.py: ranges,
    both = the listed images that match, --filter '' = every image). Without either: every image when
    ``default_all`` (a harmless scan), otherwise an error (a write to every image must be asked for)."""
    from lorairo.cli.selection import Selection

    if not ids and filter_text is None and not default_all:
        raise LoRAIroException("name the images: --ids 1,2 or --filter 'tag:cat' (--filter '' for all)")
    chosen = Selection(ids, filter_text).image_ids(project)
    if not chosen:
        raise LoRAIroException(f"no image matches the filter {filter_text!r}" if filter_text else "no image selected")
    return chosen


def _reasons(items: Sequence[tuple[int, str]]) -> list[dict[str, object]]:
    return [{"image_id": i, "reason": r} for i, r in items]


def _print_problems(
    warnings: Sequence[str],
    skipped: Sequence[tuple[int, str]],
    failures: Sequence[tuple[int, str]],
    *,
    skipped_shown: int | None = None,
) -> None:
    """Warnings, skipped and failed images on stderr (reasons are file text: printed literally, not as markup);
    at most ``skipped_shown`` skipped images are listed one by one."""
    from rich.markup import escape

    for warning in warnings:
        err_console.print(f"[yellow]warning[/] {escape(warning)}", highlight=False)
    listed = skipped if skipped_shown is None else skipped[:skipped_shown]
    for image_id, reason in listed:
        err_console.print(f"[yellow]skipped[/] image {image_id}: {escape(reason)}", highlight=False)
    if len(skipped) > len(listed):
        err_console.print(f"[yellow]skipped[/] ... and {len(skipped) - len(listed)} more")
    for image_id, reason in failures:
        err_console.print(f"[red]failed[/] image {image_id}: {escape(reason)}", highlight=False)


def _run(project_name: str, action: str, work: Work, json: bool) -> None:
    """Open the project, run ``work(service, project)`` under the project's writer lock, report."""
    from lorairo.services.regions import RegionService
    from lorairo.storage.lock import ProjectLock

    opened = state.projects.open(project_name)
    try:
        with ProjectLock(opened.root, action):
            result = work(RegionService(opened), opened)
    finally:
        opened.close()
    _report(result, json)


def _report(result: RegionResult, json: bool) -> None:
    if json:
        print_json(
            {
                "description": result.description,
                "changed": list(result.changed_ids),
                "warnings": list(result.warnings),
                "failures": _reasons(result.failures),
                "skipped": _reasons(result.skipped),
                "crops": {
                    str(s.image_id): (
                        None if s.crop is None else [s.crop.left, s.crop.top, s.crop.width, s.crop.height]
                    )
                    for s in result.after
                },
            }
        )
    else:
        console.print(f"{result.description}: {len(result.changed_ids)} image(s) changed")
        for state_after in result.after:
            if state_after.crop is not None:
                console.print(f"  image {state_after.image_id}: crop {state_after.crop} (x,y,w,h)")
        _print_problems(result.warnings, result.skipped, result.failures)
    if result.failures:
        raise typer.Exit(1 if result.changed_ids else 2)


@mask_app.command("from-alpha")
def mask_from_alpha(
    project: _ProjectOpt, ids: _IdsOpt = None, filter_text: _FilterOpt = None, json: _JsonOpt = False
) -> None:
    """Use each image's own transparency as its mask (opaque = train on this). Images without transparency are
    listed as skipped and keep their mask; unreadable images make the exit code 1 (2 when nothing changed)."""
    _run(project, "mask from-alpha", lambda s, p: s.set_mask_from_alpha(_selection(p, ids, filter_text)), json)


@mask_app.command("set")
def mask_set(
    project: _ProjectOpt,
    image_id: Annotated[int, typer.Option("--id", help="Image ID.")],
    png: Annotated[Path, typer.Option("--png", help="Greyscale mask image (white = train on this).")],
    json: _JsonOpt = False,
) -> None:
    """Set an image's mask from a file; a mask of another size is rescaled to the image (with a warning)."""
    _run(project, "mask set", lambda s, p: s.set_mask_from_png(image_id, png), json)


@mask_app.command("invert")
def mask_invert(
    project: _ProjectOpt, ids: _IdsOpt = None, filter_text: _FilterOpt = None, json: _JsonOpt = False
) -> None:
    """Invert the masks of the images (train on the background instead)."""
    _run(project, "mask invert", lambda s, p: s.invert_mask(_selection(p, ids, filter_text)), json)


@mask_app.command("clear")
def mask_clear(
    project: _ProjectOpt, ids: _IdsOpt = None, filter_text: _FilterOpt = None, json: _JsonOpt = False
) -> None:
    """Remove the masks of the images."""
    _run(project, "mask clear", lambda s, p: s.clear_mask(_selection(p, ids, filter_text)), json)


@mask_app.command("auto")
def mask_auto(
    project: _ProjectOpt,
    model: Annotated[
        str,
        typer.Option("--model", "-m", help="Background-removal model: rmbg-1.4, birefnet-lite (lorairo models list)."),
    ],
    ids: _IdsOpt = None,
    filter_text: _FilterOpt = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", "-t", help="Make the mask black/white: foreground where the matte >= T (0..1)."),
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Also redo images that already have a mask.")] = False,
    json: _JsonOpt = False,
) -> None:
    """Compute each image's mask with a background-removal model (RMBG / BiRefNet, run locally).

    The model's files are fetched on first use (or ahead: lorairo models download <model>). Images that already
    have a mask are skipped unless --replace. Exit status: 0 when every image got its mask; 1 when some images
    failed (unreadable, or the model failed on them); 2 when every image to do failed.
    """
    import threading

    from lorairo.cli.annotate_cmd import _progress
    from lorairo.services.auto_mask import AutoMaskService

    opened = state.projects.open(project)
    try:
        chosen = _selection(opened, ids, filter_text)
        service = AutoMaskService(state.config, opened)
        cancel = threading.Event()
        with _progress(json) as bar:
            task = bar.add_task(f"Masking ({model})", total=1, rate="")

            def progress(done: int, total: int, message: str) -> None:
                bar.update(task, completed=done, total=max(total, 1), rate=message)

            try:
                summary = service.run(
                    chosen, model, threshold=threshold, replace=replace, progress=progress, cancel=cancel
                )
            except KeyboardInterrupt:
                cancel.set()
                err_console.print("Interrupted: the masks stored so far are kept; run again to do the rest.")
                raise
    finally:
        opened.close()
    if json:
        print_json(
            {
                "model": summary.model,
                "masked": list(summary.masked),
                "skipped": _reasons(summary.skipped),
                "failures": _reasons(summary.failures),
                "warnings": list(summary.warnings),
                "cancelled": summary.cancelled,
            }
        )
    else:
        console.print(
            f"Auto mask with {summary.model}: {len(summary.masked)} image(s) masked, "
            f"{len(summary.skipped)} skipped (already masked), {len(summary.failures)} failed "
            f"in {summary.elapsed:.1f} s"
        )
        _print_problems(summary.warnings, summary.skipped, summary.failures, skipped_shown=10)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


@crop_app.command("set")
def crop_set(
    project: _ProjectOpt,
    image_id: Annotated[int, typer.Option("--id", help="Image ID.")],
    box: Annotated[str, typer.Option("--box", help="x,y,w,h in the upright image's pixels, e.g. 0,100,1024,768.")],
    json: _JsonOpt = False,
) -> None:
    """Set an image's crop; a box reaching outside the image is clamped to it (with a warning)."""
    from lorairo.services.regions import parse_box

    crop = parse_box(box)  # a malformed box fails before the project opens
    _run(project, "crop set", lambda s, p: s.set_crop(image_id, crop), json)


@crop_app.command("clear")
def crop_clear(
    project: _ProjectOpt, ids: _IdsOpt = None, filter_text: _FilterOpt = None, json: _JsonOpt = False
) -> None:
    """Remove the crops of the images."""
    _run(project, "crop clear", lambda s, p: s.clear_crop(_selection(p, ids, filter_text)), json)


@crop_app.command("auto-letterbox")
def crop_auto_letterbox(
    project: _ProjectOpt, ids: _IdsOpt = None, filter_text: _FilterOpt = None, json: _JsonOpt = False
) -> None:
    """Crop away flat bars (black, white or any single colour) found on both opposite edges of the images.
    Images without bars are left alone; without --ids or --filter every image is checked."""
    _run(
        project,
        "crop auto-letterbox",
        lambda s, p: s.auto_letterbox(_selection(p, ids, filter_text, default_all=True)),
        json,
    )
