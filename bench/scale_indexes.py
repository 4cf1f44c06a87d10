"""bench/scale.py's parts about the in-memory indexes (services/live_tag_index.py, live_image_index.py), run in
its "sql" child at 1M images: `tagindex` (the tags panel's counts off the tag index), `figures` (the statistics
view's figures off the image index), `termids` (tag-only filters' whole id lists off the tag index), `mixedids`
(tags with score / rating / size / aspect terms off both indexes). Each result is
checked against plain SQL in the same run. Not a benchmark on its own.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

from machine import load
from scale_filters import FILTER_SIZES, KINDS, MIXED_KINDS, PER_KIND, TAG_ONLY_KINDS, percentiles


def _plain_tag_counts(db_path: Path, ids: Any) -> dict[str, int]:
    """Images per live tag text among `ids`: the plain aggregate the counts must equal."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT tag, count(DISTINCT image_id) FROM tags WHERE is_rejected = 0 "
            "AND image_id IN (SELECT value FROM json_each(?)) GROUP BY tag",
            (json.dumps([int(i) for i in ids]),),
        )
        return {str(tag): int(n) for tag, n in rows}
    finally:
        conn.close()


def tag_index(db: Any, query: Any) -> dict[str, Any]:
    """The in-memory tag index (alembic 0016): its build (CPU, peak RSS), the panel's counts over each filter
    size checked against a plain aggregate over the filter's ids, and the same after 5,000 images of the
    biggest filter got a tag from a second connection (the change log's overlay), the rows removed afterwards."""
    import gc

    from lorairo.services.image_query_service import parse_filter
    from lorairo.services.live_tag_index import LiveTagIndex
    from lorairo.services.tag_stats_service import TagStatsService

    out: dict[str, Any] = {}
    index = LiveTagIndex.of(db)
    # The first count of a broad filter (a fresh Database: no index yet) builds the index and waits for it.
    from lorairo.database.engine import Database

    fresh = Database(Path(db.path))
    c0, t0 = time.process_time(), time.perf_counter()
    TagStatsService(fresh, query).project_tags(parse_filter(FILTER_SIZES[2]))
    out[f"first panel count {FILTER_SIZES[2]} (builds the index)_s"] = round(time.perf_counter() - t0, 3)
    out[f"first panel count {FILTER_SIZES[2]} (builds the index)_cpu_s"] = round(time.process_time() - c0, 3)
    fresh.dispose()
    from machine import rss_mb

    index._snapshot = None  # measured alone: what the build holds once done
    gc.collect()
    rss0 = rss_mb()
    c0, t0 = time.process_time(), time.perf_counter()
    snapshot = index.build()
    out["build_s"] = round(time.perf_counter() - t0, 3)
    out["build_cpu_s"] = round(time.process_time() - c0, 3)
    out["pairs"] = int(snapshot.image_ids.size)
    out["tags"] = len(snapshot.tags)
    out["held_mb"] = round((snapshot.image_ids.nbytes + snapshot.indptr.nbytes) / 2**20, 1)
    out["rss_growth_mb"] = rss_mb() - rss0
    mismatches = []
    for text in FILTER_SIZES:
        f = parse_filter(text)
        got = {t.tag: t.count for t in TagStatsService(db, query).project_tags(f)}
        if got != _plain_tag_counts(db.path, query.ids_array(f)):
            mismatches.append(text)
    path = Path(db.path)
    f = parse_filter(FILTER_SIZES[-1])
    changed = [int(i) for i in query.ids_array(f)[:5000]]
    writer = sqlite3.connect(path)
    writer.executemany(
        "INSERT INTO tags (image_id, tag, tag_key, source, is_rejected, created_at, updated_at) "
        "VALUES (?, 'bench overlay', 'bench_overlay', 'manual', 0, '2026-01-01', '2026-01-01')",
        [(i,) for i in changed],
    )
    writer.commit()
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        got = {t.tag: t.count for t in TagStatsService(db, query).project_tags(f)}
        out["panel_after_5000_changed_s"] = round(time.perf_counter() - t0, 3)
        out["panel_after_5000_changed_cpu_s"] = round(time.process_time() - c0, 3)
        if got != _plain_tag_counts(path, query.ids_array(f)) or got.get("bench overlay") != len(changed):
            mismatches.append(f"{FILTER_SIZES[-1]} after 5,000 changed images")
    finally:
        writer.execute("DELETE FROM tags WHERE tag = 'bench overlay'")
        writer.commit()
        writer.close()
    index.build()  # as the background rebuild would leave it
    out["mismatches"] = mismatches
    return out


