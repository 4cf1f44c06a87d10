"""Per-tag image id lists held in memory, for exact tag counts over a filter's images at 1M images.

The tags panel and the statistics view count, per live tag text, the distinct images of a filter carrying it.
In SQL that reads every tag row of the filter's images (or of the others): ~14 us of CPU per image, 5-7 s for a
filter of 350k-650k images at 1M (docs/benchmarks.md "Scale"). Here every live tag text maps to the sorted
distinct ids of its images, in CSR form (`tags[k]`'s ids are `image_ids[indptr[k]:indptr[k + 1]]`, int32: ~33 MB
for 8.3M tag rows), and the counts over a filter are one vectorised pass: a boolean mask of the filter's images,
gathered at every id and summed per tag (`np.add.reduceat`), tens of milliseconds.

Built from SQLite in one read transaction (~1 s of CPU at 1M): the (tag, image) pairs of every row off the
covering idx_tags_tag_image, less the pairs that have only rejected rows (the small partial idx_tags_rejected),
and the revision of `tag_dirty` at that moment. Kept exact whoever writes afterwards (this process, another
connection, `lorairo annotate` in another process): triggers on `tags` (database/counters.py DIRTY_TRIGGERS)
log each changed image with a growing revision, so a count takes the images logged since the build (rows with
rev >= the newest revision at the build: the newest row's image may change again without a new row) out of
the index's side and counts their live rows in SQL, in the same statement that reads the log (one snapshot). When
many images changed, a new index is built on a background thread and swapped in while the old one (and the
overlay) goes on answering. The first count of a broad filter builds the first index and waits for it on the
caller's (worker) thread, which is cheaper than counting it in SQL; a small filter is counted in SQL (`counts`
returns None) and never waits. Nothing is approximate.

Tag filters match by `tags.tag_key`, not the text, so a build also keeps the live ids per key (`KeySnapshot`,
read off idx_tags_live in its own read transaction after the texts are in use: the stored keys, never recomputed,
so a row whose key is not its text's normal form still matches as in SQL). With it, `term_ids` answers a filter
term's whole id list (ImageQueryService._combine_tag_terms: a tag on 650k images, NOT, OR, wildcards) off memory
with the same overlay of the images logged since that read, matched in SQL; before it exists, SQL answers.

Qt-free; thread-safe (a build runs on its own thread with its own connection).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lorairo.services.id_text import parse_id_text, sorted_distinct
from lorairo.services.live_index import LiveIndex, overlay_mask

if TYPE_CHECKING:  # numpy is imported on first use: the tags panel's module loads at start-up
    import numpy as np


#: Images changed since the build past which a new index is built in the background (the overlay reads their
#: rows in SQL at every count: ~10k images cost tens of milliseconds, a build ~1-2 s of one core at 1M).
REBUILD_AFTER = 20_000
#: A filter of fewer images than this neither starts nor waits for the first build: SQL counts it in about the
#: time of a build (~14-27 us an image against 1.2 s for the build at 1M: 25k images took 0.67 s in SQL and
#: 2.2 s with a first build, bench/scale.py), and a project that is never filtered broadly never holds the index.
BUILD_FROM = 50_000
#: With an index, a filter of fewer images than (tag rows) / this is still counted in SQL: ~14 us an image
#: against ~8 ns a tag row for the pass over the index (60 ms at 1M images, 8.3M rows).
SQL_BELOW_RATIO = 2_000


@dataclass(frozen=True)
class TagSnapshot:
    """The live (tag, image) pairs at revision `rev` of tag_dirty, in CSR form (see the module doc)."""

    tags: tuple[str, ...]
    indptr: np.ndarray  # int64, len(tags) + 1
    image_ids: np.ndarray  # int32, sorted and distinct within each tag
    rev: int
    size: int  # 1 + the largest image id, 0 when there are no tags

    def counts(self, mask: np.ndarray) -> np.ndarray:
        """Per tag, how many of its images `mask` (bool, indexed by image id, at least `size` long) holds."""
        import numpy as np

        if not self.tags:
            return np.zeros(0, dtype=np.int64)
        return np.add.reduceat(mask[self.image_ids], self.indptr[:-1], dtype=np.int64)


@dataclass(frozen=True)
class KeySnapshot:
    """The live (tag_key, image) pairs at revision `rev` of tag_dirty, in CSR form like TagSnapshot."""

    keys: tuple[str, ...]  # in SQLite's BINARY order (GROUP BY over idx_tags_live)
    indptr: np.ndarray  # int64, len(keys) + 1
    image_ids: np.ndarray  # int32, sorted and distinct within each key
    rev: int
    keys_json: str  # the keys as one JSON array: a wildcard is matched against them by SQLite's own GLOB
    positions: dict[str, int]  # key -> its index in `keys` (an exact term)
    size: int  # 1 + the largest image id, 0 when there are no live tags

    def ids_of(self, positions: list[int]) -> np.ndarray:
        """Sorted distinct int64 ids of the images of the keys at `positions` (several: a boolean mask by image
        id, ~10x cheaper than sorting millions of ids for a wildcard at 1M)."""
        import numpy as np

        parts = [self.image_ids[self.indptr[k] : self.indptr[k + 1]] for k in positions]
        if not parts:
            return np.empty(0, dtype=np.int64)
        if len(parts) == 1:
            return parts[0].astype(np.int64)
        mask = np.zeros(self.size, dtype=bool)
        for part in parts:
            mask[part] = True
        return np.flatnonzero(mask).astype(np.int64)


def _csr(groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    lengths = np.fromiter((p.size for p in groups), dtype=np.int64, count=len(groups))
    indptr = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(lengths)))
    image_ids = np.concatenate(groups) if groups else np.empty(0, dtype=np.int32)
    return indptr, image_ids


def read_key_snapshot(conn: sqlite3.Connection) -> KeySnapshot:
    """Read the live (tag_key, image) pairs and the log's revision in one read transaction of `conn`: the covering
    partial idx_tags_live holds exactly the live rows (~1.1 s of one core at 1M images, 8.3M rows)."""
    import json

    import numpy as np

    conn.execute("BEGIN")
    try:
        rev = int(conn.execute("SELECT coalesce(max(rev), 0) FROM tag_dirty").fetchone()[0])
        keys: list[str] = []
        parts: list[np.ndarray] = []
        for key, text in conn.execute(
            "SELECT tag_key, group_concat(image_id) FROM tags INDEXED BY idx_tags_live WHERE is_rejected = 0 "
            "GROUP BY tag_key"
        ):
            keys.append(str(key))
            parts.append(sorted_distinct(parse_id_text(text)).astype(np.int32))
    finally:
        conn.execute("COMMIT")
    indptr, image_ids = _csr(parts)
    positions = {key: k for k, key in enumerate(keys)}
    size = int(image_ids.max()) + 1 if image_ids.size else 0
    return KeySnapshot(tuple(keys), indptr, image_ids, rev, json.dumps(keys, ensure_ascii=False), positions, size)


def read_snapshot(conn: sqlite3.Connection, on_read: Callable[[], None] | None = None) -> TagSnapshot:
    """Read the live (tag, image) pairs and the log's revision in one read transaction of `conn`.
    `on_read` runs after the reads, before the transaction ends (tests hold a build there)."""
    import numpy as np

    conn.execute("BEGIN")
    try:
        row = conn.execute("SELECT coalesce(max(rev), 0) FROM tag_dirty").fetchone()
        rev = int(row[0])
        rejected = conn.execute(
            "SELECT r.tag, group_concat(r.image_id) FROM tags r INDEXED BY idx_tags_rejected WHERE r.is_rejected = 1 "
            "AND NOT EXISTS (SELECT 1 FROM tags t INDEXED BY idx_tags_tag_image WHERE t.tag = r.tag "
            "AND t.image_id = r.image_id AND t.is_rejected = 0) GROUP BY r.tag"
        ).fetchall()
        gone = {str(tag): parse_id_text(text) for tag, text in rejected}
        tags: list[str] = []
        parts: list[np.ndarray] = []
        # One text per tag, parsed as it comes (the whole result as text would be ~70 MB more at 1M): group_concat
        # + numpy's parser, ~3x cheaper than a cursor row per pair. The covering index holds every row, rejected
        # ones too: the pairs with only rejected rows are taken out.
        for tag, text in conn.execute(
            "SELECT tag, group_concat(image_id) FROM tags INDEXED BY idx_tags_tag_image GROUP BY tag"
        ):
            ids = sorted_distinct(parse_id_text(text))  # several models may give an image the same tag
            if str(tag) in gone:
                ids = np.setdiff1d(ids, gone[str(tag)], assume_unique=False)
            if ids.size:
                tags.append(str(tag))
                parts.append(ids.astype(np.int32))
        if on_read is not None:
            on_read()
    finally:
        conn.execute("COMMIT")
    indptr, image_ids = _csr(parts)
    size = int(image_ids.max()) + 1 if image_ids.size else 0
    return TagSnapshot(tuple(tags), indptr, image_ids, rev, size)


class LiveTagIndex(LiveIndex[TagSnapshot]):
    """The in-memory tag index of one project database (one per Database: `LiveTagIndex.of(db)`)."""

    thread_name = "live-tag-index"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._keys: KeySnapshot | None = None
        # Set when a build has published its texts or ended: the first broad count waits for this, not for the
        # keys read after it (term_ids never waits).
        self._texts_done = threading.Event()

    @property
    def keys(self) -> KeySnapshot | None:
        return self._keys

    def _read(self, conn: sqlite3.Connection, on_read: Callable[[], None] | None) -> TagSnapshot:
        return read_snapshot(conn, on_read)

    def build(self, on_read: Callable[[], None] | None = None) -> TagSnapshot:
        """Build a snapshot now on this thread (its own read-only connection) and use it from now on; then the
        ids per key (a second read transaction: counts use the texts meanwhile)."""
        try:
            snapshot = super().build(on_read)
        finally:
            self._texts_done.set()
        conn = self._connect()
        try:
            keys = read_key_snapshot(conn)
        finally:
            conn.close()
        with self._lock:
            if self._keys is None or keys.rev >= self._keys.rev:
                self._keys = keys
        return snapshot

    def _build_started(self) -> None:
        self._texts_done.clear()

    def _build_ended(self) -> None:
        self._texts_done.set()

    def _wait_first(self) -> None:
        self._texts_done.wait()

    def counts(self, ids: np.ndarray) -> dict[str, int] | None:
        """Images per live tag text among `ids` (the filter's image ids: ImageQueryService.ids_array), or None
        when SQL should count them: the filter is small (under BUILD_FROM images without an index, or under
        SQL_BELOW_RATIO with one) or no index could be built. Waits for the first build (see the module doc):
        call on a worker, never on the GUI thread."""
        import numpy as np

        # The first broad count waits for the build (on the caller's worker thread): ~1.2 s of one core at 1M,
        # then ~0.2 s, where SQL takes 3-7 s for 350k-650k images.
        snapshot = self._ready(len(ids), BUILD_FROM)
        if snapshot is None:
            return None
        if not len(ids):
            return {}
        if len(ids) * SQL_BELOW_RATIO < snapshot.image_ids.size:
            return None
        # One statement, one snapshot: the images logged since the build (the row with a NULL tag) and, per
        # tag, those of them with a live row now (a few thousand rows between rebuilds).
        conn = self._connect()
        try:
            rows = conn.execute(
                "WITH d AS (SELECT image_id FROM tag_dirty WHERE rev >= :rev) "
                "SELECT NULL, (SELECT group_concat(image_id) FROM d) "
                "UNION ALL SELECT t.tag, group_concat(DISTINCT t.image_id) FROM d CROSS JOIN tags t "
                "ON t.image_id = d.image_id WHERE t.is_rejected = 0 GROUP BY t.tag",
                {"rev": snapshot.rev},
            ).fetchall()
        finally:
            conn.close()
        dirty = parse_id_text(next(text for tag, text in rows if tag is None))  # tags.tag is NOT NULL: the log's row
        if dirty.size > REBUILD_AFTER:
            self.start_build()
        mask, changed = overlay_mask(snapshot.size, ids, dirty)  # changed ones in the filter: counted from their rows
        found = {tag: int(n) for tag, n in zip(snapshot.tags, snapshot.counts(mask).tolist(), strict=True) if n}
        if changed.any():
            mask[dirty] = changed
            for tag, text in rows:
                if tag is not None and (n := int(np.count_nonzero(mask[parse_id_text(text)]))):
                    found[str(tag)] = found.get(str(tag), 0) + n
        return found

    def term_ids(self, op: str, value: str) -> np.ndarray | None:
        """Sorted distinct int64 ids of the images with a live row whose tag_key matches `op` ("=" or "GLOB",
        filter_sql.tag_match) `value`, or None when no key index is built yet (the caller reads SQL; this never
        builds or waits). Exact: the keys' ids at the key snapshot's revision, less the images logged since, plus
        those of them with a matching live row now (one statement reads the log and their rows: one snapshot).
        A wildcard is matched against the stored keys by SQLite's GLOB itself, so its semantics are SQL's."""
        import numpy as np

        keys = self._keys
        if keys is None:
            return None
        if op not in ("=", "GLOB"):
            raise ValueError(f"unknown tag operator {op!r}")
        conn = self._connect()
        try:
            if op == "=":
                positions = [keys.positions[value]] if value in keys.positions else []
            else:
                positions = [
                    int(k)
                    for (k,) in conn.execute(
                        "SELECT key FROM json_each(:keys) WHERE value GLOB :v", {"keys": keys.keys_json, "v": value}
                    )
                ]
            rows = conn.execute(
                "WITH d AS (SELECT image_id FROM tag_dirty WHERE rev >= :rev) "
                "SELECT (SELECT group_concat(image_id) FROM d), (SELECT group_concat(DISTINCT t.image_id) "
                f"FROM d CROSS JOIN tags t ON t.image_id = d.image_id WHERE t.is_rejected = 0 AND t.tag_key {op} :v)",
                {"rev": keys.rev, "v": value},
            ).fetchone()
        finally:
            conn.close()
        dirty, matching = parse_id_text(rows[0]), parse_id_text(rows[1])
        if dirty.size > REBUILD_AFTER:
            self.start_build()
        ids = keys.ids_of(positions)
        if not dirty.size:
            return ids
        # By mask, not np.isin / union1d (which sort 650k ids: ~100 ms a term at 1M): the snapshot's ids less the
        # logged images, plus those of them that match now.
        top = max(keys.size, int(dirty.max()) + 1)
        mask = np.zeros(top, dtype=bool)
        mask[ids] = True
        mask[dirty] = False
        mask[matching] = True
        return np.flatnonzero(mask).astype(np.int64)
