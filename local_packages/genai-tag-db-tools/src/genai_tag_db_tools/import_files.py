"""Reading and recognising vocabulary files before anything is written.

`detect_kind` tells the importer from a file's first row; `check_tag_list` refuses a ``.txt`` that is an
image caption rather than one tag per line; `numbered_rows` yields the CSV rows with errors naming the file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import ImportFormatError
from .import_watch import counted_lines, current_watch

KINDS = ("tagcomplete", "wd", "translations", "implications", "deprecated")


def numbered_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, fields) for each non-blank CSV row; errors name the file."""
    number = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            watch = current_watch()
            lines: Iterable[str] = fh if watch is None else counted_lines(fh, watch, path.stat().st_size)
            for row in csv.reader(lines):
                # row[0] holds a name on every real row, so the any() is only paid for odd ones.
                if row and (row[0].strip() or any(cell.strip() for cell in row)):
                    number += 1
                    yield number, row
    except FileNotFoundError as exc:
        raise ImportFormatError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise ImportFormatError(f"{path}: unreadable CSV ({exc})") from exc


def detect_kind(path: str | os.PathLike[str]) -> str:
    """Guess the importer for a file from its first row.

    Raises:
        ImportFormatError: The file is missing, empty or matches no known layout.
    """
    file = Path(path)
    if file.suffix.lower() == ".txt":
        check_tag_list(file)
        return "deprecated"
    for _, row in numbered_rows(file):
        head = [cell.strip().lower() for cell in row]
        if head[:4] == ["tag_id", "name", "category", "count"]:
            return "wd"
        if head[:3] == ["tag", "language", "translation"]:
            return "translations"
        if head[:2] in (["antecedent_name", "consequent_name"], ["antecedent", "consequent"]):
            return "implications"
        if len(row) >= 3 and row[1].strip().lstrip("-").isdigit():
            return "tagcomplete"
        raise ImportFormatError(
            f"{file}: cannot tell the file type from its first row {row[:4]!r}; expected {_EXPECTED} (or pass --kind)"
        )
    raise ImportFormatError(f"{file}: file is empty")


_EXPECTED = (
    "a tagcomplete CSV (name,type,count,aliases), a WD selected_tags.csv (tag_id,name,category,count), "
    "tag,language,translation rows, antecedent,consequent rows, or a .txt deprecation list with one tag per line"
)
# A deprecation list names tags; a line longer than this many words is prose (a caption), not a tag.
_MAX_TAG_WORDS = 6


def tag_list_problem(row: list[str]) -> str | None:
    """Why one row of a one-tag-per-line list is not a tag, or None."""
    fields = [cell.strip() for cell in row]
    extra = [cell for cell in fields[1:] if cell]
    if extra and not all(cell.lstrip("-").isdigit() for cell in extra):
        return f"has {len(fields)} comma-separated entries (an image caption or tag line?)"
    name = fields[0] if fields else ""
    if len(name.split()) > _MAX_TAG_WORDS or name.endswith((".", "!", "?")):
        return "is a sentence, not a tag (an image caption?)"
    return None


def check_tag_list(path: Path) -> None:
    """Refuse a ``.txt`` that is not one tag per line before anything is written.

    The usual mistake is an image's caption sidecar (``1girl, long hair, smile``): taken as a deprecation
    list it would mark every tag of the caption deprecated and hide them from autocomplete and cleaning.
    """
    for number, row in numbered_rows(path):
        line = ",".join(row)
        if line.lstrip().startswith("#"):
            continue
        problem = tag_list_problem(row)
        if problem:
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise ImportFormatError(f"{path}: not a tag list: line {number} {shown!r} {problem}; expected {_EXPECTED}")


def format_from_filename(path: str | os.PathLike[str]) -> str | None:
    """Return ``danbooru`` or ``e621`` when the file name says so, else None."""
    stem = Path(path).stem.lower()
    if "e621" in stem:
        return "e621"
    if "danbooru" in stem:
        return "danbooru"
    return None