def results(query: Any, filters: list[tuple[str, str]]) -> dict[str, list[int]]:
    """Each filter's whole id list (ImageQueryService.ids_array, import order) followed by its count, by text."""
    from lorairo.services.image_query_service import parse_filter

    return {text: [*query.ids_array(parse_filter(text)).tolist(), query.count(parse_filter(text))]
            for _kind, text in filters}  # fmt: skip


def timed_results(query: Any, filters: list[tuple[str, str]], out: dict[str, Any], label: str) -> dict[str, list[int]]:
    """`results`, each filter's ids_array + count timed: wall percentiles per kind and over all in `out[label]`,
    CPU p50 per kind in `out[label + " cpu p50_ms"]`."""
    from lorairo.services.image_query_service import parse_filter

    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    found = {}
    for kind, text in filters:
        f = parse_filter(text)
        c0, t0 = time.process_time(), time.perf_counter()
        ids = query.ids_array(f)
        n = query.count(f)
        wall.setdefault(kind, []).append(time.perf_counter() - t0)
        cpu.setdefault(kind, []).append(time.process_time() - c0)
        found[text] = [*ids.tolist(), n]
    out[label] = {kind: percentiles(v) for kind, v in wall.items()}
    out[label]["all"] = percentiles([x for v in wall.values() for x in v])
    out[f"{label} cpu p50_ms"] = {k: round(statistics.median(v) * 1000, 1) for k, v in cpu.items()}
    return found


def term_ids(db: Any, query: Any) -> dict[str, Any]:
    """Tag-only filters' whole id list + count (ImageQueryService.ids_array + count, the grid's full result) in
    SQL (no index built), then off a built LiveTagIndex (term_ids), then after 5,000 images of "tag 0" lost it
    (rejected from a second connection: the overlay), each result compared with SQL's (identical or listed)."""
    from unittest.mock import patch

    from lorairo.services.live_tag_index import LiveTagIndex, read_key_snapshot

    rng = random.Random(12)
    filters = [(kind, KINDS[kind](rng)) for kind in TAG_ONLY_KINDS for _ in range(PER_KIND)]
    index = LiveTagIndex.of(db)
    out: dict[str, Any] = {"load_at_start": load()}

    def run(label: str) -> dict[str, list[int]]:
        return timed_results(query, filters, out, label)

    def in_sql() -> dict[str, list[int]]:
        with patch.object(LiveTagIndex, "term_ids", lambda *_args: None):
            return results(query, filters)

    assert index.keys is None, "measure SQL first: no index may be built yet"
    sql = run("sql")
    c0, t0 = time.process_time(), time.perf_counter()
    index.build()
    out["build_s (texts + keys)"] = round(time.perf_counter() - t0, 3)
    out["build_cpu_s (texts + keys)"] = round(time.process_time() - c0, 3)
    conn = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True, isolation_level=None)
    c0 = time.process_time()
    keys = read_key_snapshot(conn)
    conn.close()
    out["key part alone cpu_s"] = round(time.process_time() - c0, 3)
    out["keys"] = len(keys.keys)
    out["key part held_mb"] = round((keys.image_ids.nbytes + keys.indptr.nbytes) / 2**20, 1)
    mismatches = [text for text, ids in run("index").items() if ids != sql[text]]
    writer = sqlite3.connect(db.path)
    rows = [int(r) for (r,) in writer.execute(
        "SELECT id FROM tags WHERE tag_key = 'tag_0' AND is_rejected = 0 ORDER BY image_id LIMIT 5000")]  # fmt: skip
    writer.executemany("UPDATE tags SET is_rejected = 1 WHERE id = ?", [(r,) for r in rows])
    writer.commit()
    try:
        overlay = run("index, 5000 images changed")
        expected = in_sql()
        mismatches += [f"{text} (overlay)" for text, ids in overlay.items() if ids != expected[text]]
        changed = sum(overlay[text] != sql[text] for text in overlay)
        out["filters whose result the 5000 changes altered"] = changed
    finally:
        writer.executemany("UPDATE tags SET is_rejected = 0 WHERE id = ?", [(r,) for r in rows])
        writer.commit()
        writer.close()
    out["filters"] = len(filters)
    out["mismatches"] = mismatches
    out["load_at_end"] = load()
    return out


