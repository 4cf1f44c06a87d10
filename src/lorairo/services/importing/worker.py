"""Per-file work of an import, run in worker processes: read once, hash, check, decode once, write files.

Everything here is picklable and free of database access: the parent process is the single database writer.
A worker writes the thumbnail (named by content hash, so duplicates share it) and the copy of the original
(content-addressed name) through temporary files and ``os.replace``; the parent commits the row afterwards and
removes the copies of files that turned out to be duplicates. Whatever a crash leaves behind without a row is
swept at the start of the next import. Nothing in :func:`process_chunk` raises for a bad file.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import hashlib
import os
import signal
import stat
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from lorairo.services.importing.imaging import (
    ImageMeta,
    Rejected,
    encode_thumbnail,
    open_checked,
    phash_of,
    read_meta,
    reduced_decode,
)
from lorairo.services.importing.quality import QualityMetrics, measure, quantization_of
from lorairo.storage.layout import original_relpath, thumbnail_relpath, write_project_file
from lorairo.storage.sidecars import MAX_SIDECAR_BYTES, Sidecar, read_sidecars

STATUS_OK = "ok"
STATUS_UNCHANGED = "unchanged"  # the path is registered and its bytes still hash to the registered image
STATUS_REJECTED = "rejected"
REASON_DISK_FULL = "disk full"  # not a property of the file: the run stops (see ImageProcessingService)
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker needs to know, sent with every chunk (small to pickle)."""

    project_root: str
    copy_to_project: bool
    max_file_bytes: int
    max_pixels: int
    thumbnail_size: int
    thumbnail_format: str
    thumbnail_quality: int
    read_sidecars: bool
    max_sidecar_bytes: int = MAX_SIDECAR_BYTES
    compute_quality: bool = True  # quality metrics from the thumbnail decode (quality.compute_at_import)


@dataclass(frozen=True)
class FileTask:
    """One discovered file; `known_hash` is set when this path is already registered (hash-check only)."""

    path: str
    known_hash: str | None = None


@dataclass(frozen=True)
class FileResult:
    """What a worker found out about one file."""

    path: str
    status: str
    size: int = 0
    mtime: float | None = None
    hash_value: str = ""
    phash: str = ""
    phash_int: int = 0
    meta: ImageMeta | None = None
    stored_path: str = ""  # ImageRecord.file_path: project-relative when copied, absolute when referenced
    sidecar: Sidecar = field(default_factory=Sidecar)
    quality: QualityMetrics | None = None
    reason: str = ""  # Rejected.code
    detail: str = ""
    # Warnings Pillow / libtiff raised while reading this file ("Corrupt EXIF data", ...): the parent logs
    # them with the file name instead of letting them print over the progress bar.
    warnings: tuple[str, ...] = ()


def _read_bytes(path: str, max_bytes: int) -> tuple[bytes, os.stat_result]:
    try:
        info = Path(path).stat()
    except FileNotFoundError as exc:
        raise Rejected("disappeared", "the file was removed before it could be read") from exc
    except OSError as exc:
        raise Rejected("unreadable", exc.strerror or str(exc)) from exc
    if not stat.S_ISREG(info.st_mode):
        raise Rejected("not a regular file", "a directory, pipe or device, not a file")
    if info.st_size == 0:
        raise Rejected("empty file", "0 bytes")
    if info.st_size > max_bytes:
        raise Rejected("too large", f"{info.st_size / 2**20:,.1f} MB > {max_bytes / 2**20:,.0f} MB limit")
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise Rejected("disappeared", "the file was removed before it could be read") from exc
    except OSError as exc:
        raise Rejected("unreadable", exc.strerror or str(exc)) from exc
    if not data:
        raise Rejected("empty file", "0 bytes")
    if len(data) > max_bytes:
        raise Rejected("too large", f"grew past the {max_bytes / 2**20:,.0f} MB limit while being read")
    return data, info


def _write_new(root: Path, relpath: str, data: bytes) -> None:
    target = root / relpath
    if target.exists():  # same content, same name: an earlier run or a duplicate wrote it already
        return
    try:
        write_project_file(root, relpath, data)  # journaled first, so a crash's leftover is provably ours
    except OSError as exc:
        if exc.filename is None:  # a failed write() names no file: say where it was going
            exc.filename = os.fspath(target)
        raise


