"""Where a project keeps its files: content-addressed originals and thumbnails, written atomically.

Originals copied into a project live at ``images/<sha[:2]>/<sha[:16]>_<original name>``: the content hash
keeps two different ``image.png`` from different folders apart, the original name keeps the folder readable
and lets export reuse it. Thumbnails live at ``thumbnails/<sha[:2]>/<sha>.<jpg|webp>`` and are shared by every
path with the same content.

Every file is first written under a temporary name ending in :data:`TEMP_SUFFIX` in the same folder, then
moved into place with ``os.replace`` (atomic on one file system), so a reader or a crash never sees half a
file under its final name. Files under a final name that no database row refers to are swept by
:func:`sweep_orphans` at the start of the next import.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Protocol

IMAGES_DIR = "images"
THUMBNAILS_DIR = "thumbnails"
TEMP_SUFFIX = ".part"
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


def sweep_orphans(root: Path, known_files: Collection[str], known_hashes: Collection[str]) -> int:
    """Delete temporary files and files no row refers to under `root/images` and `root/thumbnails`.

    Only call it while holding the project's import lock (no other import may be writing).

    Args:
        root: The project folder.
        known_files: Project-relative POSIX paths of every `ImageRecord.file_path`.
        known_hashes: SHA-256 of every image (thumbnails are named after it).

    Returns:
        How many files were removed.
    """
    removed = 0
    for dirpath, prefix, name in _walk_files(root / IMAGES_DIR):
        if name.endswith(TEMP_SUFFIX) or f"{IMAGES_DIR}/{prefix}{name}" not in known_files:
            Path(dirpath, name).unlink(missing_ok=True)
            removed += 1
    for dirpath, _prefix, name in _walk_files(root / THUMBNAILS_DIR):
        if name.endswith(TEMP_SUFFIX) or name.split(".", 1)[0] not in known_hashes:
            Path(dirpath, name).unlink(missing_ok=True)
            removed += 1
    return removed
