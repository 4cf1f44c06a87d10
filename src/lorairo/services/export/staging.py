"""Writing safely: a temporary folder beside the target, moved into place only when the export succeeded.

A target that is not empty is refused unless the user forces it; then only the entries this export writes are
replaced, and stale sd-scripts caches are removed everywhere under the target (sd-scripts reads image sizes
from cache file names, so old caches would train on the wrong sizes or captions).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from loguru import logger

from lorairo.exceptions import ExportError

#: sd-scripts latent caches (``<stem>_0832x1216_sd.npz``, ``..._sdxl.npz``) and its bucket metadata cache.
_STALE_CACHE_RE = re.compile(r"(_\d{3,5}x\d{3,5}_sd\.npz|_sdxl\.npz)$", re.IGNORECASE)
STALE_METADATA_CACHE = "metadata_cache.json"


def is_stale_cache(name: str) -> bool:
    return bool(_STALE_CACHE_RE.search(name)) or name == STALE_METADATA_CACHE


def is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def check_target(target: Path, *, force: bool, forbidden_roots: Iterable[Path], sources: Iterable[Path]) -> None:
    """Refuse a target that is a file, lies in the project, holds source images, or is not empty without force.

    Raises:
        ExportError: naming the path and what to do.
    """
    if target.exists() and not target.is_dir():
        raise ExportError(f"export target {target} is a file, not a folder")
    for root in forbidden_roots:
        root = root.resolve()
        if target == root or target.is_relative_to(root) or root.is_relative_to(target):
            raise ExportError(f"export target {target} overlaps the project folder {root}; choose another folder")
    for source in sources:
        if source.resolve().is_relative_to(target):
            raise ExportError(
                f"export target {target} contains the source image {source}; an export never writes over sources"
            )
    if target.exists() and not is_empty_dir(target) and not force:
        raise ExportError(
            f"export target {target} is not empty; choose an empty folder or force it (--force) to replace the "
            "exported files there and remove stale sd-scripts caches"
        )


def make_staging_dir(target: Path) -> Path:
    """A hidden temporary folder beside the target (same file system, so the final move is a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.exporting-", dir=target.parent))


def remove_stale_caches(target: Path) -> int:
    """Delete sd-scripts caches under ``target``; returns how many files went."""
    removed = 0
    if not target.is_dir():
        return 0
    for dirpath, _dirs, files in os.walk(target):
        for name in files:
            if is_stale_cache(name):
                (Path(dirpath) / name).unlink()
                removed += 1
    return removed


def move_into_place(staging: Path, target: Path) -> tuple[str, ...]:
    """Move the staged export to ``target``; returns the names of existing entries that were replaced.

    An empty or missing target is replaced by a rename of the whole folder. Otherwise each top-level entry is
    renamed in, and an existing entry of the same name is first moved aside and deleted once all entries are in.
    """
    if not target.exists() or is_empty_dir(target):
        if target.exists():
            target.rmdir()
        staging.rename(target)
        return ()
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.replaced-", dir=target.parent))
    replaced: list[str] = []
    try:
        for entry in sorted(staging.iterdir()):
            dest = target / entry.name
            if dest.exists() or dest.is_symlink():
                dest.rename(trash / entry.name)
                replaced.append(entry.name)
            entry.rename(dest)
    except OSError as exc:
        raise ExportError(f"could not move the export into {target}: {exc}") from exc
    finally:
        shutil.rmtree(trash, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("Export replaced {} entries in {}", len(replaced), target)
    return tuple(replaced)
