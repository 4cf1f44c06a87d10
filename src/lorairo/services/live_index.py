"""What the in-memory indexes over a project database share (services/live_tag_index.py, live_image_index.py).

Each holds a snapshot read from SQLite on its own read-only connection, one index per open Database (weakly held:
closing a project drops its index), rebuilt on a background thread and swapped in while the old snapshot (and
the change-log overlay each index reads at every call) goes on answering. The first call over a broad filter
builds the first snapshot and waits for it on the caller's worker thread; a small filter never waits (SQL
answers it). Qt-free; thread-safe.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, Self, TypeVar

if TYPE_CHECKING:
    import numpy as np

    from lorairo.database.engine import Database


class Snapshot(Protocol):
    @property
    def rev(self) -> int: ...  # the change log's revision the snapshot was read at


S = TypeVar("S", bound=Snapshot)


def overlay_mask(size: int, ids: np.ndarray, dirty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A boolean mask by image id (at least `size` long) of the filter's `ids` less the images logged since the
    snapshot (`dirty`: the snapshot answers for the others), and which of `dirty` are in the filter (answered from
    their rows now)."""
    import numpy as np

    ids = np.asarray(ids, dtype=np.int64)
    top = max(size, int(ids.max()) + 1 if ids.size else 0, int(dirty.max()) + 1 if dirty.size else 0)
    mask = np.zeros(top, dtype=bool)
    mask[ids[ids >= 0]] = True
    in_filter = mask[dirty]
    mask[dirty] = False
    return mask, in_filter


class LiveIndex(Generic[S]):
    """One in-memory index of one project database (`of(db)`); subclasses read the snapshot (`_read`)."""

    thread_name: ClassVar[str] = "live-index"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._snapshot: S | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.builds = 0  # snapshots built (tests and benchmarks read it)

    @classmethod
    def of(cls, db: Database) -> Self:
        with _REGISTRY_LOCK:
            indexes = _REGISTRY.setdefault(db, {})
            index = indexes.get(cls)
            if index is None:
                index = indexes[cls] = cls(Path(db.path))
            return index  # type: ignore[return-value]  # stored under its own class

    @property
    def snapshot(self) -> S | None:
        return self._snapshot

    @property
    def building(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def _read(self, conn: sqlite3.Connection, on_read: Callable[[], None] | None) -> S:
        raise NotImplementedError

    def build(self, on_read: Callable[[], None] | None = None) -> S:
        """Build a snapshot now on this thread (its own read-only connection) and use it from now on, unless a
        newer one was swapped in meanwhile. `on_read` runs inside the read transaction (tests hold it there)."""
        conn = self._connect()
        try:
            snapshot = self._read(conn, on_read)
        finally:
            conn.close()
        with self._lock:
            if self._snapshot is None or snapshot.rev >= self._snapshot.rev:
                self._snapshot = snapshot
            self.builds += 1
        return snapshot

    def start_build(self, on_read: Callable[[], None] | None = None) -> threading.Thread | None:
        """Build in the background unless a build is running; returns the thread started (None: one runs)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return None
            thread = threading.Thread(target=self._build_quietly, args=(on_read,), name=self.thread_name, daemon=True)
            self._thread = thread
            self._build_started()
        thread.start()
        return thread

    def _build_quietly(self, on_read: Callable[[], None] | None) -> None:
        try:
            self.build(on_read)
        except sqlite3.Error:  # the project closed or moved: calls go on in SQL, the next one tries again
            pass
        finally:
            self._build_ended()

    def _build_started(self) -> None:
        """A background build's thread was created (under the lock, before it starts)."""

    def _build_ended(self) -> None:
        """A background build's thread ends (built or failed)."""

    def _wait_first(self) -> None:
        """Wait until the first build can answer (by default: until its thread ends)."""
        thread = self._thread
        if thread is not None:
            thread.join()

    def _ready(self, images: int, build_from: int) -> S | None:
        """The snapshot for a call over `images` images: the current one, or for a first call over at least
        `build_from` images the first build, waited for (cheaper than SQL there; a failed build leaves it to SQL).
        None: answer in SQL."""
        snapshot = self._snapshot
        if snapshot is None:
            if images < build_from:
                return None
            self.start_build()
            self._wait_first()
            snapshot = self._snapshot
        return snapshot


# Per open Database, its indexes by class (weak: closing a project drops them with it).
_REGISTRY: weakref.WeakKeyDictionary[Database, dict[type, LiveIndex]] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()
