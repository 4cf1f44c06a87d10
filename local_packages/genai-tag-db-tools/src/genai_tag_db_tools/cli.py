"""``tag-db`` command line: import (and undo), download, search, clean, stats. Every command takes ``--json``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .errors import TagDbError
from .paths import DB_DIR_ENV

app = typer.Typer(
    name="tag-db",
    help="Tag database (Danbooru, e621, ...): import vocabularies, search, clean tag lists.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")

DbDir = Annotated[
    Path | None,
    typer.Option("--db-dir", envvar=DB_DIR_ENV, help="Folder with the databases (default: user data dir)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
FormatOpt = Annotated[str | None, typer.Option("--format", "-f", help="Vocabulary format (danbooru, e621, ...).")]


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _run(action: Callable[[], T]) -> T:
    """Run an action; any expected error becomes one line on stderr and exit status 1."""
    try:
        return action()
    except TagDbError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        raise typer.Exit(1) from None


def _open(db_dir: Path | None) -> Any:
    from .database import TagDatabase

    return TagDatabase(db_dir)


def _console() -> Any:
    from rich.console import Console

    # In a pipe rich would fit tables into 80 columns and cut cells with "…" (paths, dates): give it room.
    return Console(width=None if sys.stdout.isatty() else 10_000)


@app.command("import")
def import_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="Vocabulary CSV (tagcomplete, WD selected_tags, translations, implications) or a .txt list "
            "of deprecated tags, one per line."
        ),
    ],
    kind: Annotated[
        str | None,
        typer.Option(help="tagcomplete | wd | translations | implications | deprecated (default: detect)."),
    ] = None,
    format_name: FormatOpt = None,
    db_dir: DbDir = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a vocabulary file into the base database (re-importing the same file changes nothing).

    Every import is recorded: `tag-db imports remove LAST` takes it back."""

    def action() -> dict[str, Any]:
        with _open(db_dir) as db:
            return dict(db.import_file(file, kind=kind, format_name=format_name).as_dict())

    report = _run(action)
    if as_json:
        _emit_json(report)
        return
    fmt = f" ({report['format']})" if report["format"] else ""
    _console().print(
        f"Imported {report['imported']} {report['kind']} rows{fmt} and {report['aliases']} aliases "
        f"from {report['path']} in {report['seconds']:.2f} s; {report['error_count']} rows skipped. "
        f"Undo with: tag-db imports remove {report['import_id']}",
        highlight=False,
    )
    for message in report["errors"][:10]:
        typer.echo(f"  skipped: {message}", err=True)


imports_app = typer.Typer(help="Imports done so far; take one back.", no_args_is_help=True)
app.add_typer(imports_app, name="imports")


@imports_app.command("list")
def imports_list(db_dir: DbDir = None, as_json: JsonOpt = False) -> None:
    """Every import with the rows it still owns (0 when a later import of the same list replaced them)."""

    def action() -> list[dict[str, Any]]:
        with _open(db_dir) as db:
            return [record.as_dict() for record in db.imports()]

    records = _run(action)
    if as_json:
        _emit_json(records)
        return
    if not records:
        typer.echo("No imports recorded.")
        return
    from rich.table import Table

    table = Table("ID", "Kind", "Format", "Rows now", "Imported at", "File")
    for r in records:
        rows = f"{r['live_rows']:,}" if r["undoable"] else "(before undo existed)"
        table.add_row(str(r["id"]), r["kind"], r["format"] or "", rows, r["imported_at"], r["path"])
    _console().print(table)


@imports_app.command("remove")
def imports_remove(
    which: Annotated[str, typer.Argument(help="Import ID from `tag-db imports list`, or LAST.", metavar="ID|LAST")],
    db_dir: DbDir = None,
    as_json: JsonOpt = False,
) -> None:
    """Undo one import: its tags, aliases, implications, translations and deprecations go; your own
    additions (the user overlay) stay."""

    def action() -> dict[str, Any]:
        with _open(db_dir) as db:
            return db.remove_import(which)

    result = _run(action)
    if as_json:
        _emit_json(result)
        return
    removed = ", ".join(f"{n:,} {table.replace('_', ' ')}" for table, n in result["removed"].items() if n)
    _console().print(
        f"Removed import {result['import_id']} ({result['kind']}, {result['path']}): {removed or 'no rows left'}"
        + (f"; {result['undeprecated']:,} tags no longer deprecated" if result["undeprecated"] else ""),
        highlight=False,
    )