def figures_index(db: Any, query: Any) -> dict[str, Any]:
    """The statistics view's in-memory figures index (alembic 0016 image_dirty): the first view over a broad
    filter on a fresh Database (builds both indexes), the figures index's build alone, the view off the indexes
    compared with the view computed in SQL (no index) for every filter size, and the same after 5,000 images of
    the biggest filter got a manual rating and a score from a second connection (undone afterwards)."""
    import gc

    from lorairo.database.engine import Database
    from lorairo.services import live_image_index, live_tag_index
    from lorairo.services.export.bucketing import BucketSettings
    from lorairo.services.image_query_service import parse_filter
    from lorairo.services.live_image_index import LiveImageIndex
    from lorairo.services.statistics_service import bucket_distribution, dataset_statistics

    out: dict[str, Any] = {}
    fresh = Database(Path(db.path))
    c0, t0 = time.process_time(), time.perf_counter()
    dataset_statistics(fresh, parse_filter(FILTER_SIZES[2]))
    out[f"first view {FILTER_SIZES[2]} (builds both indexes)_s"] = round(time.perf_counter() - t0, 3)
    out[f"first view {FILTER_SIZES[2]} (builds both indexes)_cpu_s"] = round(time.process_time() - c0, 3)
    fresh.dispose()
    from machine import rss_mb

    index = LiveImageIndex.of(db)
    index._snapshot = None
    gc.collect()
    rss0 = rss_mb()
    c0, t0 = time.process_time(), time.perf_counter()
    snapshot = index.build()
    out["build_s"] = round(time.perf_counter() - t0, 3)
    out["build_cpu_s"] = round(time.process_time() - c0, 3)
    arrays = (snapshot.rating, snapshot.width, snapshot.height, snapshot.score_image, snapshot.score_key)
    out["held_mb"] = round(sum(a.nbytes for a in arrays) / 2**20, 1)
    out["rss_growth_mb"] = rss_mb() - rss0
    out["score_rows"] = int(snapshot.score_image.size)

    def in_sql(f: Any, compute: Any = dataset_statistics) -> Any:  # with neither index (SQL, the smaller side)
        held, build_from = index._snapshot, (live_image_index.BUILD_FROM, live_tag_index.BUILD_FROM)
        tags = live_tag_index.LiveTagIndex.of(db)
        tag_held, tags._snapshot = tags._snapshot, None
        index._snapshot = None
        live_image_index.BUILD_FROM = live_tag_index.BUILD_FROM = 10**12
        try:
            return compute(db, f)
        finally:
            index._snapshot, tags._snapshot = held, tag_held
            live_image_index.BUILD_FROM, live_tag_index.BUILD_FROM = build_from

    def buckets(db: Any, f: Any) -> Any:
        return bucket_distribution(db, BucketSettings(), f)

    mismatches = [
        text for text in FILTER_SIZES if dataset_statistics(db, parse_filter(text)) != in_sql(parse_filter(text))
    ]
    mismatches += [
        f"buckets {text}"
        for text in FILTER_SIZES
        if buckets(db, parse_filter(text)) != in_sql(parse_filter(text), buckets)
    ]
    path = Path(db.path)
    f = parse_filter(FILTER_SIZES[-1])
    changed = [int(i) for i in query.ids_array(f)[:5000]]
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA foreign_keys = ON")
    manual = writer.execute(
        "SELECT id, manual_rating FROM images WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(changed),)
    ).fetchall()
    writer.executemany("UPDATE images SET manual_rating = 'explicit' WHERE id = ?", [(i,) for i in changed])
    writer.executemany(
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (?, 'bench overlay', 0.7, 0, 1, 'manual', '2026-01-01')",
        [(i,) for i in changed],
    )
    writer.commit()
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        got = dataset_statistics(db, f)
        out["view_after_5000_changed_s"] = round(time.perf_counter() - t0, 3)
        out["view_after_5000_changed_cpu_s"] = round(time.process_time() - c0, 3)
        if got != in_sql(f) or sum(got.score_bins.get("bench overlay", ())) != len(changed):
            mismatches.append(f"{FILTER_SIZES[-1]} after 5,000 changed images")
        if buckets(db, f) != in_sql(f, buckets):
            mismatches.append(f"buckets {FILTER_SIZES[-1]} after 5,000 changed images")
    finally:
        writer.execute("DELETE FROM quality_scores WHERE score_name = 'bench overlay'")
        writer.executemany("UPDATE images SET manual_rating = ? WHERE id = ?", [(m, i) for i, m in manual])
        writer.commit()
        writer.close()
    index.build()  # as the background rebuild would leave it
    out["mismatches"] = mismatches
    return out


