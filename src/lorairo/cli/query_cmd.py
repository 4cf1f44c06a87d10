"""`lorairo query --project P --filter 'long hair, cat|dog, -blurry' [--ids 1-50] [--json] [--limit N] [-q]`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lorairo.cli.common import console, print_json, state
from lorairo.cli.selection import FilterOption, IdsOption, Selection
from lorairo.services.filter_language import FILTER_HELP

if TYPE_CHECKING:
    from lorairo.services.image_query_service import ImageRow

# Shown under the options of `lorairo query --help` (Typer's rich help keeps its line breaks).
QUERY_EPILOG = FILTER_HELP


def _tags(row: ImageRow) -> str:
    """Tags with the model's confidence where a model gave one: `long hair 0.93, my tag`."""
    return ", ".join(f"{tag} {row.tag_confidences[tag]:.2f}" if tag in row.tag_confidences else tag for tag in row.tags)


def query(
    project: Annotated[str, typer.Option("--project", "-p", help="Project name.")],
    filter_text: FilterOption = None,
    ids: IdsOption = None,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Show at most N images (0 = all).")] = 0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the matching image IDs, one per line (for --ids).")
    ] = False,
) -> None:
    """List the images of a project that match a filter, with their tags, scores and rating."""
    from rich.table import Table

    from lorairo.services.image_query_service import ImageQueryService

    selection = Selection(ids, filter_text)  # parse first: a bad filter fails before the project opens
    proj = state.projects.open(project)
    try:
        found = selection.image_ids(proj)
        shown = found[:limit] if limit else found
        if quiet:
            if json:
                print_json({"project": proj.name, "count": len(found), "ids": shown})
            else:
                typer.echo("\n".join(str(i) for i in shown))
            return
        rows = ImageQueryService(proj.db).fetch_rows(shown)
    finally:
        proj.close()
    # A similar: filter ranks: its cosine is shown (and given in JSON) beside each image, best first.
    similarity = dict(selection.ranking.results) if selection.ranking is not None else None
    if json:
        images = [
            row.as_dict() | ({"similarity": similarity[row.id]} if similarity is not None else {}) for row in rows
        ]
        print_json({"project": proj.name, "count": len(found), "images": images})
        return
    title = f"{len(found)} images match"
    if selection.ranking is not None:
        title += f", most similar first ({selection.ranking.model})"
    columns = ("ID", "File", "Size", "Rating", "Scores", "Tags")
    table = Table(*(("Similarity", *columns) if similarity is not None else columns), title=title)
    for row in rows:
        scores = ", ".join(f"{name} {value:.2f}" for name, value in sorted(row.scores.items()))
        cells = (str(row.id), row.file_name, f"{row.width}x{row.height}", row.rating or "", scores, _tags(row))
        table.add_row(*((f"{similarity[row.id]:.3f}", *cells) if similarity is not None else cells))
    console.print(table)
    if limit and len(found) > limit:
        console.print(f"(showing {limit} of {len(found)}; use --limit 0 for all)")
