"""`lorairo tags recategorize --project NAME`: categories for tags imported before a vocabulary was."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from lorairo.cli.common import console, print_json, state

app = typer.Typer(help="Work on a project's tags.", no_args_is_help=True)


@app.command()
def recategorize(
    project: Annotated[str, typer.Option("--project", "-p", help="Project whose tags to categorise.")],
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Give uncategorised tags (sidecar tags, tags typed before a vocabulary existed) the category the tag
    vocabulary knows, so `export --categories` and category ordering work on them. Run it after
    `tag-db import`; imports categorise new sidecar tags by themselves. Tags with a category are left alone.
    """
    from lorairo.services.tag_categories import recategorize_tags  # heavy (SQLAlchemy): only when run
    from lorairo.storage.lock import ProjectLock

    opened = state.projects.open(project)
    try:
        with ProjectLock(opened.root, "tags recategorize"):
            result = recategorize_tags(opened)
    finally:
        opened.close()
    if json:
        print_json(asdict(result) | {"image_ids": len(result.image_ids)})
        return
    if not result.vocabulary:
        console.print("No tag vocabulary imported yet: import one with `tag-db import <csv>`, then run this again.")
        raise typer.Exit(1)
    console.print(
        f"{result.rows_updated:,} tag(s) on {len(result.image_ids):,} image(s) categorised "
        f"({result.names_found:,} of {result.names_looked_up:,} uncategorised names known to the vocabulary)"
    )