def _tick_stall(work: Any) -> tuple[float, Any]:
    """Run `work()` while another thread asks for the GIL every 5 ms, as the GUI thread's event loop would: the
    longest it waited past its 5 ms (s), and what `work` returned."""
    import threading

    worst = [0.0]
    done = threading.Event()

    def tick() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            time.sleep(0.005)
            worst[0] = max(worst[0], time.perf_counter() - t0 - 0.005)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        result = work()
    finally:
        done.set()
        ticker.join()
    return worst[0], result


def mixed_ids(db: Any, query: Any) -> dict[str, Any]:
    """Filters of tags with score / rating / size / aspect terms (MIXED_KINDS): whole id list + count
    (ImageQueryService.ids_array + count) in SQL (no index built), then off the built tag and image indexes
    (`_indexed_ids`), then after 5,000 images of "tag 0" got a manual rating, a second score and a new width from a
    second connection (both overlays; undone afterwards). Every result compared with SQL's. Also: both builds
    started together on their own threads as the app does after opening (the longest a 5 ms ticker thread waited
    for the GIL meanwhile), the memory they hold, and the rare-tag rule (SQL's IN list against the indexes)."""
    import gc
    import threading
    from unittest.mock import patch

    from machine import rss_mb

    from lorairo.services import image_query_service
    from lorairo.services.image_query_service import ImageQueryService
    from lorairo.services.live_image_index import LiveImageIndex
    from lorairo.services.live_tag_index import LiveTagIndex

    rng = random.Random(13)
    filters = [(kind, make(rng)) for kind, make in MIXED_KINDS.items() for _ in range(PER_KIND)]
    tags, images = LiveTagIndex.of(db), LiveImageIndex.of(db)
    out: dict[str, Any] = {"load_at_start": load()}

    def run(label: str, rare_rule: bool = True) -> dict[str, list[int]]:
        cap = image_query_service.TAG_SIZE_CAP if rare_rule else 0
        with patch.object(image_query_service, "TAG_SIZE_CAP", cap):
            return timed_results(query, filters, out, label)

    def in_sql() -> dict[str, list[int]]:
        with patch.object(ImageQueryService, "_indexed_ids", lambda *_args: None):
            return results(query, filters)

    assert tags.keys is None and images.snapshot is None, "measure SQL first: no index may be built yet"
    sql = run("sql")
    gc.collect()
    rss0 = rss_mb()

    def build_both() -> None:  # as ProjectSession starts them after a big project settled
        threads = [tags.start_build(), images.start_build()]
        for thread in threads:
            assert thread is not None
            thread.join()

    c0, t0 = time.process_time(), time.perf_counter()
    stall, _none = _tick_stall(build_both)
    out["both builds together_s"] = round(time.perf_counter() - t0, 3)
    out["both builds together_cpu_s"] = round(time.process_time() - c0, 3)
    out["both builds: longest GIL wait of a 5 ms ticker_ms"] = round(stall * 1000, 1)
    out["both indexes: rss growth_mb"] = rss_mb() - rss0
    snapshot = images.snapshot
    assert snapshot is not None and threading.active_count() >= 1
    added = (snapshot.manual, snapshot.model_ratings, snapshot.row_image, snapshot.row_name, snapshot.row_value)
    out["image index: arrays added for filters_mb"] = round(sum(a.nbytes for a in added) / 2**20, 1)
    held = (snapshot.rating, snapshot.width, snapshot.height, snapshot.excluded, snapshot.score_image,
            snapshot.score_key, *added)  # fmt: skip
    out["image index: all arrays_mb"] = round(sum(a.nbytes for a in held) / 2**20, 1)
    c0, t0 = time.process_time(), time.perf_counter()
    images.build()
    out["image index build alone_s"] = round(time.perf_counter() - t0, 3)
    out["image index build alone_cpu_s"] = round(time.process_time() - c0, 3)
    indexed = run("index")
    mismatches = [text for text, ids in indexed.items() if ids != sql[text]]
    forced = run("index, no rare-tag rule")
    mismatches += [f"{text} (no rare rule)" for text, ids in forced.items() if ids != sql[text]]
    writer = sqlite3.connect(db.path)
    first = "SELECT image_id FROM tags WHERE tag_key = 'tag_0' AND is_rejected = 0 ORDER BY image_id LIMIT 5000"
    changed = [int(r) for (r,) in writer.execute(first)]
    old = writer.execute(
        "SELECT id, width, manual_rating FROM images WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(changed),),
    ).fetchall()
    writer.executemany(
        "UPDATE images SET manual_rating = 'explicit', width = 1100 WHERE id = ?", [(i,) for i in changed]
    )
    writer.executemany(
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (?, 'bench overlay', 9.5, 0, 10, 'manual', '2026-01-01')",
        [(i,) for i in changed],
    )
    writer.commit()
    try:
        overlay = run("index, 5000 images changed")
        expected = in_sql()
        mismatches += [f"{text} (overlay)" for text, ids in overlay.items() if ids != expected[text]]
        out["filters whose result the 5000 changes altered"] = sum(overlay[text] != sql[text] for text in overlay)
    finally:
        writer.execute("DELETE FROM quality_scores WHERE score_name = 'bench overlay'")
        writer.executemany(
            "UPDATE images SET width = ?, manual_rating = ? WHERE id = ?", [(w, m, i) for i, w, m in old]
        )
        writer.commit()
        writer.close()
    out["filters"] = len(filters)
    out["mismatches"] = mismatches
    out["load_at_end"] = load()
    return out


