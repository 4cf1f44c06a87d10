"""Per-image figures of the statistics view held in memory, for exact figures over a filter's images at 1M.

Over a filter of 350k-650k images at 1M the statistics view spent ~1.2 s in SQL besides the filter itself: the
score histogram (a join of the filter's ids with `quality_scores`, 0.7 s), the effective ratings (0.28 s) and the
size sample (0.2 s) (docs/benchmarks.md "Scale"). Here the figures of every image are numpy columns indexed by
image id: the effective rating `coalesce(manual_rating, last_rating, 'none')` as a small code, width and height;
and the `quality_scores` rows on a valid scale as flat arrays (image id, histogram key = scale group x bins +
bin, the bin computed in SQL exactly as the counters' triggers compute it). Each figure over a filter is one
numpy pass over the filter's id mask (`np.bincount`), tens of milliseconds.

Kept exact as the tag index is (services/live_tag_index.py): triggers (database/counters.py
FIGURES_DIRTY_TRIGGERS, alembic 0016) log each image whose row, size, effective rating or score rows changed in
`image_dirty` with a growing revision; a call takes the images logged at or after the build's revision out of
the index's side and reads their rows now, in one read transaction (one snapshot). Past REBUILD_AFTER logged
images a new index is built in the background and swapped in. Nothing is approximate.

Qt-free; thread-safe (a build runs on its own thread with its own connection). Call on a worker: the first call
over a broad filter waits for the build.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lorairo.database.counters import STATS_BINS
from lorairo.services.id_text import parse_id_text, sorted_distinct
from lorairo.services.live_image_terms import NO_MANUAL, OTHER_MANUAL, ImageColumns, rating_code_sql, term_mask
from lorairo.services.live_index import LiveIndex, overlay_mask

if TYPE_CHECKING:
    import numpy as np

    from lorairo.services.filter_language import ImageFilter


REBUILD_AFTER = 20_000  # as the tag index: the overlay reads the logged images' rows at every call
BUILD_FROM = 50_000  # a smaller filter neither builds nor waits: SQL takes about as long as a build there

# An image's bin on its score's own scale and its effective rating, as the counters' triggers spell them.
_BIN = (
    f"min({STATS_BINS - 1}, max(0, CAST((q.value - q.scale_min) * {STATS_BINS} / "
    "nullif(q.scale_max - q.scale_min, 0) AS INTEGER)))"
)
_EFFECTIVE = "coalesce(i.manual_rating, i.last_rating, 'none')"
# Figures a filter compares differently in SQL than the index would (never written by LoRAIro: a raw write of a
# non-integer size, an exclusion other than 0 / 1, a score that is not REAL): the filter terms then run in SQL.
_ODD_IMAGE = "(typeof(i.width) <> 'integer' OR typeof(i.height) <> 'integer' OR i.excluded NOT IN (0, 1))"
_MANUAL = rating_code_sql("i.manual_rating", OTHER_MANUAL, NO_MANUAL)
_MODEL = rating_code_sql("r.label", -1, -1)  # a label outside RATINGS matches no filter term


@dataclass(frozen=True)
class Figures:
    """The view's figures over a set of images (before sorting and merging in statistics_service)."""

    bins: dict[tuple[str, int, float, float], int]  # (score name, bin, scale min, scale max) -> scores
    ratings: dict[str, int]  # effective rating -> images
    widths: tuple[int, ...]  # of the sampled images, by id
    heights: tuple[int, ...]


