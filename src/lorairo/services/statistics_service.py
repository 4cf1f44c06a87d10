"""Dataset statistics for the Statistics view: tag frequency, score histograms, ratings, image sizes.

The whole project reads the counters triggers keep (database/counters.py). Over a filter the filter is evaluated
once (filter_ids) and a broad one is counted off the in-memory indexes (services/live_image_index.py for scores,
ratings, sizes and buckets, live_tag_index.py for tags: one numpy pass per figure); a small one, or one no index
could be built for, by one aggregated query per figure over the smaller side (filter_scope). Both are exact. Run
on a worker. Scores on different scales are compared on 0..1. Qt-free.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lorairo.database.counters import STATS_BINS
from lorairo.services.export.bucketing import BucketSettings, select_bucket
from lorairo.services.filter_scope import TABLE as SCOPE_TABLE
from lorairo.services.filter_scope import FilterScope, filter_scope, scoped_counts
from lorairo.services.image_query_service import ImageFilter, ImageQueryService
from lorairo.services.live_image_index import LiveImageIndex
from lorairo.services.tag_stats_service import ProjectTag, TagStatsService, _rows

if TYPE_CHECKING:
    import numpy as np

    from lorairo.database.engine import Database

HISTOGRAM_BINS = STATS_BINS  # the score_bins counters are kept per this many bins
# An image's bin on its score's own scale and its effective rating, spelled as the counters' triggers spell them.
_BIN = (
    f"min({HISTOGRAM_BINS - 1}, max(0, CAST((q.value - q.scale_min) * {HISTOGRAM_BINS} / "
    "nullif(q.scale_max - q.scale_min, 0) AS INTEGER)))"
)
_EFFECTIVE = "coalesce(i.manual_rating, i.last_rating, 'none')"
MAX_SCATTER_POINTS = 200_000  # beyond that the scatter shows an even sample (the shape does not change)


@dataclass(frozen=True)
class DatasetStats:
    """What the Statistics view plots. `score_bins[name]` counts images per 1/HISTOGRAM_BINS of the 0..1 range."""

    image_count: int
    tags: tuple[ProjectTag, ...]
    score_bins: dict[str, tuple[int, ...]] = field(default_factory=dict)
    score_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (scale min, scale max)
    ratings: dict[str, int] = field(default_factory=dict)
    widths: tuple[int, ...] = ()
    heights: tuple[int, ...] = ()


def _scope(image_filter: ImageFilter | None, column: str, query: ImageQueryService) -> tuple[str, dict[str, Any]]:
    """` AND <column> IN (<filter sql>)` and its parameters, or nothing for the whole project."""
    if image_filter is None or image_filter.is_empty():
        return "", {}
    sql, params = query.id_subquery(image_filter)
    return f" AND {column} IN ({sql})", params


def filter_ids(query: ImageQueryService, image_filter: ImageFilter) -> np.ndarray:
    """The filter's image ids, sorted and distinct (ImageQueryService.ids_array: the filter evaluated once; a
    `similar:` filter's come in ranking order). The view computes them once for its figures and its buckets."""
    import numpy as np

    ids = query.ids_array(image_filter)
    if ids.size > 1 and bool(np.any(ids[1:] <= ids[:-1])):
        ids = np.unique(ids)
    return ids


