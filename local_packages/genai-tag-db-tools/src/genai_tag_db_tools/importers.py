"""Bulk importers for vocabulary files.

Supported inputs:

* ``tagcomplete``: the a1111-sd-webui-tagcomplete CSV, ``name,type,count,"alias1,alias2"`` without header.
  The type numbering depends on the format (Danbooru vs e621, see :mod:`.categories`).
* ``wd``: a WD tagger ``selected_tags.csv`` (``tag_id,name,category,count``).
* ``translations``: ``tag,language,translation`` (header optional), one translation per row.
* ``implications``: ``antecedent,consequent`` (header optional).
* ``deprecated``: one tag per line.

Every import runs in one transaction and is idempotent: importing the same file twice gives the same
database. Each import is recorded in ``imports`` and every row it writes carries its ``import_id``, so
:func:`.import_history.remove_import` can take one back (``tag-db imports remove ID``) without touching the
user overlay.
A file that is not a vocabulary (an image's caption ``.txt``, a sentence) is refused before anything is
written, naming the file and the layouts that were expected.

Rows are inserted in bulk through SQLAlchemy Core ``executemany``; ORM objects per row would make the
140k-row Danbooru list take minutes instead of seconds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from . import categories as cats
from . import schema as s
from .errors import ImportFormatError
from .import_files import numbered_rows, tag_list_problem
from .import_watch import ImportWatch, current_watch
from .normalize import tag_key

# ImportWatch lives in .import_watch; apps import it from here (it is part of an import's interface).
__all__ = [
    "ImportReport",
    "ImportWatch",
    "import_deprecated",
    "import_implications",
    "import_tagcomplete",
    "import_translations",
    "import_wd_tags",
]

_MAX_ERRORS_KEPT = 50


@dataclass
class ImportReport:
    """Outcome of one import: how many rows were read and imported, and which rows failed and why."""

    kind: str
    path: str
    format: str | None = None
    rows_read: int = 0
    imported: int = 0
    aliases: int = 0
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    seconds: float = 0.0
    import_id: int | None = None

    def add_error(self, message: str) -> None:
        """Record a per-row failure (only the first few messages are kept, all are counted)."""
        self.error_count += 1
        if len(self.errors) < _MAX_ERRORS_KEPT:
            self.errors.append(message)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-serialisable data."""
        return {
            "kind": self.kind,
            "path": self.path,
            "format": self.format,
            "rows_read": self.rows_read,
            "imported": self.imported,
            "aliases": self.aliases,
            "error_count": self.error_count,
            "errors": list(self.errors),
            "seconds": round(self.seconds, 3),
            "import_id": self.import_id,
        }


def _ensure_tags(conn: Connection, names: set[str]) -> dict[str, int]:
    """Insert missing tag names and return name -> id for all of ``names``."""
    ids: dict[str, int] = {}
    if len(names) > 5000:
        # Bulk path: read the whole table once (faster than thousands of IN (...) batches), then insert
        # only the new names with ids assigned here, so nothing has to be read back.
        next_id = 1
        for tag_id, name in conn.exec_driver_sql("SELECT id, name FROM tags").fetchall():
            next_id = max(next_id, tag_id + 1)
            if name in names:
                ids[name] = tag_id
        new = [(next_id + i, n) for i, n in enumerate(sorted(names - ids.keys()))]
        if new:
            conn.exec_driver_sql("INSERT INTO tags (id, name, deprecated) VALUES (?, ?, 0)", new)
            ids.update((n, i) for i, n in new)
        return ids
    if names:
        conn.exec_driver_sql("INSERT OR IGNORE INTO tags (name, deprecated) VALUES (?, 0)", [(n,) for n in names])
    batch = list(names)
    for i in range(0, len(batch), 500):
        part = batch[i : i + 500]
        for tag_id, name in conn.execute(select(s.tags.c.id, s.tags.c.name).where(s.tags.c.name.in_(part))):
            ids[name] = tag_id
    return ids


def _fast_key(name: str) -> str:
    """:func:`tag_key` with a shortcut for names that are already clean (almost all rows of a vocabulary)."""
    # isprintable() rejects tabs and newlines, so with no space the name has no whitespace at all.
    if name.islower() and name.isprintable() and " " not in name and "\\" not in name:
        return name
    return tag_key(name)


def _check_usable(report: ImportReport, path: Path, usable: int) -> None:
    """Refuse a file with no usable row before anything is written (a bad file must not replace good rows)."""
    if report.rows_read and not usable:
        first = report.errors[0] if report.errors else "no usable rows"
        raise ImportFormatError(f"{path}: no row could be imported ({report.error_count} errors; {first})")
    if not report.rows_read:
        raise ImportFormatError(f"{path}: file has no rows")


