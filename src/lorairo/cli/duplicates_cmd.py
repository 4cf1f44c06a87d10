"""`lorairo duplicates --project P [--all] [--json]`: what the near-duplicate review dialog shows, in the CLI.

Near-duplicates are groups of images linked by a small pHash distance (found at import; each link has its
distance and a status, pending until the group is resolved or dismissed in the app). Exact duplicates are one
image found at several paths (stored once; every path is listed).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lorairo.cli.common import console, print_json, state


def duplicates(
    project: Annotated[str, typer.Option("--project", "-p", help="Project name.")],
    include_reviewed: Annotated[
        bool, typer.Option("--all", help="Also groups already reviewed (resolved or dismissed) in the app.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """List the near-duplicate groups of the review and the exact duplicates. Groups are linked by pHash (a
    perceptual hash compared at import: resized or re-encoded copies) and by embeddings where `lorairo
    near-duplicates` (SEMANTIC, needs `lorairo embed`) added links; exact duplicates are one file found at several
    paths."""
    from rich.table import Table

    from lorairo.services.edit_service import EditService
    from lorairo.services.image_query_service import ImageQueryService

    proj = state.projects.open(project)
    try:
        groups = EditService(proj).near_duplicate_groups(include_reviewed=include_reviewed)
        exact = ImageQueryService(proj.db).exact_duplicates()
    finally:
        proj.close()
    near: list[dict[str, Any]] = [
        {
            "images": [
                {
                    "id": m.image_id,
                    "file_name": m.file_name,
                    "file_path": m.file_path,
                    "width": m.width,
                    "height": m.height,
                    "file_size": m.file_size,
                    "tags": m.tag_count,
                    "excluded": m.excluded,
                }
                for m in group.members
            ],
            "links": [{"image_id": a, "match_image_id": b, "distance": d} for a, b, d in group.links],
        }
        for group in groups
    ]
    if json:
        print_json(
            {
                "project": proj.name,
                "near_duplicates": near,
                "exact_duplicates": [{"image_id": i, "file_name": n, "paths": p} for i, n, p in exact],
            }
        )
        return
    if not groups and not exact:
        reviewed = "" if include_reviewed else " (pending; --all includes reviewed groups)"
        console.print(f"No near-duplicates{reviewed} and no exact duplicates in {proj.name}.")
        return
    for number, group in enumerate(near, start=1):
        table = Table("ID", "File", "Size", "Tags", "Excluded", title=f"Near-duplicate group {number}")
        for image in group["images"]:
            table.add_row(
                str(image["id"]),
                image["file_name"],
                f"{image['width']}x{image['height']}",
                str(image["tags"]),
                "yes" if image["excluded"] else "",
            )
        console.print(table)
        links = ", ".join(f"{x['image_id']}-{x['match_image_id']} distance {x['distance']}" for x in group["links"])
        console.print(f"  links: {links}", highlight=False)
    if exact:
        table = Table("ID", "File", "Found at", title="Exact duplicates (stored once)")
        for image_id, name, paths in exact:
            table.add_row(str(image_id), name, "\n".join(paths))
        console.print(table)
    console.print(f"{len(groups)} near-duplicate groups, {len(exact)} images found at several paths")