@dataclass(frozen=True)
class ImageSnapshot:
    """Every image's figures at revision `rev` of image_dirty (see the module doc). `rating` is -1 where no
    image has the id."""

    labels: tuple[str, ...]
    rating: np.ndarray  # int16 per image id
    width: np.ndarray  # int32 per image id
    height: np.ndarray  # int32 per image id
    excluded: np.ndarray  # bool per image id
    groups: tuple[tuple[str, float, float], ...]  # (score name, scale min, scale max)
    score_image: np.ndarray  # int32, one per score row on a valid scale
    score_key: np.ndarray  # int32: group * STATS_BINS + bin
    rev: int
    # What filter terms compare (live_image_terms): manual rating and model ratings, every score row's value.
    manual: np.ndarray  # int8 per image id (live_image_terms.NO_MANUAL / OTHER_MANUAL or a RATINGS index)
    model_ratings: np.ndarray  # uint8 per image id: bit k = a `ratings` row labelled RATINGS[k]
    row_image: np.ndarray  # int32: the image of every quality_scores row (any scale)
    row_name: np.ndarray  # int32: index into row_names
    row_value: np.ndarray  # float64: the row's value, read exactly (not through text)
    row_names: tuple[str, ...]
    exact: bool  # the figures compare as in SQL (live_image_terms.ImageColumns.exact)

    @property
    def size(self) -> int:
        return int(self.rating.size)

    def columns(self) -> ImageColumns:
        """The filter terms' view of every image (slot = image id)."""
        return ImageColumns(
            self.rating >= 0,
            self.width,
            self.height,
            self.excluded,
            self.manual,
            self.model_ratings,
            self.row_image,
            self.row_name,
            self.row_value,
            self.row_names,
            self.exact,
        )


def read_snapshot(conn: sqlite3.Connection, on_read: Callable[[], None] | None = None) -> ImageSnapshot:
    """Read every image's figures and the log's revision in one read transaction of `conn`. `on_read` runs after
    the reads, before the transaction ends (tests hold a build there)."""
    import numpy as np

    conn.execute("BEGIN")
    try:
        rev = int(conn.execute("SELECT coalesce(max(rev), 0) FROM image_dirty").fetchone()[0])
        # One scan of each table, parsed by numpy: group_concat + numpy's parser, ~3x cheaper than a cursor row
        # per image, and the aggregates of one query see the rows in the same order. Labels and scale groups are
        # coded by a CASE over the counters' keys (rating_stats, score_bins: exact in this same transaction), not
        # by a GROUP BY, which sorted 1M rows (3.0 s instead of 1.3 s at 1M); a row outside them (never, while
        # the counters hold) sends the build to the GROUP BY.
        labels = [str(label) for (label,) in conn.execute("SELECT label FROM rating_stats ORDER BY label")]
        code = "CASE " + _EFFECTIVE + "".join(f" WHEN ? THEN {n}" for n in range(len(labels))) + " ELSE -1 END"
        code = code if labels else "-1"
        ids_text, widths_text, heights_text, excluded_text, codes_text, manual_text, odd = conn.execute(
            "SELECT group_concat(i.id), group_concat(i.width), group_concat(i.height), group_concat(i.excluded), "
            f"group_concat({code}), group_concat({_MANUAL}), total({_ODD_IMAGE}) FROM images i",
            labels,
        ).fetchone()
        ids = parse_id_text(ids_text)
        size = int(ids.max()) + 1 if ids.size else 0
        width = np.zeros(size, dtype=np.int32)
        height = np.zeros(size, dtype=np.int32)
        width[ids] = parse_id_text(widths_text)
        height[ids] = parse_id_text(heights_text)
        excluded = np.zeros(size, dtype=bool)
        excluded[ids] = parse_id_text(excluded_text) != 0
        rating = np.full(size, -1, dtype=np.int16)
        rating[ids] = parse_id_text(codes_text)
        manual = np.full(size, NO_MANUAL, dtype=np.int8)
        manual[ids] = parse_id_text(manual_text)
        if bool(np.any(rating[ids] < 0)):
            labels = []
            for label, text in conn.execute(f"SELECT {_EFFECTIVE}, group_concat(i.id) FROM images i GROUP BY 1"):
                rating[parse_id_text(text)] = len(labels)
                labels.append(str(label))
        groups = [
            (str(name), float(low), float(high))
            for name, low, high in conn.execute(
                "SELECT DISTINCT score_name, scale_min, scale_max FROM score_bins ORDER BY 1, 2, 3"
            )
        ]
        group = "CASE" + " WHEN q.score_name = ? AND q.scale_min = ? AND q.scale_max = ? THEN {}" * len(groups)
        # Outside every group: a key below any bin's, however the bin is added.
        group = group.format(*(n * STATS_BINS for n in range(len(groups)))) + f" ELSE {-2 * STATS_BINS} END"
        group = group if groups else str(-2 * STATS_BINS)
        images_text, keys_text = conn.execute(
            f"SELECT group_concat(q.image_id), group_concat(({group}) + {_BIN}) FROM quality_scores q "
            "WHERE q.scale_max > q.scale_min",
            [value for key in groups for value in key],
        ).fetchone()
        score_image = parse_id_text(images_text).astype(np.int32)
        score_key = parse_id_text(keys_text)
        if bool(np.any(score_key < 0)):
            groups, parts, keys = [], [], []
            for name, low, high, text, bins in conn.execute(
                f"SELECT q.score_name, q.scale_min, q.scale_max, group_concat(q.image_id), group_concat({_BIN}) "
                "FROM quality_scores q WHERE q.scale_max > q.scale_min GROUP BY 1, 2, 3"
            ):
                parts.append(parse_id_text(text).astype(np.int32))
                keys.append(parse_id_text(bins) + len(groups) * STATS_BINS)
                groups.append((str(name), float(low), float(high)))
            score_image = np.concatenate(parts) if parts else np.empty(0, dtype=np.int32)
            score_key = np.concatenate(keys) if keys else np.empty(0, dtype=np.int32)
        score_key = score_key.astype(np.int32)  # a few groups x 20 bins
        model_ratings = _model_ratings(conn, size)
        row_image, row_name, row_value, row_names, odd_scores = _score_rows(conn)
        if on_read is not None:
            on_read()
    finally:
        conn.execute("COMMIT")
    return ImageSnapshot(
        tuple(labels),
        rating,
        width,
        height,
        excluded,
        tuple(groups),
        score_image,
        score_key,
        rev,
        manual,
        model_ratings,
        row_image,
        row_name,
        row_value,
        row_names,
        exact=not odd and not odd_scores,
    )