def filtered_views(db: Any) -> dict[str, Any]:
    """The statistics view, the tags panel and the view's training buckets over each filter of FILTER_SIZES
    (after term_ids: off the indexes it built), wall and CPU seconds each."""
    from lorairo.services.export.bucketing import BucketSettings
    from lorairo.services.image_query_service import parse_filter
    from lorairo.services.statistics_service import bucket_distribution, dataset_statistics
    from lorairo.services.tag_stats_service import TagStatsService

    out: dict[str, Any] = {}
    for text in FILTER_SIZES:
        f = parse_filter(text)
        c0, t0 = time.process_time(), time.perf_counter()
        stats = dataset_statistics(db, f)
        wall, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        c0, t0 = time.process_time(), time.perf_counter()
        TagStatsService(db).project_tags(f)
        panel_s, panel_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        # The view's training buckets (the GUI's worker computes them beside the figures).
        c0, t0 = time.process_time(), time.perf_counter()
        bucket_distribution(db, BucketSettings(), f)
        out[f"filtered {text}"] = {
            "images": stats.image_count,
            "statistics_s": round(wall, 3),
            "statistics_cpu_s": round(cpu_s, 3),
            "tags_panel_s": round(panel_s, 3),
            "tags_panel_cpu_s": round(panel_cpu_s, 3),
            "buckets_s": round(time.perf_counter() - t0, 3),
            "buckets_cpu_s": round(time.process_time() - c0, 3),
        }
    return out