def _begin_import(conn: Connection, report: ImportReport) -> int:
    """Record the import first, inside its write transaction: its rows carry the id it gets here."""
    result = conn.execute(
        insert(s.imports).values(
            kind=report.kind,
            format=report.format,
            path=report.path,
            rows=0,
            seconds=0.0,
            imported_at=datetime.now(UTC).isoformat(timespec="seconds"),
            undoable=True,
        )
    )
    key = result.inserted_primary_key
    assert key is not None  # a single-row INSERT into a table with an integer primary key
    report.import_id = int(key[0])
    return report.import_id


def _finish(conn: Connection, report: ImportReport, started: float) -> ImportReport:
    # Every importer ends here inside its transaction: a cancel now still rolls everything back.
    watch = current_watch()
    if watch is not None:
        watch.check()
    report.seconds = time.perf_counter() - started
    conn.execute(
        update(s.imports).where(s.imports.c.id == report.import_id).values(rows=report.imported, seconds=report.seconds)
    )
    return report


def import_tagcomplete(engine: Engine, path: str | os.PathLike[str], format_name: str) -> ImportReport:
    """Import an a1111-tagcomplete CSV as the complete vocabulary of ``format_name``.

    Rows this importer wrote earlier for the format are replaced, so a newer file drops tags and aliases
    that are gone from it; rows from other importers (WD) and other formats are kept.
    """
    file = Path(path)
    started = time.perf_counter()
    report = ImportReport(kind="tagcomplete", path=str(file), format=format_name)
    type_map = cats.type_map_for(format_name)
    records: dict[str, tuple[str, int]] = {}
    alias_pairs: dict[str, str] = {}
    for number, row in numbered_rows(file):
        report.rows_read += 1
        if len(row) < 3:
            report.add_error(f"{file}:{number}: expected name,type,count[,aliases], got {len(row)} fields")
            continue
        name = _fast_key(row[0])
        try:
            type_no = int(row[1])
            count = int(row[2] or 0)
        except ValueError:
            report.add_error(f"{file}:{number}: type and count must be integers, got {row[1]!r}, {row[2]!r}")
            continue
        if not name:
            report.add_error(f"{file}:{number}: empty tag name")
            continue
        category = type_map.get(type_no)
        if category is None:
            report.add_error(f"{file}:{number}: unknown {format_name} type {type_no} for {name!r}; kept as unknown")
            category = cats.UNKNOWN
        records[name] = (category, count)
        if len(row) > 3 and row[3]:
            for alias in row[3].split(","):
                key = _fast_key(alias)
                if key and key != name:
                    alias_pairs.setdefault(key, name)
    _check_usable(report, file, len(records))
    with engine.begin() as conn:
        import_id = _begin_import(conn, report)
        ids = _ensure_tags(conn, set(records) | set(alias_pairs.values()))
        conn.execute(
            delete(s.tag_formats).where(s.tag_formats.c.format == format_name, s.tag_formats.c.source == "tagcomplete")
        )
        conn.execute(delete(s.aliases).where(s.aliases.c.format == format_name))
        # Raw executemany through SQLAlchemy's connection: per-row parameter processing of compiled Core
        # statements cost ~4 s for the Danbooru list. OR REPLACE lets this full vocabulary win over WD rows.
        conn.exec_driver_sql(  # non-empty: checked above (executemany with [] fails)
            "INSERT OR REPLACE INTO tag_formats (tag_id, format, category, count, source, import_id) "
            "VALUES (?, ?, ?, ?, 'tagcomplete', ?)",
            # Rows in primary-key order append to the clustered b-trees instead of splitting pages at random.
            sorted((ids[n], format_name, cat, cnt, import_id) for n, (cat, cnt) in records.items()),
        )
        if alias_pairs:
            conn.exec_driver_sql(
                "INSERT OR IGNORE INTO aliases (alias, format, tag_id, import_id) VALUES (?, ?, ?, ?)",
                sorted((a, format_name, ids[n], import_id) for a, n in alias_pairs.items()),
            )
        report.imported = len(records)
        report.aliases = len(alias_pairs)
        return _finish(conn, report, started)


def import_wd_tags(engine: Engine, path: str | os.PathLike[str], format_name: str = "danbooru") -> ImportReport:
    """Import a WD tagger ``selected_tags.csv``; it fills gaps and never overrides tagcomplete data."""
    file = Path(path)
    started = time.perf_counter()
    report = ImportReport(kind="wd", path=str(file), format=format_name)
    records: dict[str, tuple[str, int]] = {}
    header_seen = False
    for number, row in numbered_rows(file):
        if not header_seen:
            header = [cell.strip().lower() for cell in row]
            if header[:4] != ["tag_id", "name", "category", "count"]:
                raise ImportFormatError(f"{file}: expected header tag_id,name,category,count, got {row!r}")
            header_seen = True
            continue
        report.rows_read += 1
        if len(row) < 4:
            report.add_error(f"{file}:{number}: expected 4 fields, got {len(row)}")
            continue
        name = tag_key(row[1])
        try:
            type_no = int(row[2])
            count = int(row[3] or 0)
        except ValueError:
            report.add_error(f"{file}:{number}: category and count must be integers, got {row[2]!r}, {row[3]!r}")
            continue
        category = cats.WD_TYPES.get(type_no)
        if category is None:
            report.add_error(f"{file}:{number}: unknown WD category {type_no} for {name!r}; kept as unknown")
            category = cats.UNKNOWN
        if name:
            records[name] = (category, count)
    _check_usable(report, file, len(records))
    with engine.begin() as conn:
        import_id = _begin_import(conn, report)
        ids = _ensure_tags(conn, set(records))
        conn.execute(delete(s.tag_formats).where(s.tag_formats.c.format == format_name, s.tag_formats.c.source == "wd"))
        conn.execute(
            sqlite_insert(s.tag_formats).on_conflict_do_nothing(),
            [
                {
                    "tag_id": ids[n],
                    "format": format_name,
                    "category": cat,
                    "count": cnt,
                    "source": "wd",
                    "import_id": import_id,
                }
                for n, (cat, cnt) in records.items()
            ],
        )
        report.imported = len(records)
        return _finish(conn, report, started)


