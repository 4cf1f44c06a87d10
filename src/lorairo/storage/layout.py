"""Where a project keeps its files: content-addressed originals and thumbnails, written atomically.

Originals copied into a project live at ``images/<sha[:2]>/<sha[:16]>_<original name>``: the content hash
keeps two different ``image.png`` from different folders apart, the original name keeps the folder readable
and lets export reuse it. Thumbnails live at ``thumbnails/<sha[:2]>/<sha>.<jpg|webp>`` and are shared by every
path with the same content.

Every file is first written under a temporary name ending in :data:`TEMP_SUFFIX` in the same folder, then
moved into place with ``os.replace`` (atomic on one file system), so a reader or a crash never sees half a
file under its final name.

Before a writer creates a project file it appends the file's project-relative path to a write-intent journal
(``.write-intents/<pid>.log``, :func:`write_project_file`). :func:`sweep_orphans` deletes only files named in
a journal whose row is absent, and their temporary files: a file is proven an orphan because a run said it
was writing it and never committed a row for it. Files that nothing recorded (a project restored from a
backup, a database that is not ours, files a user put there) are never touched; ``lorairo project check``
reports them instead. A journal line reaches the kernel before the file exists, so a ``kill -9`` cannot
lose it; a power cut may, and then a file is kept that could have been deleted, never the reverse.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Protocol

IMAGES_DIR = "images"
THUMBNAILS_DIR = "thumbnails"
TEMP_SUFFIX = ".part"
INTENTS_DIR = ".write-intents"
THUMBNAIL_EXTENSIONS = {"jpeg": ".jpg", "webp": ".webp"}
_MAX_NAME_BYTES = 180  # leaves room for "<16 hex>_" and a temp suffix under the usual 255-byte limit
# Also the lone surrogates that stand for bytes of a name that was not UTF-8 (storage/names.py).
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|\udc80-\udcff]')


class HasRoot(Protocol):
    """Anything with a project folder (`lorairo.services.project_service.Project`)."""

    @property
    def root(self) -> Path: ...


def safe_file_name(name: str) -> str:
    """A file name that every platform accepts: control and reserved characters become ``_``, the stem is
    cut to fit (at a UTF-8 character boundary), the extension is lowercased and kept."""
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip(" .") or "image"
    stem, dot, ext = cleaned.rpartition(".")
    if not dot:
        stem, ext = cleaned, ""
    ext = f".{ext.lower()}" if ext else ""
    budget = _MAX_NAME_BYTES - len(ext.encode("utf-8"))
    stem_bytes = stem.encode("utf-8")[: max(budget, 1)]
    stem = stem_bytes.decode("utf-8", errors="ignore") or "image"
    return stem + ext


def original_relpath(hash_value: str, file_name: str) -> str:
    """Project-relative POSIX path of a copied original (what `ImageRecord.file_path` stores)."""
    return f"{IMAGES_DIR}/{hash_value[:2]}/{hash_value[:16]}_{safe_file_name(file_name)}"


def thumbnail_relpath(hash_value: str, fmt: str = "jpeg") -> str:
    """Project-relative POSIX path of the thumbnail of `hash_value` in format `fmt` (jpeg / webp)."""
    return f"{THUMBNAILS_DIR}/{hash_value[:2]}/{hash_value}{THUMBNAIL_EXTENSIONS[fmt]}"


def thumbnail_path(project: HasRoot, hash_value: str) -> Path:
    """Absolute path of the cached thumbnail of an image, whichever format it was written in.

    Returns the JPEG path when no thumbnail exists yet (the default format).
    """
    for fmt in ("jpeg", "webp"):
        candidate = project.root / thumbnail_relpath(hash_value, fmt)
        if candidate.exists():
            return candidate
    return project.root / thumbnail_relpath(hash_value, "jpeg")


def image_path(project: HasRoot, file_path: str) -> Path:
    """Absolute path of an image file from `ImageRecord.file_path` (relative when copied, absolute otherwise)."""
    path = Path(file_path)
    return path if path.is_absolute() else project.root / path


def temp_name(final: Path) -> Path:
    """A temporary name beside `final`, unique per process, that :func:`sweep_orphans` recognises."""
    return final.with_name(f".{final.name}.{os.getpid()}{TEMP_SUFFIX}")


def atomic_write_bytes(final: Path, data: bytes) -> None:
    """Write `data` to `final` through a temporary file and ``os.replace``; no partial file is ever visible."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(final)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        tmp.replace(final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _walk_files(folder: Path) -> Iterator[tuple[str, str, str]]:
    """(directory, folder-relative POSIX prefix, file name) of every file below `folder`. Plain strings: at
    100k files, Path objects made this walk several times slower."""
    top = str(folder)
    for dirpath, _dirs, files in os.walk(top):
        prefix = os.path.relpath(dirpath, top).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        for name in files:
            yield dirpath, prefix, name