def dataset_statistics(
    db: Database,
    image_filter: ImageFilter | None = None,
    top_n: int = 30,
    query: ImageQueryService | None = None,
    ids: np.ndarray | None = None,
) -> DatasetStats:
    """Compute the view's figures (worker side). `query` selects the filter's images with the user's quality
    thresholds (the GUI passes its session's query service); without it the shipped defaults apply. `ids`: the
    filter's ids when the caller already has them (filter_ids), so the filter is not evaluated again."""
    query = query or ImageQueryService(db)
    if image_filter is not None and not image_filter.is_empty():
        ids = filter_ids(query, image_filter) if ids is None else ids
        return _filtered_statistics(db, query, image_filter, ids, top_n)
    # The whole project: the counters triggers keep (database/counters.py, alembic 0015), a few hundred rows
    # instead of reading 1M scores and 1M ratings (2.4 s at 1M, docs/benchmarks.md "Scale").
    count = int(_rows(db, "SELECT count(*) FROM images", {})[0][0])
    bins, ranges = _histograms(_rows(db, "SELECT score_name, bin, scale_min, scale_max, scores FROM score_bins", {}))
    ratings = _ratings(_rows(db, "SELECT label, images FROM rating_stats", {}))
    step = max(1, count // MAX_SCATTER_POINTS)
    sizes = _rows(db, f"SELECT i.width, i.height FROM images i WHERE i.id % {step} = 0", {})
    tags = tuple(TagStatsService(db, query).project_tags()[:top_n])
    return DatasetStats(count, tags, bins, ranges, ratings, *_sizes(sizes))


def _filtered_statistics(
    db: Database, query: ImageQueryService, image_filter: ImageFilter, ids: np.ndarray, top_n: int
) -> DatasetStats:
    """The figures over a filter's images, the filter evaluated once (ImageQueryService.ids_array). A broad filter
    reads the in-memory indexes (services/live_image_index.py for scores, ratings and sizes; live_tag_index.py
    for tags): one numpy pass per figure instead of joins of 350k-650k ids in SQL. Otherwise, or when no index
    could be built, the scope's SQL over the smaller side. Both are exact."""
    tag_stats = TagStatsService(db, query)
    index = LiveImageIndex.of(db)
    index.prepare(ids)  # a first build runs beside the tag counts (which may build the tag index themselves)
    tags = tag_stats.tags_of_ids(ids, image_filter)
    figures = index.figures(ids, -(-len(ids) // MAX_SCATTER_POINTS) or 1)
    if figures is None:
        with filter_scope(db, query, image_filter, ids) as scope:
            return _scoped_statistics(scope, tags[:top_n])
    bins, ranges = _histograms([(*key, n) for key, n in figures.bins.items()])
    return DatasetStats(
        int(ids.size),
        tuple(tags[:top_n]),
        bins,
        ranges,
        _ratings(list(figures.ratings.items())),
        figures.widths,
        figures.heights,
    )


def _scoped_statistics(scope: FilterScope, tags: list[ProjectTag]) -> DatasetStats:
    """The figures over the images of an open scope (evaluated once; the smaller side counted)."""
    table = SCOPE_TABLE
    histogram = scoped_counts(
        scope,
        f"SELECT q.score_name, {_BIN}, q.scale_min, q.scale_max, count(*) FROM {table} s CROSS "
        "JOIN quality_scores q ON q.image_id = s.id WHERE q.scale_max > q.scale_min GROUP BY 1, 2, 3, 4",
        "SELECT score_name, bin, scale_min, scale_max, scores FROM score_bins",
    )
    # The rating an image has: the manual one, else its newest model rating (as the grid and export read it),
    # kept on the row by triggers (images.last_rating): no look-up per image.
    ratings = scoped_counts(
        scope,
        f"SELECT {_EFFECTIVE}, count(*) FROM {table} s CROSS JOIN images i ON i.id = s.id GROUP BY 1",
        "SELECT label, images FROM rating_stats",
    )
    # An even sample of the filter's images (its ids are in memory): at most MAX_SCATTER_POINTS seeks, never a
    # scan of the project for the other side's ids.
    step = -(-len(scope.ids) // MAX_SCATTER_POINTS) or 1
    sample = json.dumps(scope.ids[::step].tolist())
    sizes = scope.rows("SELECT i.width, i.height FROM images i WHERE i.id IN (SELECT value FROM json_each(?))", sample)
    bins, ranges = _histograms([(*key, n) for key, n in histogram.items()])
    return DatasetStats(
        scope.images,
        tuple(tags),
        bins,
        ranges,
        _ratings([(*key, n) for key, n in ratings.items()]),
        *_sizes(sizes),
    )


def _histograms(
    rows: list[tuple[Any, ...]],
) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[float, float]]]:
    """(score name, bin, scale min, scale max, scores) rows -> per-name bins and each name's scale range."""
    bins: dict[str, list[int]] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for name, bucket, low, high, n in rows:
        if int(n) <= 0:
            continue
        bins.setdefault(str(name), [0] * HISTOGRAM_BINS)[int(bucket)] += int(n)
        seen = ranges.get(str(name), (float(low), float(high)))
        ranges[str(name)] = (min(seen[0], float(low)), max(seen[1], float(high)))
    return {name: tuple(values) for name, values in sorted(bins.items())}, ranges


def _ratings(rows: list[tuple[Any, ...]]) -> dict[str, int]:
    """(label, images) rows -> {label: images}, most images first."""
    counted = sorted(((str(label), int(n)) for label, n in rows if int(n) > 0), key=lambda r: -r[1])
    return dict(counted)


def _sizes(rows: list[tuple[Any, ...]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return tuple(int(w) for w, _h in rows), tuple(int(h) for _w, h in rows)


@dataclass(frozen=True)
class BucketDistribution:
    """How many images land in each training bucket (sd-scripts' aspect-ratio bucketing) for one setting."""

    settings: BucketSettings
    counts: tuple[tuple[tuple[int, int], int], ...]  # ((bucket width, height), images), widest aspect first
    images: int
    unbucketable: int = 0  # too small for any bucket with bucket_no_upscale

    @property
    def smallest(self) -> int:
        return min((n for _b, n in self.counts), default=0)


def bucket_distribution(
    db: Database,
    settings: BucketSettings,
    image_filter: ImageFilter | None = None,
    query: ImageQueryService | None = None,
    ids: np.ndarray | None = None,
) -> BucketDistribution:
    """The bucket each image would be trained in, counted (worker side).

    The size is the image's upright size, or its crop when one is set (what export writes). One query groups
    the images by size, so a 1M-image project with a few hundred distinct sizes costs a few hundred bucket
    look-ups, not a million.

    Raises:
        ValueError: `settings` are invalid (the message names the field, as the export checks them).
    """
    settings.validate()
    query = query or ImageQueryService(db)
    index = LiveImageIndex.of(db)
    if image_filter is not None and not image_filter.is_empty():
        # A broad filter's sizes off the in-memory figures index (services/live_image_index.py), from the ids
        # the view already holds (`ids`, else evaluated once here).
        ids = filter_ids(query, image_filter) if ids is None else ids
        indexed = index.size_counts(ids)
        if indexed is not None:
            return _buckets(settings, [(w, h, n) for (w, h), n in indexed.items()])
    elif index.snapshot is not None:
        # The whole project off the index when it is already built (the app builds it once a large project
        # has settled): at 1M 0.03 s instead of 0.65 s for SQL's GROUP BY over every image and its crop.
        indexed = index.size_counts(query.all_ids())
        if indexed is not None:
            return _buckets(settings, [(w, h, n) for (w, h), n in indexed.items()])
    where, params = _scope(image_filter, "i.id", query)
    sizes = _rows(
        db,
        "SELECT coalesce(r.crop_width, i.width) AS w, coalesce(r.crop_height, i.height) AS h, count(*) "
        "FROM images i LEFT JOIN image_regions r ON r.image_id = i.id "
        f"WHERE i.excluded = 0{where} GROUP BY w, h",
        params,
    )
    return _buckets(settings, sizes)


def _buckets(settings: BucketSettings, sizes: list[tuple[Any, ...]]) -> BucketDistribution:
    """(width, height, images) rows -> the images per training bucket."""
    counts: Counter[tuple[int, int]] = Counter()
    images = unbucketable = 0
    for width, height, n in sizes:
        images += int(n)
        try:
            bucket = select_bucket(int(width), int(height), settings).bucket
        except ValueError:
            unbucketable += int(n)
            continue
        counts[bucket] += int(n)
    ordered = sorted(counts.items(), key=lambda item: (-item[0][0] / item[0][1], item[0]))
    return BucketDistribution(settings, tuple(ordered), images, unbucketable)
