"""Find the image files under the paths a user gave: recursive, hidden entries skipped, symlink loops survived.

Discovery finishes before any decoding starts so progress can show a real total early. It only lists and
stats (``os.scandir``), which takes about a second for 100k files.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from lorairo.storage.names import display_name
from lorairo.storage.sidecars import SIDECAR_SUFFIXES

#: Extensions of image files people keep in dataset folders. A file with one of these that is not among the
#: configured extensions is reported as skipped ("unsupported extension"), so the totals count every image
#: file found; other files (.txt sidecars, .json, .zip ...) are not images and are not counted.
IMAGE_LIKE_EXTENSIONS = frozenset(
    {
        *("jpg", "jpeg", "jpe", "jfif", "png", "apng", "webp", "gif", "bmp", "dib", "tif", "tiff", "mpo"),
        *("avif", "heic", "heif", "jxl", "jp2", "j2k", "psd", "tga", "ico", "svg", "qoi", "dds", "exr", "hdr"),
        *("dng", "cr2", "cr3", "nef", "arw", "raf", "orf", "rw2", "pbm", "pgm", "ppm", "pnm", "pcx"),
    }
)


@dataclass(frozen=True)
class DiscoveredFile:
    """A candidate file with the stat values the fast re-run check compares."""

    path: str  # absolute, as reached (through symlinked folders if any)
    size: int
    mtime: float | None


@dataclass(frozen=True)
class Discovery:
    """Files to import in a stable order, plus the given paths that do not exist."""

    files: tuple[DiscoveredFile, ...]
    missing: tuple[str, ...]
    cancelled: bool = False
    # files given explicitly whose extension is not an image extension, and image-like files in folders
    # whose extension is not configured
    ignored: tuple[str, ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()  # folders that could not be listed: (path, reason)
    # sidecar path -> (size, mtime) of every .txt / .caption seen in the folders walked (re-import check)
    sidecars: dict[str, tuple[int, float | None]] = field(default_factory=dict)


def _has_extension(name: str, extensions: frozenset[str]) -> bool:
    _stem, dot, ext = name.rpartition(".")
    return bool(dot) and ext.lower() in extensions


def _is_sidecar(name: str) -> bool:
    return name.lower().endswith(SIDECAR_SUFFIXES)


def _stat(entry: os.DirEntry[str]) -> tuple[int, float | None]:
    try:
        info = entry.stat()
        return info.st_size, info.st_mtime
    except OSError:
        return 0, None  # vanished or unreadable: the worker reports the reason


def discover(
    paths: Iterable[str | Path],
    extensions: Iterable[str],
    *,
    cancel: threading.Event | None = None,
    on_found: Callable[[int], None] | None = None,
) -> Discovery:
    """List image files under `paths` (files are taken as given if their extension matches).

    Args:
        paths: Files and folders to import.
        extensions: File extensions without the dot, case-insensitive.
        cancel: Set it to stop early (what was found so far is returned with ``cancelled=True``).
        on_found: Called now and then with the number of files found so far.

    Returns:
        The files sorted by path within each given root, duplicates of the same path removed.
    """
    wanted = frozenset(ext.lower().lstrip(".") for ext in extensions)
    found: dict[str, DiscoveredFile] = {}
    missing: list[str] = []
    ignored: list[str] = []
    unreadable: list[tuple[str, str]] = []
    sidecars: dict[str, tuple[int, float | None]] = {}
    image_like = IMAGE_LIKE_EXTENSIONS - wanted
    seen_dirs: set[str] = set()  # resolved folders already walked: a symlink loop ends here

    def add(path: str, entry: os.DirEntry[str] | None) -> None:
        if path in found:
            return
        if entry is not None:
            size, mtime = _stat(entry)
        else:
            try:
                info = Path(path).stat()
                size, mtime = info.st_size, info.st_mtime
            except OSError:
                size, mtime = 0, None
        found[path] = DiscoveredFile(path, size, mtime)
        if on_found is not None and len(found) % 1000 == 0:
            on_found(len(found))

    def walk(folder: str) -> bool:
        stack = [folder]
        while stack:
            if cancel is not None and cancel.is_set():
                return False
            current = stack.pop()
            real = os.path.realpath(current)
            if real in seen_dirs:
                logger.debug("skipping {} (already walked as {})", current, real)
                continue
            seen_dirs.add(real)
            try:
                with os.scandir(current) as entries:
                    listed = sorted(entries, key=lambda e: e.name)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                logger.warning("cannot list {}: {}", display_name(current), reason)
                unreadable.append((current, reason))
                continue
            subdirs: list[str] = []
            for entry in listed:
                if entry.name.startswith("."):
                    continue  # hidden files and folders (.git, .thumbnails, macOS ._ files)
                try:
                    is_dir = entry.is_dir()  # follows symlinks; loops are caught by seen_dirs
                except OSError:
                    is_dir = False
                if is_dir:
                    subdirs.append(entry.path)
                elif _has_extension(entry.name, wanted):
                    add(entry.path, entry)  # pipes and devices too: the worker reports them
                elif _is_sidecar(entry.name):
                    size, mtime = _stat(entry)
                    if mtime is not None:
                        sidecars[entry.path] = (size, mtime)
                elif _has_extension(entry.name, image_like):
                    ignored.append(entry.path)
            stack.extend(reversed(subdirs))  # depth first, in name order
        return True

    for given in paths:
        # abspath, not resolve(): keep the path as the user reached it, through symlinks
        path = os.path.abspath(os.fspath(given))  # noqa: PTH100
        if Path(path).is_dir():
            if not walk(path):
                return Discovery(
                    tuple(found.values()),
                    tuple(missing),
                    cancelled=True,
                    ignored=tuple(ignored),
                    unreadable=tuple(unreadable),
                    sidecars=sidecars,
                )
        elif os.path.lexists(path):
            if _has_extension(Path(path).name, wanted):
                add(path, None)
                for suffix in SIDECAR_SUFFIXES:  # a file given alone: its sidecars are not listed by a walk
                    sidecar = Path(path).with_suffix(suffix)
                    try:
                        info = sidecar.stat()
                    except OSError:
                        continue
                    sidecars[str(sidecar)] = (info.st_size, info.st_mtime)
            else:
                ignored.append(path)
        else:
            missing.append(path)
    return Discovery(
        tuple(found.values()),
        tuple(missing),
        ignored=tuple(ignored),
        unreadable=tuple(unreadable),
        sidecars=sidecars,
    )
