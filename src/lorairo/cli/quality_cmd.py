"""`lorairo quality --project P [--recompute] [--json]`: measure the quality checks of images that have none.

Images imported before quality checks existed (or with ``quality.compute_at_import = false``) are measured
from their stored originals; the checks then work as filter terms (`lorairo query -f quality:blurry`). Holds
the project's writer lock. Exit code: 0 all measured, 1 some images failed (each named), 2 all failed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from lorairo.cli.common import console, err_console, print_json, state


def quality(
    project: Annotated[str, typer.Option("--project", "-p", help="Project name.")],
    recompute: Annotated[
        bool, typer.Option("--recompute", help="Measure every image again, not only those without metrics.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Measure quality checks (blur, exposure, greyscale, JPEG quality, letterbox...) for existing images."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from lorairo.services.quality_rules import QualityThresholds
    from lorairo.services.quality_service import QualityService
    from lorairo.storage.lock import ProjectLock

    config = state.config
    opened = state.projects.open(project)
    try:
        with ProjectLock(opened.root, "quality check"):
            service = QualityService(opened, QualityThresholds.from_config(config.get))
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                disable=json,
                transient=True,
            ) as bar:
                task = bar.add_task("Measuring", total=None)
                result = service.backfill(
                    recompute=recompute,
                    thumbnail_size=int(config.get("image_processing.thumbnail_size")),
                    max_pixels=int(config.get("image_processing.max_pixels")),
                    progress=lambda done, total, _name: bar.update(task, completed=done, total=total),
                )
            counts = service.counts()
    finally:
        opened.close()
    if json:
        print_json(
            {
                "project": opened.name,
                "measured": len(result.measured),
                "already_measured": result.already,
                "failed": len(result.failures),
                "failures": [{"image_id": i, "file": name, "reason": r} for i, name, r in result.failures],
                "flagged": counts,
            }
        )
    else:
        console.print(
            f"{len(result.measured)} image(s) measured, {result.already} already had metrics, "
            f"{len(result.failures)} failed"
        )
        for image_id, name, reason in result.failures:
            err_console.print(f"[red]failed[/] image {image_id} ({name}): {reason}")
        flagged = ", ".join(f"quality:{check} {n}" for check, n in counts.items() if n)
        console.print(f"flagged: {flagged or 'nothing'}")
    if result.failures:
        raise typer.Exit(2 if not result.measured else 1)
