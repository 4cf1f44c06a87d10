"""On-disk cache of the autocomplete index, so a fresh process has suggestions at once.

Building :class:`~genai_tag_db_tools.search.SearchIndex` costs about two seconds of CPU (140k tags); loading
the built index back with :mod:`pickle` costs a fraction of that (figures in docs/benchmarks.md). The cache
file sits beside the base database, one per format, and is valid only for the exact data it was built from:
its key holds the base and overlay data revisions (bumped by every write, from any process), the newest row of
the import history and the identity (device, inode) of both SQLite files, so a deleted and re-created
database, whose revisions restart (and whose file may get the old inode back), does not match an old cache.
Modification times are not part of the key: SQLite touches the file when a connection closes (WAL checkpoint)
without changing the data, which would make every cache stale once.
A stale, truncated or unreadable cache is ignored and rebuilt; writing it is best effort (a read-only data
folder only costs the speed-up). The file is written to a temporary name and renamed, so a reader never sees
half of it.

The cache is the user's own file in the user's data folder, written by this package; it is not a format for
exchanging data (pickle runs code when loaded, so never point it at a file from elsewhere).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from .search import SearchIndex

#: Bump when SearchIndex's attributes change so old caches are rebuilt, not misread.
CACHE_VERSION = 1


def cache_path(base_path: Path, format_name: str) -> Path:
    """Where the index of ``format_name`` is cached for the database at ``base_path``."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in format_name)
    return base_path.with_name(f"{base_path.stem}.search-{safe}.pickle")


def _file_identity(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_dev, st.st_ino)


def cache_key(
    base_path: Path,
    overlay_path: Path,
    format_name: str,
    data_stamp: tuple[int, int],
    last_import: tuple[Any, ...] = (),
) -> tuple[Any, ...]:
    """The identity of the data an index was built from. `last_import` is the newest row of the import history
    (id, time, rows, seconds): a re-created database can get the old file's inode back and restarts its
    revisions, but its import has another duration to the microsecond."""
    return (
        CACHE_VERSION,
        format_name,
        data_stamp,
        tuple(last_import),
        _file_identity(base_path),
        _file_identity(overlay_path),
    )


def load(path: Path, key: tuple[Any, ...]) -> SearchIndex | None:
    """The cached index if the file exists and was built from the data ``key`` names, else None."""
    try:
        with path.open("rb") as fh:
            stored_key = pickle.load(fh)
            if stored_key != key:
                return None
            index = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
        return None
    return index if isinstance(index, SearchIndex) else None


def save(path: Path, key: tuple[Any, ...], index: SearchIndex) -> bool:
    """Write the cache atomically; False (and nothing left behind) when the folder is not writable."""
    tmp_name = ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            # The key first, so a stale cache is rejected without loading the whole index.
            pickle.dump(key, fh, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(index, fh, protocol=pickle.HIGHEST_PROTOCOL)
        Path(tmp_name).replace(path)
        return True
    except OSError:
        if tmp_name:
            Path(tmp_name).unlink(missing_ok=True)
        return False