def import_translations(engine: Engine, path: str | os.PathLike[str]) -> ImportReport:
    """Import ``tag,language,translation`` rows; several translations per tag and language are kept."""
    file = Path(path)
    started = time.perf_counter()
    report = ImportReport(kind="translations", path=str(file))
    records: set[tuple[str, str, str]] = set()
    for number, row in numbered_rows(file):
        if number == 1 and [c.strip().lower() for c in row[:3]] == ["tag", "language", "translation"]:
            continue
        report.rows_read += 1
        if len(row) < 3 or not row[0].strip() or not row[1].strip() or not row[2].strip():
            report.add_error(f"{file}:{number}: expected tag,language,translation with no empty field")
            continue
        records.add((tag_key(row[0]), row[1].strip().lower(), " ".join(row[2].split())))
    _check_usable(report, file, len(records))
    with engine.begin() as conn:
        import_id = _begin_import(conn, report)
        ids = _ensure_tags(conn, {r[0] for r in records})
        # Rows an earlier import already wrote stay its own: undoing this import keeps them.
        conn.execute(
            sqlite_insert(s.translations).on_conflict_do_nothing(),
            [{"tag_id": ids[t], "language": lang, "text": text, "import_id": import_id} for t, lang, text in records],
        )
        report.imported = len(records)
        return _finish(conn, report, started)


def import_implications(engine: Engine, path: str | os.PathLike[str], format_name: str = "danbooru") -> ImportReport:
    """Import ``antecedent,consequent`` rows (tag -> implied tag) for ``format_name``."""
    file = Path(path)
    started = time.perf_counter()
    report = ImportReport(kind="implications", path=str(file), format=format_name)
    pairs: set[tuple[str, str]] = set()
    for number, row in numbered_rows(file):
        if number == 1 and row[0].strip().lower() in ("antecedent", "antecedent_name"):
            continue
        report.rows_read += 1
        if len(row) < 2 or not tag_key(row[0]) or not tag_key(row[1]) or tag_key(row[0]) == tag_key(row[1]):
            report.add_error(f"{file}:{number}: expected two different tags antecedent,consequent")
            continue
        pairs.add((tag_key(row[0]), tag_key(row[1])))
    _check_usable(report, file, len(pairs))
    with engine.begin() as conn:
        import_id = _begin_import(conn, report)
        ids = _ensure_tags(conn, {t for pair in pairs for t in pair})
        conn.execute(
            sqlite_insert(s.implications).on_conflict_do_nothing(),
            [
                {"tag_id": ids[a], "implied_tag_id": ids[b], "format": format_name, "import_id": import_id}
                for a, b in pairs
            ],
        )
        report.imported = len(pairs)
        return _finish(conn, report, started)


def import_deprecated(engine: Engine, path: str | os.PathLike[str]) -> ImportReport:
    """Mark the tags listed in a file (one per line, optionally followed by numeric columns) as deprecated.

    A line that is not one tag (a caption such as ``1girl, long hair, smile``, or a sentence) is an error of
    that row; a file of nothing else is refused before anything is written.
    """
    file = Path(path)
    started = time.perf_counter()
    report = ImportReport(kind="deprecated", path=str(file))
    names: set[str] = set()
    for number, row in numbered_rows(file):
        if row[0].lstrip().startswith("#"):
            continue
        report.rows_read += 1
        problem = tag_list_problem(row)
        if problem:
            report.add_error(f"{file}:{number}: expected one tag per line; this line {problem}")
            continue
        key = tag_key(row[0])
        if key:
            names.add(key)
    _check_usable(report, file, len(names))
    with engine.begin() as conn:
        import_id = _begin_import(conn, report)
        ids = _ensure_tags(conn, names)
        conn.execute(
            update(s.tags).where(s.tags.c.id == bindparam("tid")).values(deprecated=True),
            [{"tid": i} for i in ids.values()],
        )
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO deprecations (tag_id, import_id) VALUES (?, ?)",
            [(i, import_id) for i in sorted(ids.values())],
        )
        report.imported = len(names)
        return _finish(conn, report, started)