def _model_ratings(conn: sqlite3.Connection, size: int) -> np.ndarray:
    """Per image id the bits of its `ratings` rows' labels (one scan of the table, coded in SQL)."""
    import numpy as np

    images_text, codes_text = conn.execute(
        f"SELECT group_concat(r.image_id), group_concat({_MODEL}) FROM ratings r"
    ).fetchone()
    images, codes = parse_id_text(images_text), parse_id_text(codes_text)
    bits = np.zeros(max(size, int(images.max()) + 1 if images.size else 0), dtype=np.uint8)
    for code in np.unique(codes[codes >= 0]).tolist():
        bits[images[codes == code]] |= np.uint8(1 << code)  # OR is idempotent: an image's repeated label is fine
    return bits[:size] if bits.size > size else bits


def _score_rows(conn: sqlite3.Connection) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...], bool]:
    """Every quality_scores row (any scale) as (image, name code, value), the names, and whether a value is not
    REAL (then filters compare in SQL). Values come through the cursor as Python floats: SQLite's text form of
    a REAL keeps 15 digits, which would move values across a bound. Both statements scan the table in row
    order (NOT INDEXED: the covering (score_name, value) index would order the second one differently)."""
    import numpy as np

    names = tuple(str(n) for (n,) in conn.execute("SELECT DISTINCT score_name FROM quality_scores ORDER BY 1"))
    code = "CASE q.score_name" + " WHEN ? THEN {}" * len(names) + " ELSE -1 END"
    code = code.format(*range(len(names))) if names else "-1"
    images_text, codes_text, odd, rows = conn.execute(
        f"SELECT group_concat(q.image_id), group_concat({code}), total(typeof(q.value) <> 'real'), count(*) "
        "FROM quality_scores q NOT INDEXED",
        names,
    ).fetchone()
    images = parse_id_text(images_text).astype(np.int32)
    codes = parse_id_text(codes_text).astype(np.int32)
    if odd:
        return images, codes, np.zeros(images.size, dtype=np.float64), names, True
    cursor = conn.execute("SELECT q.value FROM quality_scores q NOT INDEXED")
    values = np.fromiter((value for (value,) in cursor), dtype=np.float64, count=int(rows))
    return images, codes, values, names, False


@dataclass(frozen=True)
class _Changed:
    """The images logged at or after a revision and their rows now (one read transaction)."""

    dirty: np.ndarray  # their ids
    images: dict[int, tuple[str, int, int, bool]]  # id -> (effective rating, width, height, excluded)
    scores: list[tuple[Any, ...]]  # (image id, name, bin, scale min, scale max) of valid scales
    regions: list[tuple[Any, ...]]  # (image id, crop width, crop height) of every image_regions row


