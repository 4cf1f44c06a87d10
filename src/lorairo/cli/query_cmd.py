"""`lorairo query --project P --filter "tag:cat -blurry score>=6" [--json] [--limit N] [--ids]`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lorairo.cli.common import console, print_json, state

if TYPE_CHECKING:  # imports the database layer: loaded only when a query runs
    from lorairo.services.image_query_service import ImageRow


def _tags(row: ImageRow) -> str:
    """Tags with the model's confidence where a model gave one: `long hair 0.93, my tag`."""
    return ", ".join(f"{tag} {row.tag_confidences[tag]:.2f}" if tag in row.tag_confidences else tag for tag in row.tags)


def query(
    project: Annotated[str, typer.Option("--project", "-p", help="Project name.")],
    filter_text: Annotated[
        str,
        typer.Option(
            "--filter",
            "-f",
            help="Filter, e.g. 'tag:\"long hair\" -tag:blurry score>=6 rating:general untagged' (see docs).",
        ),
    ] = "",
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Show at most N images (0 = all).")] = 0,
    ids_only: Annotated[bool, typer.Option("--ids", help="Print only the matching image IDs.")] = False,
) -> None:
    """List the images of a project that match a filter, with their tags, scores and rating."""
    from lorairo.services.image_query_service import ImageQueryService, parse_filter

    image_filter = parse_filter(filter_text)  # parse first: a bad filter fails before the project opens
    proj = state.projects.open(project)
    try:
        service = ImageQueryService(proj.db)
        ids = service.query_ids(image_filter)
        shown = ids[:limit] if limit else ids
        if ids_only:
            if json:
                print_json({"project": proj.name, "count": len(ids), "ids": shown})
            else:
                typer.echo("\n".join(str(i) for i in shown))
            return
        rows = service.fetch_rows(shown)
    finally:
        proj.close()
    if json:
        print_json({"project": proj.name, "count": len(ids), "images": [row.as_dict() for row in rows]})
        return
    table = Table("ID", "File", "Size", "Rating", "Scores", "Tags", title=f"{len(ids)} images match")
    for row in rows:
        scores = ", ".join(f"{name} {value:.2f}" for name, value in sorted(row.scores.items()))
        table.add_row(str(row.id), row.file_name, f"{row.width}x{row.height}", row.rating or "", scores, _tags(row))
    console.print(table)
    if limit and len(ids) > limit:
        console.print(f"(showing {limit} of {len(ids)}; use --limit 0 for all)")
