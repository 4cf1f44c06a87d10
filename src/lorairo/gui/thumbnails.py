"""Thumbnails for the grid: read from the project's disk cache on a worker, scaled, kept in a small LRU.

The model asks `request(hash, path_of)`; the loader answers later with `loaded([hash, ...])`. Requests are
served newest first (what the user scrolled to last) and the queue is capped, so fast scrolling through
100k images never builds a backlog. QImage (not QPixmap) is made in the worker: QImage is thread-safe.
Call `request` only from the GUI thread.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

from lorairo.gui.workers import JobContext, JobManager

MAX_PENDING = 400  # about four screens of thumbnails; older requests are dropped (re-requested if seen again)
MAX_WORKERS = 2
BATCH, BATCH_WAIT_S = 12, 0.04  # thumbnails per delivery to the GUI thread, or what is done after 40 ms
IDLE_WAIT_S = 1.0  # a worker waits this long for more requests before it ends (scrolling keeps asking)
PathOf = Callable[[str], Path]  # hash -> cached thumbnail path (it may stat files: called on the worker)


def load_scaled(path: Path, size: int) -> QImage:
    """Decode `path` scaled to fit `size` x `size` (QImageReader scales while decoding JPEGs: fast)."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    original = reader.size()
    if original.isValid() and (original.width() > size or original.height() > size):
        reader.setScaledSize(original.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        raise OSError(f"{path}: {reader.errorString()}")
    return image


class ThumbnailLoader(QObject):
    """Loads thumbnails in the background and caches them as pixmaps (GUI thread side)."""

    loaded = Signal(object)  # list of hashes whose thumbnails are now in the cache
    failed = Signal(str, str)  # hash, reason

    def __init__(
        self, jobs: JobManager, *, size: int = 160, budget_mb: int = 96, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self._budget = budget_mb * 2**20
        self._size = size
        self._capacity = self._capacity_for(size)
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._pending: deque[tuple[str, PathOf, int]] = deque()
        self._queued: set[str] = set()
        self._missing: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._workers = 0

    @property
    def size(self) -> int:
        return self._size

    def _capacity_for(self, size: int) -> int:
        """Pixmaps kept: a memory budget (4 bytes a pixel), never fewer than a few screens' worth."""
        return max(300, self._budget // (size * size * 4))

    def set_size(self, size: int) -> None:
        """Change the display size: cached pixmaps of another size are dropped and reloaded on demand."""
        if size == self._size:
            return
        self._size = size
        self._capacity = self._capacity_for(size)
        self.clear()

    def clear(self) -> None:
        self._cache.clear()
        self._missing.clear()
        with self._lock:
            self._pending.clear()
            self._queued.clear()

    def get(self, hash_value: str) -> QPixmap | None:
        pixmap = self._cache.get(hash_value)
        if pixmap is not None:
            self._cache.move_to_end(hash_value)
        return pixmap

    def is_missing(self, hash_value: str) -> bool:
        return hash_value in self._missing

    def request(self, hash_value: str, path_of: PathOf) -> None:
        """Ask for a thumbnail; `loaded(hash)` follows when it is in the cache. `path_of(hash)` runs on the
        worker (finding the cached file means a stat or two: not on the GUI thread)."""
        if hash_value in self._cache or hash_value in self._missing:
            return
        with self._lock:
            if hash_value in self._queued:
                return
            self._queued.add(hash_value)
            self._pending.append((hash_value, path_of, self._size))
            while len(self._pending) > MAX_PENDING:
                old, _p, _s = self._pending.popleft()
                self._queued.discard(old)
            start = self._workers < MAX_WORKERS and len(self._pending) > self._workers
            if start:
                self._workers += 1
            else:
                self._wake.notify()
        if start:
            self.jobs.submit("Load thumbnails", self._drain, on_partial=self._store, pool="thumbnails", visible=False)

    def _drain(self, ctx: JobContext) -> None:
        """Worker side: load queued thumbnails, newest request first, until the queue is empty. Results go
        to the GUI thread in small batches (one queued event and one repaint per batch, not per image)."""
        batch: list[tuple[str, int, QImage | None, str]] = []
        sent = time.monotonic()
        while not ctx.cancelled:
            with self._lock:
                if not self._pending:
                    if batch:  # deliver what is done before waiting
                        ctx.emit(batch)
                        batch, sent = [], time.monotonic()
                    # Stay a moment: while the user scrolls, requests keep coming, and a new job per burst
                    # would cost the GUI thread a submit each time.
                    waited = 0.0
                    while not self._pending and waited < IDLE_WAIT_S and not ctx.cancelled:
                        self._wake.wait(0.05)  # short slices: closing the window cancels and must not wait 1 s
                        waited += 0.05
                if not self._pending:
                    self._workers -= 1
                    return
                hash_value, path_of, size = self._pending.pop()
            try:
                batch.append((hash_value, size, load_scaled(path_of(hash_value), size), ""))
            except OSError as exc:
                batch.append((hash_value, size, None, str(exc)))
            if len(batch) >= BATCH or time.monotonic() - sent > BATCH_WAIT_S:
                ctx.emit(batch)
                batch, sent = [], time.monotonic()
        if batch:
            ctx.emit(batch)
        with self._lock:
            self._workers -= 1

    def _store(self, batch: list[tuple[str, int, QImage | None, str]]) -> None:
        loaded: list[str] = []
        for hash_value, size, image, error in batch:
            with self._lock:
                self._queued.discard(hash_value)
            if size != self._size:
                continue  # loaded for a size no longer shown
            if image is None:
                self._missing.add(hash_value)
                self.failed.emit(hash_value, error)
                continue
            self._cache[hash_value] = QPixmap.fromImage(image)
            loaded.append(hash_value)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        if loaded:
            self.loaded.emit(loaded)