def _read_changed(conn: sqlite3.Connection, rev: int, regions: bool) -> _Changed:
    """What changed at or after `rev`, read in one read transaction; `regions`: every image's crop too (small:
    one row per cropped image; read whole and now rather than logged)."""
    conn.execute("BEGIN")
    try:
        dirty = parse_id_text(
            conn.execute("SELECT group_concat(image_id) FROM image_dirty WHERE rev >= ?", (rev,)).fetchone()[0]
        )
        changed = "(SELECT image_id FROM image_dirty WHERE rev >= :rev)"
        rows = conn.execute(
            f"SELECT i.id, {_EFFECTIVE}, i.width, i.height, i.excluded FROM images i WHERE i.id IN {changed}",
            {"rev": rev},
        ).fetchall()
        scores = conn.execute(
            f"SELECT q.image_id, q.score_name, {_BIN}, q.scale_min, q.scale_max FROM quality_scores q "
            f"WHERE q.scale_max > q.scale_min AND q.image_id IN {changed}",
            {"rev": rev},
        ).fetchall()
        crops = (
            conn.execute("SELECT image_id, crop_width, crop_height FROM image_regions").fetchall() if regions else []
        )
    finally:
        conn.execute("COMMIT")
    images = {int(i): (str(label), int(w), int(h), bool(x)) for i, label, w, h, x in rows}
    return _Changed(dirty, images, scores, crops)


