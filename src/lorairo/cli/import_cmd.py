"""`lorairo import PATH... --project NAME [--jobs N] [--json]`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lorairo.cli.common import console, err_console, print_json, state
from lorairo.services.progress_text import Pace
from lorairo.storage.names import display_name

if TYPE_CHECKING:  # imports the database layer, Pillow and numpy: loaded only when an import runs
    from lorairo.services.image_processing_service import ImageProcessingService
    from lorairo.services.importing.summary import ImportSummary

_REFRESH_S = 0.1


def _print_summary(summary: ImportSummary) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("imported", f"[green]{summary.imported:,}[/]")
    table.add_row("near-duplicates (imported, linked for review)", f"{summary.near_duplicates:,}")
    table.add_row("duplicates (not imported again)", f"{summary.duplicates:,}")
    table.add_row("skipped", f"{summary.skipped:,}")
    for reason, count in summary.skipped_by_reason.items():
        table.add_row(f"  {reason}", f"{count:,}")
    console.print(table)
    console.print(
        f"{summary.status}: {summary.total:,} files in {summary.elapsed_s:.1f} s ({summary.images_per_s:.1f} images/s)"
    )
    if summary.sidecar_tags_added or summary.sidecars_changed:
        console.print(
            f"sidecars: {summary.sidecar_tags_added:,} tag(s) added, {summary.sidecars_changed:,} sidecar file(s) "
            "changed since the last import",
            soft_wrap=True,
        )
    problems = [o for o in summary.outcomes if o.outcome == "skipped" and o.reason != "already imported"]
    for outcome in problems[:20]:
        line = f"  [yellow]skipped[/] {display_name(outcome.path)}: {outcome.db_reason}"
        console.print(line, highlight=False, soft_wrap=True)
    if len(problems) > 20:
        console.print(f"  ... and {len(problems) - 20} more (see --json)")
    _print_sidecar_notes(summary)


def _print_sidecar_notes(summary: ImportSummary) -> None:
    """Which sidecars were not UTF-8 (and how they were read), cleaned, too large or unreadable."""
    from lorairo.storage.sidecars import NOTE_ENCODING  # pulls in the tag library: only when there are notes

    notes = summary.sidecar_notes
    if not notes:
        return
    not_utf8 = sum(1 for note in notes if note.kind == NOTE_ENCODING)
    console.print(f"sidecar notes: {len(notes):,} ({not_utf8:,} not UTF-8)")
    for note in notes[:20]:
        line = f"  [yellow]{note.kind}[/] {display_name(note.path)}: {note.detail}"
        console.print(line, highlight=False, soft_wrap=True)
    if len(notes) > 20:
        console.print(f"  ... and {len(notes) - 20} more (see --json)")


def import_images(
    paths: Annotated[list[Path], typer.Argument(help="Image files and folders (searched recursively).")],
    project: Annotated[str, typer.Option("--project", "-p", help="Project to import into.")],
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes (default: resources.max_workers).")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the summary and every file's outcome as JSON.")] = False,
) -> None:
    """Import images into a project: copied (or referenced), thumbnailed, hashed, deduplicated.

    Exits 0 when the run completed, even if some files were skipped (each gets a reason).
    """
    from lorairo.services.image_processing_service import ImageProcessingService

    opened = state.projects.open(project)
    try:
        service = ImageProcessingService(state.config, opened)
        summary = service.import_paths(paths, jobs=jobs) if json else _with_progress(service, paths, jobs)
    finally:
        opened.close()
    if json:
        print_json(summary.as_dict())
    else:
        _print_summary(summary)


def _with_progress(service: ImageProcessingService, paths: list[Path], jobs: int | None) -> ImportSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # auto_refresh=False: no refresh thread, so the worker pool can fork from a single-threaded process.
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, auto_refresh=False, transient=False) as bar:
        task = bar.add_task("scanning", total=None, rate="", eta="--:--")
        last = 0.0
        started: float | None = None  # when the total became known (discovery done)

        def on_progress(done: int, total: int, message: str) -> None:
            nonlocal last, started
            now = time.monotonic()
            if now - last < _REFRESH_S and done < total:
                return
            last = now
            if not total:  # still discovering: the message says how many files were found
                bar.update(task, description=message)
                bar.refresh()
                return
            started = started if started is not None else now
            pace = Pace(done, total, now - started)
            bar.update(
                task, completed=done, total=total, description="importing", rate=pace.rate_text(), eta=pace.eta_text
            )
            bar.refresh()

        summary = service.import_paths(paths, jobs=jobs, progress=on_progress)
        bar.update(task, completed=summary.total, total=summary.total or 1, description="done", eta="0:00")
        bar.refresh()
    return summary
