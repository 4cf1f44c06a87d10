"""`lorairo project create|list|info|check|rename|delete`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from lorairo.cli.common import console, err_console, print_json, state
from lorairo.exceptions import ProjectError

app = typer.Typer(help="Create, list, inspect, rename and delete projects.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.command()
def create(name: str, json: JsonOpt = False) -> None:
    """Create a new project (its database and images folder)."""
    project = state.projects.create(name)
    project.close()
    info = state.projects.info(project.name)
    if json:
        print_json(asdict(info))
    else:
        console.print(f"Created project [bold]{info.name}[/] at {info.path}")


@app.command("list")
def list_(json: JsonOpt = False) -> None:
    """List projects with their image counts."""
    infos = state.projects.list_projects()
    if json:
        print_json([asdict(i) for i in infos])
        return
    if not infos:
        console.print(f"No projects yet in {state.projects.root}. Create one with: lorairo project create NAME")
        return
    table = Table("Project", "Images", "Last modified", "Path")
    for info in infos:
        table.add_row(
            info.name,
            str(info.image_count) if not info.error else f"[red]{info.error}[/]",
            info.last_modified.strftime("%Y-%m-%d %H:%M"),
            str(info.path),
        )
    console.print(table)


@app.command()
def info(name: str, json: JsonOpt = False) -> None:
    """Show one project (read-only; says what is wrong with a damaged database and exits 1)."""
    data = state.projects.info(name)
    if json:
        print_json(asdict(data))
    elif data.error:
        err_console.print(f"[red]error:[/] project '{data.name}' cannot be opened: {data.error}", highlight=False)
    else:
        console.print(
            f"[bold]{data.name}[/]: {data.image_count} images, modified "
            f"{data.last_modified:%Y-%m-%d %H:%M}, at {data.path}"
        )
    if data.error:
        raise typer.Exit(1)


@app.command()
def check(
    name: str,
    repair: Annotated[
        bool, typer.Option("--repair", help="Re-create thumbnails, put back missing copies, sweep a killed run.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Check a project: database integrity, images without files, files without images, missing thumbnails.

    Exits 1 when problems remain (after --repair: what it could not fix).
    """
    from lorairo.services.project_check import check_project  # imports Pillow: only for this command

    report = check_project(state.projects, name, repair=repair)
    if json:
        print_json(report.to_dict())
    else:
        for line in report.lines():
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def rename(old: str, new: str, json: JsonOpt = False) -> None:
    """Rename a project."""
    path = state.projects.rename(old, new)
    if json:
        print_json({"name": path.name, "path": path})
    else:
        console.print(f"Renamed '{old}' to '{path.name}'")


@app.command()
def delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask; delete at once.")] = False,
    json: JsonOpt = False,
) -> None:
    """Delete a project and all its files (asks you to type the name unless --yes)."""
    info = state.projects.info(name)
    if not yes:
        typed = typer.prompt(f"Delete '{info.name}' with {info.image_count} images? Type the project name to confirm")
        if typed != info.name:
            raise ProjectError(f"not deleted: '{typed}' does not match '{info.name}'")
    state.projects.delete(info.name, confirm=info.name)
    if json:
        print_json({"deleted": info.name})
    else:
        console.print(f"Deleted project '{info.name}'")