def _read_changed_columns(conn: sqlite3.Connection, rev: int) -> tuple[np.ndarray, ImageColumns]:
    """The images logged at or after `rev` (sorted ids) and their filter figures now (slot = position in that
    list), read in one read transaction: an image deleted since has no row (present False). The images' and
    ratings' integers come as group_concat text parsed by numpy, the score rows through the cursor (exact
    values): a filter call re-reads up to REBUILD_AFTER images."""
    import numpy as np

    changed = "(SELECT image_id FROM image_dirty WHERE rev >= :rev)"
    conn.execute("BEGIN")
    try:
        dirty_text, *image_texts, odd = conn.execute(
            "SELECT (SELECT group_concat(image_id) FROM image_dirty WHERE rev >= :rev), group_concat(i.id), "
            f"group_concat(i.width), group_concat(i.height), group_concat(i.excluded = 1), group_concat({_MANUAL}), "
            f"total({_ODD_IMAGE}) FROM images i WHERE i.id IN {changed}",
            {"rev": rev},
        ).fetchone()
        ratings = conn.execute(
            f"SELECT group_concat(r.image_id), group_concat({_MODEL}) FROM ratings r WHERE r.image_id IN {changed}",
            {"rev": rev},
        ).fetchone()
        # One statement, a cursor row per score (exact floats): cheaper than group_concat texts plus the
        # values' own statement, which each seek every row again (105 ms against ~35 ms for 20k images at 1M).
        scores = conn.execute(
            f"SELECT q.image_id, q.score_name, q.value FROM quality_scores q WHERE q.image_id IN {changed}",
            {"rev": rev},
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    dirty = sorted_distinct(parse_id_text(dirty_text))
    n = dirty.size
    present = np.zeros(n, dtype=bool)
    width, height = np.zeros(n, dtype=np.int32), np.zeros(n, dtype=np.int32)
    excluded = np.zeros(n, dtype=bool)
    manual = np.full(n, NO_MANUAL, dtype=np.int8)
    model = np.zeros(n, dtype=np.uint8)
    row_slot = np.empty(0, dtype=np.int32)
    row_name = np.empty(0, dtype=np.int32)
    row_value = np.empty(0, dtype=np.float64)
    names: dict[str, int] = {}
    exact = not odd and all(isinstance(value, float) for _i, _n, value in scores)
    if exact:  # else nothing is parsed: the sizes may not be integers, and the caller runs SQL
        ids, widths, heights, exclusions, manuals = (parse_id_text(text) for text in image_texts)
        at = np.searchsorted(dirty, ids)
        present[at] = True
        width[at], height[at], excluded[at], manual[at] = widths, heights, exclusions != 0, manuals
        rated, codes = parse_id_text(ratings[0]), parse_id_text(ratings[1])
        for label in np.unique(codes[codes >= 0]).tolist():
            model[np.searchsorted(dirty, rated[codes == label])] |= np.uint8(1 << label)
        scored = np.fromiter((image for image, _n, _v in scores), dtype=np.int64, count=len(scores))
        row_slot = np.searchsorted(dirty, scored).astype(np.int32)
        row_name = np.fromiter(
            (names.setdefault(str(name), len(names)) for _i, name, _v in scores), dtype=np.int32, count=len(scores)
        )
        row_value = np.fromiter((value for _i, _n, value in scores), dtype=np.float64, count=len(scores))
    columns = ImageColumns(
        present, width, height, excluded, manual, model, row_slot, row_name, row_value, tuple(names), exact
    )
    return dirty, columns


class LiveImageIndex(LiveIndex[ImageSnapshot]):
    """The in-memory figures index of one project database (one per Database: `LiveImageIndex.of(db)`)."""

    thread_name = "live-image-index"

    def _read(self, conn: sqlite3.Connection, on_read: Callable[[], None] | None) -> ImageSnapshot:
        return read_snapshot(conn, on_read)

    def prepare(self, ids: np.ndarray) -> None:
        """Start the first build for a broad filter without waiting (the caller does other work meanwhile)."""
        if self._snapshot is None and len(ids) >= BUILD_FROM:
            self.start_build()

    def _overlay(
        self, snapshot: ImageSnapshot, ids: np.ndarray, regions: bool = False
    ) -> tuple[np.ndarray, set[int], _Changed]:
        """The filter's images the snapshot answers for (a mask by id, the logged ones taken out), the logged
        images in the filter (answered from their rows now) and what changed."""

        conn = self._connect()
        try:
            changed = _read_changed(conn, snapshot.rev, regions)
        finally:
            conn.close()
        dirty = changed.dirty
        if dirty.size > REBUILD_AFTER:
            self.start_build()
        mask, logged_in_filter = overlay_mask(snapshot.size, ids, dirty)
        return mask[: snapshot.size], set(dirty[logged_in_filter].tolist()), changed

    def term_mask(self, f: ImageFilter) -> np.ndarray | None:
        """A boolean mask by image id of the images meeting the score / rating / size / aspect / exclusion terms
        of `f` (live_image_terms; its tag terms are not looked at), exact: the snapshot's images less those logged
        in image_dirty since, which are judged on their rows now (one read transaction). None when no snapshot is
        built (this never builds or waits: a filter is not worth a build) or SQL must compare the terms."""
        import numpy as np

        snapshot = self._snapshot
        if snapshot is None:
            return None
        mask = term_mask(snapshot.columns(), f)
        if mask is None:
            return None
        conn = self._connect()
        try:
            dirty, changed = _read_changed_columns(conn, snapshot.rev)
        finally:
            conn.close()
        if dirty.size > REBUILD_AFTER:
            self.start_build()
        if not dirty.size:
            return mask
        now = term_mask(changed, f)
        if now is None:
            return None
        top = max(mask.size, int(dirty[-1]) + 1)
        if top > mask.size:
            mask = np.concatenate((mask, np.zeros(top - mask.size, dtype=bool)))
        mask[dirty] = now
        return mask

    def figures(self, ids: np.ndarray, sample_step: int) -> Figures | None:
        """The view's figures over `ids` (the filter's image ids, sorted and distinct): score bins, effective
        ratings, and the sizes of every `sample_step`-th id. None when SQL should compute them: no index and
        fewer than BUILD_FROM ids, or no index could be built. Waits for the first build: call on a worker."""
        import numpy as np

        snapshot = self._ready(len(ids), BUILD_FROM)
        if snapshot is None:
            return None
        inside, in_filter, changed = self._overlay(snapshot, ids)
        dirty, scores = changed.dirty, changed.scores
        fresh = changed.images

        ratings: dict[str, int] = {}
        codes = snapshot.rating[inside]
        per_code = np.bincount(codes[codes >= 0], minlength=len(snapshot.labels))
        for label, n in zip(snapshot.labels, per_code.tolist(), strict=True):
            if n:
                ratings[label] = int(n)
        for image in in_filter:
            if image in fresh:
                label = fresh[image][0]
                ratings[label] = ratings.get(label, 0) + 1

        bins: dict[tuple[str, int, float, float], int] = {}
        selected = inside[snapshot.score_image]
        per_key = np.bincount(snapshot.score_key[selected], minlength=len(snapshot.groups) * STATS_BINS)
        for key in np.flatnonzero(per_key).tolist():
            name, low, high = snapshot.groups[key // STATS_BINS]
            bins[(name, key % STATS_BINS, low, high)] = int(per_key[key])
        for image, name, bucket, low, high in scores:
            if int(image) in in_filter:
                key4 = (str(name), int(bucket), float(low), float(high))
                bins[key4] = bins.get(key4, 0) + 1

        # The sizes of every sample_step-th id: the index's where the image is not logged, its row now where it is.
        sample = ids[:: max(1, sample_step)]
        sample = sample[(sample >= 0) & (sample < snapshot.size)]
        sample = sample[snapshot.rating[sample] >= 0]
        widths, heights = snapshot.width[sample], snapshot.height[sample]
        logged = np.intersect1d(ids[:: max(1, sample_step)], dirty)
        if logged.size:
            keep = ~np.isin(sample, logged)
            now = [(image, *fresh[image][1:3]) for image in logged.tolist() if image in fresh]
            sample = np.concatenate((sample[keep], np.array([r[0] for r in now], dtype=np.int64)))
            widths = np.concatenate((widths[keep], np.array([r[1] for r in now], dtype=np.int32)))
            heights = np.concatenate((heights[keep], np.array([r[2] for r in now], dtype=np.int32)))
            order = np.argsort(sample, kind="stable")
            widths, heights = widths[order], heights[order]
        return Figures(bins, ratings, tuple(widths.tolist()), tuple(heights.tolist()))

    def size_counts(self, ids: np.ndarray) -> dict[tuple[int, int], int] | None:
        """Images per (width, height) among `ids` (sorted, distinct) that are not excluded, the size being the
        crop where image_regions sets one (coalesce per side, as export and bucket_distribution read it). None
        when SQL should count them (as `figures`). Waits for the first build: call on a worker."""
        import numpy as np

        snapshot = self._ready(len(ids), BUILD_FROM)
        if snapshot is None:
            return None
        inside, in_filter, changed = self._overlay(snapshot, ids, regions=True)
        chosen = np.flatnonzero(inside & (snapshot.rating >= 0) & ~snapshot.excluded)
        now = [(i, w, h) for i, (_label, w, h, excluded) in changed.images.items() if i in in_filter and not excluded]
        chosen = np.concatenate((chosen, np.array([i for i, _w, _h in now], dtype=np.int64)))
        widths = np.concatenate((snapshot.width[chosen[: chosen.size - len(now)]], [w for _i, w, _h in now]))
        heights = np.concatenate((snapshot.height[chosen[: chosen.size - len(now)]], [h for _i, _w, h in now]))
        widths, heights = widths.astype(np.int64), heights.astype(np.int64)
        if changed.regions:  # a crop replaces the side it sets (coalesce per side)
            order = np.argsort(chosen, kind="stable")
            region = np.array([(i, -1 if w is None else w, -1 if h is None else h) for i, w, h in changed.regions])
            where = np.searchsorted(chosen, region[:, 0], sorter=order)
            where = np.minimum(where, max(chosen.size - 1, 0))
            hit = chosen.size > 0
            if hit:
                found = chosen[order[where]] == region[:, 0]
                at = order[where[found]]
                crop_w, crop_h = region[found, 1], region[found, 2]
                widths[at] = np.where(crop_w >= 0, crop_w, widths[at])
                heights[at] = np.where(crop_h >= 0, crop_h, heights[at])
        # One int64 key per size: a 1-D unique (np.unique over rows, axis=0, took ~0.5 s for 650k images).
        keys, counts = np.unique((widths << 32) | (heights & 0xFFFFFFFF), return_counts=True)
        return {
            (int(k >> 32), int(k & 0xFFFFFFFF)): int(n) for k, n in zip(keys.tolist(), counts.tolist(), strict=True)
        }
