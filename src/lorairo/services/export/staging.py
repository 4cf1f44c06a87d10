"""Writing safely: a temporary folder beside the target, moved into place only when the export succeeded.

A target that is not empty is refused unless the user forces it; then the whole target is replaced (a stale
``10_sks/`` beside a new ``3_sks/`` would train twice, and old sd-scripts latent caches would train on the wrong
sizes). A forced target is still refused when it holds a project or images a project was imported from.

Staging folders are named ``.<target>.exporting-<pid>-<random>``: an export that was killed leaves its folder
behind, and the next export to the same place removes every such folder whose process is gone.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from loguru import logger

from lorairo.exceptions import ExportError

_STAGING_TAG = ".exporting-"
_TRASH_TAG = ".replaced-"
_LEFTOVER_RE = re.compile(r"\.(?:exporting|replaced)-(\d+)-")
_UMASK_LOCK = threading.Lock()

#: Errors that mean "no space left": the export stops with one line instead of failing image by image.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def disk_full_error(exc: OSError, target: Path) -> ExportError:
    """One line naming the folder the user chose (the file being written lives in the hidden staging folder)."""
    writing = f" (writing {Path(str(exc.filename)).name})" if exc.filename else ""
    return ExportError(f"disk full at {target}{writing}: nothing was written there; free some space and export again")


def check_target(
    target: Path,
    *,
    force: bool,
    project_root: Path,
    projects_root: Path | None,
    protected: Iterable[tuple[str, str]] = (),
) -> None:
    """Refuse a target that is a file, overlaps a project, or is not empty without force; a forced target that
    holds images a project was imported from (``protected``: (project name, absolute path)).

    Raises:
        ExportError: naming the path and what to do.
    """
    if target.exists() and not target.is_dir():
        raise ExportError(f"export target {target} is a file, not a folder")
    if projects_root is not None:
        projects = projects_root.resolve()
        if projects.is_relative_to(target):
            raise ExportError(
                f"export target {target} holds the projects folder {projects}; choose a folder outside it"
            )
        if target.is_relative_to(projects) and target != projects:
            project_dir = projects / target.relative_to(projects).parts[0]
            if (project_dir / "database.db").exists():
                raise ExportError(
                    f"export target {target} lies in project '{project_dir.name}' ({project_dir}); choose a folder "
                    "outside it"
                )
    root = project_root.resolve()
    if target == root or target.is_relative_to(root) or root.is_relative_to(target):
        raise ExportError(f"export target {target} overlaps the project folder {root}; choose another folder")
    if not target.exists() or is_empty_dir(target):
        return
    if not force:
        raise ExportError(
            f"export target {target} is not empty; choose an empty folder or force it (--force) to replace the "
            "whole folder"
        )
    if (target / "database.db").exists():
        raise ExportError(f"export target {target} holds a LoRAIro project (database.db); --force never replaces it")
    prefix = str(target).rstrip(os.sep) + os.sep
    for owner, path in protected:
        if os.path.normpath(path).startswith(prefix):
            raise ExportError(
                f"export target {target} holds {path}, an image project '{owner}' was imported from; "
                "--force never replaces a project's originals: choose another folder"
            )


def _umask() -> int:
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def make_staging_dir(target: Path) -> Path:
    """A hidden temporary folder beside the target (same file system, so the final move is a rename), with the
    permissions of a folder the user makes (mkdtemp's 0700 would follow the export into place).

    Raises:
        ExportError: the parent folder cannot be written (read-only, no permission, disk full).
    """
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}{_STAGING_TAG}{os.getpid()}-", dir=parent))
        work.chmod(0o777 & ~_umask())
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise disk_full_error(exc, target) from exc
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ExportError(f"cannot write the export into {parent}: {reason.lower()}") from exc
    return work


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_leftovers(target: Path) -> list[Path]:
    """Delete staging / trash folders of earlier exports to ``target`` whose process is gone (killed runs)."""
    parent = target.parent
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for prefix in (f".{target.name}{_STAGING_TAG}", f".{target.name}{_TRASH_TAG}"):
        for entry in parent.glob(f"{glob_escape(prefix)}*"):
            match = _LEFTOVER_RE.search(entry.name[len(target.name) + 1 :])
            if not entry.is_dir() or match is None or _process_alive(int(match.group(1))):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
            logger.info("Removed {} left by an interrupted export", entry)
    return removed


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def move_into_place(staging: Path, target: Path) -> tuple[str, ...]:
    """Move the staged export to ``target``; returns the names of the entries of the target it replaced.

    The old target is renamed aside first and deleted once the new one is in place, so at every moment either
    the old or the new export is complete under the target's name.
    """
    if not target.exists():
        staging.rename(target)
        return ()
    replaced = tuple(sorted(entry.name for entry in target.iterdir()))
    trash = target.parent / f".{target.name}{_TRASH_TAG}{os.getpid()}-{staging.name.rsplit('-', 1)[-1]}"
    try:
        target.rename(trash)
        try:
            staging.rename(target)
        except OSError:
            trash.rename(target)  # put the old export back
            raise
    except OSError as exc:
        raise ExportError(f"could not move the export into {target}: {exc}") from exc
    shutil.rmtree(trash, ignore_errors=True)
    if replaced:
        logger.info("Export replaced {} ({} entries)", target, len(replaced))
    return replaced
