"""The root `lorairo` command and its sub-commands."""

from __future__ import annotations

from typing import Annotated

import typer

from lorairo import __version__
from lorairo.cli import (
    annotate_cmd,
    config_cmd,
    curate_cmd,
    duplicates_cmd,
    export_cmd,
    import_cmd,
    project_cmd,
    quality_cmd,
    query_cmd,
    region_cmd,
    tags_cmd,
)
from lorairo.cli.common import state

app = typer.Typer(
    name="lorairo",
    help="LoRAIro: import, annotate, review and export image datasets for LoRA / fine-tuning.\n\n"
    "Run without arguments to open the desktop app.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(project_cmd.app, name="project")
app.add_typer(config_cmd.app, name="config")
app.command("import")(import_cmd.import_images)
app.command("annotate")(annotate_cmd.annotate)
app.add_typer(annotate_cmd.models_app, name="models")
app.add_typer(annotate_cmd.batch_app, name="batch")
app.command("query", epilog=query_cmd.QUERY_EPILOG)(query_cmd.query)
app.command("export")(export_cmd.export)
app.add_typer(tags_cmd.app, name="tags")
app.command("duplicates")(duplicates_cmd.duplicates)
app.add_typer(region_cmd.mask_app, name="mask")
app.add_typer(region_cmd.crop_app, name="crop")
app.command("embed")(curate_cmd.embed)
app.command("similar")(curate_cmd.similar)
app.command("outliers")(curate_cmd.outliers)
app.command("near-duplicates")(curate_cmd.near_duplicates)
app.command("select")(curate_cmd.select)
app.command("clusters")(curate_cmd.clusters)
app.command("quality")(quality_cmd.quality)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"LoRAIro {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug output to the console.")] = False,
) -> None:
    state.verbose = verbose
    state.reset()  # every invocation reads configuration afresh (tests run many in one process)
