"""Find images in a project with one filter model, run in SQL (Qt-free; the GUI calls it from a worker).

`ImageFilter` (lorairo.services.filter_language) is what the filter bar builds, what every `--filter` text
parses to and what export and annotation take as "a filter"; the language is documented in docs/filters.md.
services/filter_sql.py turns it into SQL (`build_query`, re-exported here) and names the grid's orders; this
module runs it: the first page, the whole ordered id array, counts, rows for lists, the `similar:` ranking.
Thread-safety: a service instance may be shared; every call opens its own read session.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lorairo.database.chunks import chunked
from lorairo.services.filter_language import (
    ASPECTS,
    FILTER_HELP,
    RATINGS,
    FilterSyntaxError,
    IdListError,
    ImageFilter,
    format_filter,
    merge_filters,
    normalize_query_tag,
    parse_filter,
    parse_ids,
    tag_match_key,
)
from lorairo.services.filter_sql import (
    SORTS,
    TAG_SIZE_CAP,
    build_query,
    glob_literal,
    ordered,
    sort_order,
    sqlite_value,
    tag_match,
    tags_only,
)
from lorairo.services.id_text import parse_id_text
from lorairo.services.quality_rules import METRIC_COLUMNS, QualityThresholds

if TYPE_CHECKING:
    import numpy as np

    from lorairo.database.engine import Database
    from lorairo.services.embeddings.search import SimilarRanking
    from lorairo.services.filter_language import SimilarTo

    #: Ranks the candidates (None: every image) of a `similar:` term: services/embeddings/search.py FilterRanker.
    SimilarityRanker = Callable[[SimilarTo, Sequence[int] | None], SimilarRanking]

__all__ = [
    "ASPECTS",
    "FILTER_HELP",
    "RATINGS",
    "SORTS",
    "FilterSyntaxError",
    "IdListError",
    "ImageFilter",
    "ImageQueryService",
    "ImageRow",
    "build_query",
    "format_filter",
    "merge_filters",
    "normalize_query_tag",
    "parse_filter",
    "parse_ids",
]


@dataclass(frozen=True)
class ImageRow:
    """A snapshot of one image for lists and the CLI (safe to pass between threads)."""

    id: int
    file_name: str
    file_path: str
    hash_value: str
    width: int
    height: int
    file_size: int
    format: str
    created_at: datetime
    excluded: bool
    rating: str | None
    tags: tuple[str, ...] = ()
    # Highest model confidence of each tag that a model gave; manual / sidecar-only tags are absent.
    tag_confidences: dict[str, float] = field(default_factory=dict)
    caption: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    # The stored quality metrics (lorairo quality / import), empty when the image was not measured yet.
    quality: dict[str, float | int | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- SQL -----------------------------------------------------------------------------------------------------


class ImageQueryService:
    """Query image IDs and fetch row snapshots of one project database."""

    def __init__(
        self, db: Database, quality: QualityThresholds | None = None, ranker: SimilarityRanker | None = None
    ) -> None:
        self.db = db
        self.quality = quality or QualityThresholds()
        self._ranker = ranker
        # SQLAlchemy is imported here, not at module level: the filter model above is needed at start-up.
        from sqlalchemy import text

        self._text = text

    def _scalars(self, sql: str, params: dict[str, Any]) -> list[Any]:
        """First column of every row, through the DB-API cursor: a result of 100k IDs goes through
        SQLAlchemy's row processing several times slower. Plain values, dates as they are stored."""
        with self.db.read_engine.connect() as conn:
            raw = conn.connection.driver_connection
            cursor = raw.execute(sql, {k: sqlite_value(v) for k, v in params.items()})  # type: ignore[union-attr]
            try:
                return [row[0] for row in cursor.fetchall()]
            finally:
                cursor.close()

    def tag_size(self, tag: str) -> int:
        """How many live rows match the tag term, counted up to TAG_SIZE_CAP (a bounded read of idx_tags_live:
        about a millisecond), so build_query can let the rarest term drive. Past the cap "common" is enough."""
        op, value = tag_match(tag)
        sql = (
            f"SELECT count(*) FROM (SELECT 1 FROM tags WHERE tag_key {op} :v AND is_rejected = 0 LIMIT {TAG_SIZE_CAP})"
        )
        return int(self._scalars(sql, {"v": value})[0])

    def build(self, f: ImageFilter | None = None, sizes: dict[str, int] | None = None) -> tuple[str, dict[str, Any]]:
        """build_query with this project's tag sizes (rarest tag term first). Only filters with more than one
        positive tag term need the estimate. `sizes`: tag sizes already counted (filled in as they are)."""
        f = f or ImageFilter()
        terms = len(f.tags_all) + len(f.tags_any)
        if terms < 2:
            return build_query(f, quality=self.quality)
        known = {} if sizes is None else sizes
        return build_query(f, lambda tag: self._size(tag, known), self.quality)

    def _size(self, tag: str, known: dict[str, int]) -> int:
        if tag not in known:
            known[tag] = self.tag_size(tag)
        return known[tag]

    def query_ids(self, f: ImageFilter | None = None) -> list[int]:
        """IDs of matching images in import order (most similar first for a `similar:` filter), as Python ints
        (the CLI, export and annotate selections). `ids_array`'s path: off the in-memory indexes when the app has
        built them, else one id text from SQL (at 1M, 670k ids: ~0.4 s against ~1.1 s through the cursor)."""
        return self.ids_array(f).tolist()

    @property
    def ranker(self) -> SimilarityRanker:
        """The `similar:` ranker given, or one for this database's project (built on first use: numpy)."""
        if self._ranker is None:
            from lorairo.services.embeddings.search import FilterRanker
            from lorairo.services.project_service import Project

            root = self.db.path.parent
            self._ranker = FilterRanker(Project(root.name, root, self.db))
        return self._ranker

    def ranked(self, f: ImageFilter, within: Sequence[int] | None = None) -> SimilarRanking:
        """A filter with a `similar:` term: every other term selects the candidates (SQL; only those of `within`
        when given), then the project's embeddings rank them (docs/filters.md). Raises EmbeddingError saying how
        to compute missing embeddings."""
        if f.similar is None:
            raise ValueError("ranked() needs a filter with a similar: term")
        rest = replace(f, similar=None)
        candidates = None if rest.is_empty() else self.query_ids(rest)
        if within is not None:
            allowed = set(within)
            candidates = [i for i in (candidates if candidates is not None else within) if i in allowed]
        return self.ranker(f.similar, candidates)

    def _rare_driver(self, f: ImageFilter, known: dict[str, int]) -> bool:
        """Whether a positive tag term (or OR group) matches fewer than TAG_SIZE_CAP rows: then its IN list is
        small and drives; otherwise walking the sort order and probing each image finds a page sooner. The
        sizes counted go into `known`, so build() does not count them again."""
        sizes = [self._size(tag, known) for tag in f.tags_all]
        sizes += [sum(self._size(tag, known) for tag in group) for group in f.tags_any]
        return bool(sizes) and min(sizes) < TAG_SIZE_CAP

    def first_page(self, f: ImageFilter | None = None, sort: str = "import", limit: int = 200) -> list[int]:
        """The first `limit` ids of the filter in the grid order `sort` (a key of SORTS): what the grid shows
        before the full id list and the count arrive.

        When a tag term is rare its IN list (under TAG_SIZE_CAP rows) is read and sorted. Otherwise (common tags,
        NOT-only, wildcards, no tag at all) SQLite walks the sort order itself (the row id, or the sort's index:
        INDEXED BY, so the planner never sorts the project first) and probes each image until `limit` match: a
        tag on most images needs a few hundred probes, not the 670k-entry list (bench/scale.py)."""
        f = f or ImageFilter()
        order, index = sort_order(sort)
        if f.similar is not None:  # ranked by the embeddings, whatever the sort
            return self.ranked(f).ids[: int(limit)]
        known: dict[str, int] = {}
        if self._rare_driver(f, known):
            sql, params = self.build(f, known)
        else:
            sql, params = build_query(f, quality=self.quality, probe_only=True)
            hint = f"INDEXED BY {index}" if index else "NOT INDEXED"
            sql = sql.replace("SELECT i.id FROM images i", f"SELECT i.id FROM images i {hint}", 1)
        return self._scalars(ordered(sql, order) + f" LIMIT {int(limit)}", params)

    def ids_array(self, f: ImageFilter | None = None, sort: str = "import") -> np.ndarray:
        """Every id of the filter in the grid order `sort` as one int64 numpy array (8 bytes an image; a list of
        Python ints and a tuple per row cost ~100 MB at 1M images).

        SQLite joins the ids into one text (group_concat over the ordered sub-query, which it reads in order)
        and numpy parses it: 1M ids in about a third of the CPU time of a cursor row per id. A filter of common
        tag terms only, in import order, is combined from each term's sorted id list read off idx_tags_live
        (`_tag_term_ids`), without visiting images (docs/benchmarks.md, "Scale")."""
        f = f or ImageFilter()
        order, _index = sort_order(sort)
        if f.similar is not None:  # ranked by the embeddings, whatever the sort
            import numpy as np

            return np.asarray(self.ranked(f).ids, dtype=np.int64)
        known: dict[str, int] = {}
        if sort == "import" and tags_only(f) and not self._rare_driver(f, known):
            return self._combine_tag_terms(f)
        if sort == "import" and (indexed := self._indexed_ids(f, known)) is not None:
            return indexed
        sql, params = self.build(f, known)
        return self._id_text(f"SELECT group_concat(id) FROM ({ordered(sql, order)})", params)

    def _id_text(self, sql: str, params: dict[str, Any]) -> np.ndarray:
        """The one comma-joined text `sql` returns, parsed into an int64 array (empty when NULL)."""
        import numpy as np

        text = self._scalars(sql, params)[0]
        if not text:
            return np.empty(0, dtype=np.int64)
        return parse_id_text(text)

    def _tag_term_ids(self, tag: str) -> np.ndarray:
        """Sorted distinct ids of the images with a live row matching the tag term (every tag row belongs to an
        image: foreign key with cascade). Off the project's in-memory tag index when one is already built
        (LiveTagIndex.term_ids: exact, its overlay read in SQL; never built or waited for here), else from
        idx_tags_live alone: an exact key is read in image order; a wildcard spans several keys, so numpy sorts
        and de-duplicates."""
        import numpy as np

        from lorairo.services.live_tag_index import LiveTagIndex

        op, value = tag_match(tag)
        indexed = LiveTagIndex.of(self.db).term_ids(op, value)
        if indexed is not None:
            return indexed
        if op == "=":
            return self._id_text(
                "SELECT group_concat(image_id) FROM (SELECT DISTINCT image_id FROM tags "
                "WHERE tag_key = :v AND is_rejected = 0 ORDER BY image_id)",
                {"v": value},
            )
        found = self._id_text(
            f"SELECT group_concat(image_id) FROM tags WHERE tag_key {op} :v AND is_rejected = 0", {"v": value}
        )
        return np.unique(found)

    def _combine_tag_terms(self, f: ImageFilter, within: np.ndarray | None = None) -> np.ndarray:
        """Ids of a filter made of tag terms only, in import order: each term's sorted id list combined as
        boolean masks by image id (AND: and, OR group: or, NOT: cleared; ~10x cheaper than numpy's sorted-set
        operations over 650k ids at 1M). Read fresh on every call (the database, or the in-memory index kept
        exact by the change log), so nothing can drift out of step with it. `within`: a boolean mask by image id
        of the images the other terms allow (LiveImageIndex.term_mask), which also stands for "every image"."""
        import numpy as np

        terms = [[self._tag_term_ids(tag)] for tag in f.tags_all]
        terms += [[self._tag_term_ids(tag) for tag in group] for group in f.tags_any]
        base = None if terms or within is not None else self.all_ids()
        excluded = [self._tag_term_ids(tag) for tag in f.tags_none]
        arrays = [a for group in terms for a in group] + excluded + ([base] if base is not None else [])
        size = max((int(a[-1]) + 1 for a in arrays if a.size), default=0)  # each is sorted: its last is its max
        size = max(size, within.size if within is not None else 0)
        result: np.ndarray | None = None
        for group in terms:
            mask = np.zeros(size, dtype=bool)
            for ids in group:
                mask[ids] = True
            result = mask if result is None else np.logical_and(result, mask, out=result)
        if within is not None:
            allowed = np.zeros(size, dtype=bool)
            allowed[: within.size] = within
            result = allowed if result is None else np.logical_and(result, allowed, out=result)
        if result is None:
            result = np.zeros(size, dtype=bool)
            result[base] = True
        for ids in excluded:
            result[ids] = False
        return np.flatnonzero(result).astype(np.int64)

    def _indexed_ids(self, f: ImageFilter, known: dict[str, int]) -> np.ndarray | None:
        """Ids (import order) of a filter of tag terms plus score / rating / size / aspect / exclusion terms
        (live_image_terms.image_terms), off the in-memory indexes when both are already built: the tag terms'
        masks (LiveTagIndex.term_ids) and the other terms' mask (LiveImageIndex.term_mask), each exact with its
        change log's overlay. Nothing is built or waited for here. None: SQL answers (an index missing, figures
        SQL compares differently, or a rare positive tag, whose IN list drives SQL faster: `_rare_driver`)."""
        from lorairo.services.live_image_index import LiveImageIndex
        from lorairo.services.live_image_terms import image_terms
        from lorairo.services.live_tag_index import LiveTagIndex

        if not image_terms(f):
            return None
        has_tags = bool(f.tags_all or f.tags_any or f.tags_none)
        if has_tags and LiveTagIndex.of(self.db).keys is None:
            return None
        images = LiveImageIndex.of(self.db)
        if images.snapshot is None or self._rare_driver(f, known):
            return None
        within = images.term_mask(f)
        if within is None:
            return None
        return self._combine_tag_terms(f, within)

    def all_ids(self) -> np.ndarray:
        """Every image id in import order. Ids without gaps (a project nothing was deleted from) are a range:
        min, max and count (3 ms at 1M) instead of a text of every id; otherwise that text. The range test reads
        the three in one statement, so it is exact; as sub-queries, because `SELECT min(id), max(id), count(*)`
        is one scan of an index (95 ms at 1M) where min and max alone are one seek each."""
        import numpy as np

        low, high, n = self._scalars_row(
            "SELECT (SELECT min(id) FROM images), (SELECT max(id) FROM images), (SELECT count(*) FROM images)", {}
        )
        if not n:
            return np.empty(0, dtype=np.int64)
        if int(high) - int(low) + 1 == int(n):
            return np.arange(int(low), int(high) + 1, dtype=np.int64)
        return self._id_text("SELECT group_concat(id) FROM (SELECT id FROM images ORDER BY id)", {})

    def _scalars_row(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
        """The one row `sql` returns, through the DB-API cursor."""
        with self.db.read_engine.connect() as conn:
            raw = conn.connection.driver_connection
            cursor = raw.execute(sql, {k: sqlite_value(v) for k, v in params.items()})  # type: ignore[union-attr]
            try:
                return tuple(cursor.fetchone())
            finally:
                cursor.close()

    def existing_ids(self, ids: Sequence[int]) -> set[int]:
        """Which of `ids` are images of this project."""
        found: set[int] = set()
        for chunk in chunked(sorted({int(i) for i in ids})):
            marks = ",".join(str(i) for i in chunk)  # ints only: safe to inline
            found.update(int(v) for v in self._scalars(f"SELECT id FROM images WHERE id IN ({marks})", {}))
        return found

    def exact_duplicates(self) -> list[tuple[int, str, list[str]]]:
        """Images found at more than one path: (image id, file name, every path it was found at)."""
        rows = self._scalars(
            "SELECT json_array(s.image_id, i.file_name, s.source_path) FROM image_sources s "
            "JOIN images i ON i.id = s.image_id WHERE s.image_id IN "
            "(SELECT image_id FROM image_sources GROUP BY image_id HAVING count(*) > 1) ORDER BY s.image_id, s.id",
            {},
        )
        found: dict[int, tuple[str, list[str]]] = {}
        for raw in rows:
            image_id, file_name, path = json.loads(raw)
            found.setdefault(int(image_id), (str(file_name), []))[1].append(str(path))
        return [(image_id, name, paths) for image_id, (name, paths) in found.items()]

    def id_subquery(self, f: ImageFilter) -> tuple[str, dict[str, Any]]:
        """SQL selecting the filter's image IDs, to put inside `IN (...)` (statistics, tag counts, grid sorts),
        with this service's quality thresholds and tag sizes; a `similar:` filter's kept images as a JSON list."""
        if f.similar is not None:
            return "SELECT value FROM json_each(:similar_ids)", {"similar_ids": json.dumps(self.query_ids(f))}
        sql, params = self.build(f)
        return sql.removesuffix(" ORDER BY i.id"), params

    def count(self, f: ImageFilter | None = None) -> int:
        """How many images match. A lone tag (or `-tag`) is counted off idx_tags_live without visiting images
        (a tag on 670k images: ~30 ms instead of joining every image); anything else counts the filter's SQL."""
        f = f or ImageFilter()
        if f.similar is not None:
            return len(self.ranked(f).results)
        if f.is_empty():
            return int(self._scalars("SELECT count(*) FROM images", {})[0])
        if len(f.tags_all) == 1 and f == ImageFilter(tags_all=f.tags_all):
            return self._tag_images(f.tags_all[0])
        if len(f.tags_none) == 1 and f == ImageFilter(tags_none=f.tags_none):
            return int(self._scalars("SELECT count(*) FROM images", {})[0]) - self._tag_images(f.tags_none[0])
        known: dict[str, int] = {}
        if tags_only(f) and not self._rare_driver(f, known):
            return len(self._combine_tag_terms(f))
        if (indexed := self._indexed_ids(f, known)) is not None:
            return len(indexed)
        sql, params = self.build(f, known)
        return int(self._scalars(f"SELECT count(*) FROM ({sql.removesuffix(' ORDER BY i.id')})", params)[0])

    def _tag_images(self, tag: str) -> int:
        """Images with a live row matching the tag term (DISTINCT: an image tagged twice counts once). Tag rows
        always belong to an image (foreign key, cascade), so no join is needed."""
        from lorairo.services.live_tag_index import LiveTagIndex

        op, value = tag_match(tag)
        indexed = LiveTagIndex.of(self.db).term_ids(op, value)  # a built index: a wildcard's keys without SQL
        if indexed is not None:
            return len(indexed)
        sql = f"SELECT count(*) FROM (SELECT DISTINCT image_id FROM tags WHERE tag_key {op} :v AND is_rejected = 0)"
        return int(self._scalars(sql, {"v": value})[0])

    def fetch_rows(self, ids: Sequence[int], *, details: bool = True) -> list[ImageRow]:
        """Snapshots of `ids` in the order given (unknown IDs are left out). `details=False` skips tags,
        caption and scores (what the thumbnail grid needs)."""
        found: dict[int, dict[str, Any]] = {}
        tags: dict[int, list[str]] = {}
        confidences: dict[int, dict[str, float]] = {}
        captions: dict[int, str] = {}
        scores: dict[int, dict[str, float]] = {}
        metrics: dict[int, dict[str, float | int | None]] = {}
        with self.db.session() as s:
            for chunk in chunked(list(ids)):
                marks = ",".join(str(int(i)) for i in chunk)  # ints only: safe to inline, avoids param limits
                for row in s.execute(
                    self._text(
                        "SELECT i.id, i.file_name, i.file_path, i.hash_value, i.width, i.height, i.file_size, "
                        "i.format, i.created_at, i.excluded, coalesce(i.manual_rating, "
                        "(SELECT label FROM ratings r WHERE r.image_id = i.id ORDER BY r.id DESC LIMIT 1)) "
                        f"FROM images i WHERE i.id IN ({marks})"
                    )
                ):
                    found[int(row[0])] = dict(zip(_ROW_FIELDS, row, strict=True))
                if not details:
                    continue
                for image_id, tag, confidence in s.execute(
                    self._text(
                        "SELECT image_id, tag, confidence FROM tags "
                        f"WHERE is_rejected = 0 AND image_id IN ({marks}) ORDER BY id"
                    )
                ):
                    bucket = tags.setdefault(int(image_id), [])
                    if tag not in bucket:
                        bucket.append(tag)
                    if confidence is not None:
                        best = confidences.setdefault(int(image_id), {})
                        best[tag] = max(float(confidence), best.get(tag, 0.0))
                for image_id, caption in s.execute(
                    self._text(f"SELECT image_id, text FROM captions WHERE image_id IN ({marks}) ORDER BY id DESC")
                ):
                    captions.setdefault(int(image_id), caption)
                for image_id, name, value in s.execute(
                    self._text(f"SELECT image_id, score_name, value FROM quality_scores WHERE image_id IN ({marks})")
                ):
                    scores.setdefault(int(image_id), {})[name] = float(value)
                for row in s.execute(
                    self._text(
                        f"SELECT image_id, {', '.join(QUALITY_COLUMNS)} FROM image_quality "
                        f"WHERE image_id IN ({marks}) AND error IS NULL"
                    )
                ):
                    metrics[int(row[0])] = dict(zip(QUALITY_COLUMNS, row[1:], strict=True))
        rows = []
        for image_id in ids:
            base = found.get(int(image_id))
            if base is None:
                continue
            created = base["created_at"]
            if isinstance(created, str):
                created = datetime.fromisoformat(created)
            rows.append(
                ImageRow(
                    **{**base, "created_at": created, "excluded": bool(base["excluded"])},
                    tags=tuple(tags.get(image_id, ())),
                    tag_confidences=confidences.get(image_id, {}),
                    caption=captions.get(image_id),
                    scores=scores.get(image_id, {}),
                    quality=metrics.get(image_id, {}),
                )
            )
        return rows

    def tag_counts(self, prefix: str = "", limit: int = 50) -> list[tuple[str, int]]:
        """Tags used in this project whose key starts with `prefix`'s key, by the number of images that have
        them (autocomplete). Matching is by key like the filter itself, so `Green_E` suggests `green eyes`, and
        `Green Eyes` / `green eyes` rows are one suggestion (shown in the form most rows use)."""
        needle = glob_literal(tag_match_key(prefix).replace("*", "")) if prefix.strip() else ""
        with self.db.session() as s:
            counted = s.execute(
                self._text(
                    "SELECT tag_key, count(DISTINCT image_id) AS n FROM tags "
                    "WHERE is_rejected = 0 AND tag_key GLOB :p GROUP BY tag_key ORDER BY n DESC, tag_key "
                    "LIMIT :limit"
                ),
                {"p": f"{needle}*", "limit": limit},
            ).all()
            keys = [str(key) for key, _n in counted]
            shown: dict[str, tuple[int, str]] = {}
            if keys:
                marks = ", ".join(f":k{i}" for i in range(len(keys)))
                for key, tag, n in s.execute(
                    self._text(
                        "SELECT tag_key, tag, count(*) FROM tags WHERE is_rejected = 0 "
                        f"AND tag_key IN ({marks}) GROUP BY tag_key, tag"
                    ),
                    {f"k{i}": key for i, key in enumerate(keys)},
                ):
                    if (int(n), str(tag)) > shown.get(str(key), (0, "")):
                        shown[str(key)] = (int(n), str(tag))
        return [(shown[str(key)][1] if str(key) in shown else str(key), int(n)) for key, n in counted]


QUALITY_COLUMNS = METRIC_COLUMNS  # the metrics ImageRow.quality holds

_ROW_FIELDS = (
    "id",
    "file_name",
    "file_path",
    "hash_value",
    "width",
    "height",
    "file_size",
    "format",
    "created_at",
    "excluded",
    "rating",
)