@app.command()
def download(
    source: Annotated[
        str | None, typer.Argument(help="danbooru | e621 | http(s) URL | hf://datasets/OWNER/REPO/FILE[@REV]")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Importer to use (default: detect).")] = None,
    format_name: FormatOpt = None,
    no_import: Annotated[bool, typer.Option("--no-import", help="Only download the file.")] = False,
    timeout: Annotated[float, typer.Option(help="Network timeout in seconds.")] = 30.0,
    db_dir: DbDir = None,
    as_json: JsonOpt = False,
) -> None:
    """Download a vocabulary into the data directory, then import it."""
    from .download import download_and_import, download_vocabulary

    def action() -> dict[str, Any]:
        with _open(db_dir) as db:
            if no_import:
                path = download_vocabulary(source, data_dir=db.data_dir, timeout=timeout)
                return {"path": str(path), "import": None}
            path, report = download_and_import(db, source, kind=kind, format_name=format_name, timeout=timeout)
            return {"path": str(path), "import": report.as_dict()}

    result = _run(action)
    if as_json:
        _emit_json(result)
        return
    message = f"Downloaded {result['path']}"
    if result["import"]:
        message += f"; imported {result['import']['imported']} rows"
    _console().print(message)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Text to complete, e.g. 'long ha' or 'long_ha'.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 20,
    format_name: FormatOpt = None,
    prefix_first: Annotated[bool, typer.Option(help="List prefix matches before other matches.")] = False,
    db_dir: DbDir = None,
    as_json: JsonOpt = False,
) -> None:
    """Autocomplete: prefix, substring, alias and translation matches ranked by usage count."""

    def action() -> list[dict[str, Any]]:
        with _open(db_dir) as db:
            fmt = format_name or db.default_format
            if fmt not in db.formats():
                raise TagDbError(
                    f"no {fmt} tags in {db.base_path}; run `tag-db import FILE` or `tag-db download {fmt}` first"
                )
            return [r.as_dict() for r in db.search(query, limit=limit, format_name=fmt, prefix_first=prefix_first)]

    results = _run(action)
    if as_json:
        _emit_json(results)
        return
    from rich.table import Table

    table = Table("tag", "category", "count", "match", "aliases")
    for r in results:
        table.add_row(r["name"], r["category"], f"{r['count']:,}", r["match"], ", ".join(r["aliases"][:5]))
    _console().print(table if results else f"No tag matches {query!r}.")


@app.command()
def clean(
    caption: Annotated[str | None, typer.Argument(help="Caption or tag list; '-' or nothing reads stdin.")] = None,
    format_name: FormatOpt = None,
    underscores: Annotated[bool, typer.Option("--underscores", help="Write long_hair instead of long hair.")] = False,
    lowercase: Annotated[bool, typer.Option("--lowercase", help="Lowercase unknown tags.")] = False,
    keep_order: Annotated[bool, typer.Option("--keep-order", help="Do not reorder by category.")] = False,
    no_db: Annotated[bool, typer.Option("--no-db", help="Pure rules only, no alias or category lookups.")] = False,
    blacklist: Annotated[list[str] | None, typer.Option("--blacklist", "-b", help="Tag to drop (repeatable).")] = None,
    db_dir: DbDir = None,
    as_json: JsonOpt = False,
) -> None:
    """Clean one caption: normalise, resolve aliases, drop deprecated/blacklisted, dedupe, order."""
    from .caption import format_tags
    from .cleaner import TagCleaner
    from .ordering import DEFAULT_CATEGORY_ORDER

    text = sys.stdin.read() if caption in (None, "-") else caption

    def action() -> dict[str, Any]:
        db = None if no_db else _open(db_dir)
        try:
            cleaner = TagCleaner(
                db,
                format_name=format_name or "danbooru",
                lowercase=lowercase,
                spaces=not underscores,
                blacklist=blacklist or (),
                order=None if keep_order else DEFAULT_CATEGORY_ORDER,
            )
            result = cleaner.clean_detailed(text or "")
        finally:
            if db is not None:
                db.close()
        data = result.as_dict()
        data["caption"] = format_tags(result.tags, underscores_to_spaces=False)
        return data

    data = _run(action)
    if as_json:
        _emit_json(data)
        return
    typer.echo(data["caption"])
    for tag, reason in data["removed"].items():
        typer.echo(f"  removed {tag!r}: {reason}", err=True)


@app.command()
def stats(db_dir: DbDir = None, as_json: JsonOpt = False) -> None:
    """Show what the databases contain."""

    def action() -> dict[str, Any]:
        with _open(db_dir) as db:
            return dict(db.stats())

    data = _run(action)
    if as_json:
        _emit_json(data)
        return
    from rich.table import Table

    table = Table("format", "tags", "aliases", "total uses")
    for fmt, row in data["formats"].items():
        table.add_row(fmt, f"{row['tags']:,}", f"{row.get('aliases', 0):,}", f"{row['total_count']:,}")
    console = _console()
    console.print(f"Base: {data['base_path']}\nUser overlay: {data['overlay_path']}")
    console.print(table)
    console.print(" ".join(f"{k}={v}" for k, v in {**data["base"], **data["user"]}.items()))


def main() -> None:
    """Entry point of the ``tag-db`` script."""
    import shutil

    # In a pipe or a narrow terminal the boxed help layout cuts option names; click's plain layout never does.
    if not sys.stdout.isatty() or shutil.get_terminal_size().columns < 100:
        app.rich_markup_mode = imports_app.rich_markup_mode = None
    app()


if __name__ == "__main__":
    main()