def record_write_intent(root: Path, relpath: str) -> None:
    """Append `relpath` to this process's write-intent journal (before the file is created).

    One ``O_APPEND`` write per line: a ``kill -9`` after it returns cannot lose the line, and a process only
    ever appends to its own journal, so no locking is needed between worker processes.
    """
    folder = root / INTENTS_DIR
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / f"{os.getpid()}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, relpath.encode("utf-8", "surrogateescape") + b"\n")
    finally:
        os.close(fd)


def write_project_file(root: Path, relpath: str, data: bytes) -> None:
    """Write a project file (an original's copy, a thumbnail): journal the intent, then write atomically."""
    record_write_intent(root, relpath)
    atomic_write_bytes(root / relpath, data)


def _journal_entries(journal: Path) -> set[str]:
    """The paths one journal names: complete lines only, and only inside ``images/`` or ``thumbnails/``."""
    entries: set[str] = set()
    *complete, _partial = journal.read_bytes().split(b"\n")
    for line in complete:
        rel = line.decode("utf-8", "surrogateescape")
        parts = rel.split("/")
        if len(parts) >= 2 and parts[0] in (IMAGES_DIR, THUMBNAILS_DIR) and not {"", ".", ".."} & set(parts):
            entries.add(rel)
    return entries


def _journals(root: Path) -> list[Path]:
    folder = root / INTENTS_DIR
    return sorted(folder.glob("*.log")) if folder.is_dir() else []


def journaled_files(root: Path) -> tuple[list[Path], set[str]]:
    """(the journals, every project-relative path they name). Only complete lines count, and only paths
    inside ``images/`` or ``thumbnails/``: a damaged journal can never name a file outside them."""
    journals = _journals(root)
    written: set[str] = set()
    for journal in journals:
        written |= _journal_entries(journal)
    return journals, written


def sweep_orphans(root: Path, referenced: Callable[[Collection[str]], Collection[str]]) -> int:
    """Delete the files a run journaled as being written whose row is absent, and their temporary files.

    Only call it while holding the project's lock (no writer is running, so every journal is finished).
    Every journaled name is looked up directly, its temporary too (``.<name>.<pid>.part``: the journal
    ``<pid>.log`` and the temporary are made by the same process, `write_project_file`): the cost follows
    the journals, never the number of files in the project's folders (a 1M-image project has ~4,000 files
    in each of its 256 image folders, which listing them would read at every import).

    Args:
        root: The project folder.
        referenced: Given journaled project-relative paths, returns those a database row refers to
            (``ImportRepository.referenced_files``).

    Returns:
        How many files were removed. The journals are deleted afterwards (their work is settled).
    """
    journals = _journals(root)
    if not journals:
        return 0
    entries = {journal: _journal_entries(journal) for journal in journals}
    keep = set(referenced(set().union(*entries.values())))
    removed = 0
    linked: dict[Path, bool] = {}  # a folder that is a link is not the project's own: never touched
    for journal, names in entries.items():
        pid = journal.stem
        for rel in sorted(names):
            path = root / rel
            if linked.setdefault(path.parent, path.parent.is_symlink()):
                continue
            if rel not in keep and path.is_file() and not path.is_symlink():
                path.unlink()
                removed += 1
            temporary = path.with_name(f".{path.name}.{pid}{TEMP_SUFFIX}")
            if temporary.is_file() and not temporary.is_symlink():
                temporary.unlink()
                removed += 1
    for journal in journals:
        journal.unlink(missing_ok=True)
    return removed


def untracked_files(root: Path, known_files: Collection[str], known_hashes: Collection[str]) -> list[str]:
    """Project-relative paths under ``images/`` and ``thumbnails/`` that no row refers to (for reports only:
    nothing proves they are ours to delete)."""
    found: list[str] = []
    for _dirpath, prefix, name in _walk_files(root / IMAGES_DIR):
        rel = f"{IMAGES_DIR}/{prefix}{name}"
        if rel not in known_files:
            found.append(rel)
    for _dirpath, prefix, name in _walk_files(root / THUMBNAILS_DIR):
        if name.split(".", 1)[0] not in known_hashes:
            found.append(f"{THUMBNAILS_DIR}/{prefix}{name}")
    return sorted(found)