def _store(settings: WorkerSettings, path: str, data: bytes, hash_value: str, thumbnail: bytes) -> str:
    root = Path(settings.project_root)
    _write_new(root, thumbnail_relpath(hash_value, settings.thumbnail_format), thumbnail)
    if not settings.copy_to_project:
        return os.path.abspath(path)  # noqa: PTH100 - keep symlinked paths as the user gave them
    relpath = original_relpath(hash_value, Path(path).name)
    _write_new(root, relpath, data)  # the bytes already read for hashing: each file is read once
    return relpath


def _measure_quietly(thumbnail: Image.Image, tables: dict[int, Any] | None) -> QualityMetrics | None:
    """Quality metrics, or None when they cannot be computed: a metric must never cost the import of an image
    (it stays unmeasured; `lorairo quality` reports why)."""
    try:
        return measure(thumbnail, tables)
    except Exception:
        return None


def process_file(task: FileTask, settings: WorkerSettings) -> FileResult:
    """Import one file as far as files go; every problem becomes a rejected result, never an exception."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _process(task, settings)
    if not caught:
        return result
    messages = tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    return dataclasses.replace(result, warnings=messages)


def _sidecar(path: str, settings: WorkerSettings) -> Sidecar:
    return read_sidecars(Path(path), settings.max_sidecar_bytes) if settings.read_sidecars else Sidecar()


def _process(task: FileTask, settings: WorkerSettings) -> FileResult:
    size, mtime = 0, None
    try:
        data, info = _read_bytes(task.path, settings.max_file_bytes)
        size, mtime = info.st_size, info.st_mtime
        hash_value = hashlib.sha256(data).hexdigest()
        if task.known_hash == hash_value:
            return FileResult(
                task.path,
                STATUS_UNCHANGED,
                size=size,
                mtime=mtime,
                hash_value=hash_value,
                sidecar=_sidecar(task.path, settings),  # the writer merges it if the sidecar was edited
            )
        image = open_checked(data, settings.max_pixels)
        meta = read_meta(image)
        tables = quantization_of(image)  # header only: read before decoding changes the image
        thumb_image = reduced_decode(image, settings.thumbnail_size)
        phash_hex, phash_int = phash_of(thumb_image)
        # Measured on the thumbnail already in memory: the metrics cost no extra decode.
        quality = _measure_quietly(thumb_image, tables) if settings.compute_quality else None
        encoded = encode_thumbnail(thumb_image, settings.thumbnail_format, settings.thumbnail_quality)
        del thumb_image, image
        try:
            stored = _store(settings, task.path, data, hash_value, encoded)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                where = exc.filename or settings.project_root
                raise Rejected(REASON_DISK_FULL, f"disk full at {where}") from exc
            raise Rejected("storage error", f"cannot write into the project: {exc}") from exc
        sidecar = _sidecar(task.path, settings)
    except Rejected as rejected:
        return FileResult(
            task.path, STATUS_REJECTED, size=size, mtime=mtime, reason=rejected.code, detail=rejected.detail
        )
    except Exception as exc:  # a Pillow plugin bug must cost one file, not the batch
        return FileResult(
            task.path, STATUS_REJECTED, size=size, mtime=mtime, reason="error", detail=f"{type(exc).__name__}: {exc}"
        )
    return FileResult(
        task.path,
        STATUS_OK,
        size=size,
        mtime=mtime,
        hash_value=hash_value,
        phash=phash_hex,
        phash_int=phash_int,
        meta=meta,
        stored_path=stored,
        sidecar=sidecar,
        quality=quality,
    )


def init_worker() -> None:
    """Pool initializer: on Linux, die with the parent (a ``kill -9`` of the import must not leave workers
    writing files behind its back)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # no prctl: workers still exit when their queue closes
            pass


def process_chunk(tasks: list[FileTask], settings: WorkerSettings) -> list[FileResult]:
    """Process a few files in one round trip to a worker process (amortises pickling and scheduling)."""
    return [process_file(task, settings) for task in tasks]
