"""The in-memory figures index (services/live_image_index.py) gives the statistics view the same score bins,
effective ratings and size sample over a filter as plain SQL over the filter's ids: after any sequence of writes
from another connection (model ratings, manual ratings, scores inserted / changed / deleted, sizes, image deletes
with their cascade, reused image ids), while it is stale, while it is being built, and through the view."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lorairo.database.engine import Database
from lorairo.database.schema import Base
from lorairo.services import live_image_index
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_query_service import ImageFilter, parse_filter
from lorairo.services.live_image_index import Figures, LiveImageIndex
from lorairo.services.project_service import Project, ProjectService
from tests.support.raw_rows import add_images, held_build, nth_row

from .test_edit_service import add_image

IMAGES = range(1, 7)
LABELS = ("general", "sensitive", "explicit")
SCALES = ((0.0, 1.0), (0.0, 10.0), (1.0, 1.0))  # the last is not a valid scale: never binned
NAMES = ("aesthetic", "nsfw")
BIN = "min(19, max(0, CAST((q.value - q.scale_min) * 20 / nullif(q.scale_max - q.scale_min, 0) AS INTEGER)))"


def reference(conn: sqlite3.Connection, ids: set[int], step: int) -> Figures:
    """The figures over `ids` in plain SQL (what statistics_service computes over a scope)."""
    marks = ",".join(str(i) for i in sorted(ids)) or "NULL"
    bins = {
        (str(name), int(b), float(lo), float(hi)): int(n)
        for name, b, lo, hi, n in conn.execute(
            f"SELECT q.score_name, {BIN}, q.scale_min, q.scale_max, count(*) FROM quality_scores q "
            f"WHERE q.scale_max > q.scale_min AND q.image_id IN ({marks}) GROUP BY 1, 2, 3, 4"
        )
    }
    ratings = {
        str(label): int(n)
        for label, n in conn.execute(
            "SELECT coalesce(manual_rating, last_rating, 'none'), count(*) FROM images "
            f"WHERE id IN ({marks}) GROUP BY 1"
        )
    }
    sample = ",".join(str(i) for i in sorted(ids)[::step]) or "NULL"
    sizes = conn.execute(f"SELECT width, height FROM images WHERE id IN ({sample}) ORDER BY id").fetchall()
    return Figures(bins, ratings, tuple(int(w) for w, _h in sizes), tuple(int(h) for _w, h in sizes))


def indexed(index: LiveImageIndex, ids: set[int], step: int) -> Figures | None:
    return index.figures(np.array(sorted(ids), dtype=np.int64), step)


def _add_rating(conn: sqlite3.Connection, image: int, label: str) -> None:
    conn.execute(
        "INSERT INTO ratings (image_id, label, source, created_at) VALUES (?, ?, 'model', '2026-01-01')",
        (image, label),
    )


def _add_score(conn: sqlite3.Connection, image: int, name: str, value: float, scale: tuple[float, float]) -> None:
    conn.execute(
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'model', '2026-01-01')",
        (image, name, value, *scale),
    )


def _size(base: int = 8) -> Callable[[int], tuple[int, int]]:
    """Image sizes that differ per image: (base + id, 2 * base)."""
    return lambda i: (base + i, base * 2)


def _reset(conn: sqlite3.Connection, images: list[int]) -> None:
    for table in ("quality_scores", "ratings", "tags", "images"):
        conn.execute(f"DELETE FROM {table}")
    add_images(conn, images, _size())


@pytest.fixture(scope="module")
def raw_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("live_image_index") / "database.db"
    db = Database(path)
    Base.metadata.create_all(db.write_engine)
    db.dispose()
    return path


values = st.sampled_from((-0.5, 0.0, 0.05, 0.5, 0.999, 1.0, 3.3, 9.99, 10.0, 12.0))
ops = st.one_of(
    st.tuples(st.just("rating"), st.sampled_from(IMAGES), st.sampled_from(LABELS)),
    st.tuples(st.just("drop_rating"), st.integers(0, 30)),
    st.tuples(st.just("manual"), st.sampled_from(IMAGES), st.sampled_from((*LABELS, None))),
    st.tuples(st.just("score"), st.sampled_from(IMAGES), st.sampled_from(NAMES), values, st.sampled_from(SCALES)),
    st.tuples(st.just("rescore"), st.integers(0, 30), values),
    st.tuples(st.just("drop_score"), st.integers(0, 30)),
    st.tuples(st.just("resize"), st.sampled_from(IMAGES), st.integers(1, 4000)),
    st.tuples(st.just("drop_image"), st.sampled_from(IMAGES)),
    st.tuples(st.just("add_image"), st.sampled_from(IMAGES)),
    st.tuples(st.just("build")),
)


def _apply(writer: sqlite3.Connection, index: LiveImageIndex, step: tuple[Any, ...]) -> None:
    kind = step[0]
    exists = len(step) > 1 and bool(writer.execute("SELECT 1 FROM images WHERE id = ?", (step[1],)).fetchone())
    if kind == "build":
        index.build()
    elif kind == "rating" and exists:  # images.last_rating follows through 0015's triggers
        _add_rating(writer, step[1], step[2])
    elif kind == "drop_rating" and (row := nth_row(writer, "ratings", step[1])) is not None:
        writer.execute("DELETE FROM ratings WHERE id = ?", (row,))
    elif kind == "manual":
        writer.execute("UPDATE images SET manual_rating = ? WHERE id = ?", (step[2], step[1]))
    elif kind == "score" and exists:
        _add_score(writer, step[1], step[2], step[3], step[4])
    elif kind == "rescore" and (row := nth_row(writer, "quality_scores", step[1])) is not None:
        writer.execute("UPDATE quality_scores SET value = ? WHERE id = ?", (step[2], row))
    elif kind == "drop_score" and (row := nth_row(writer, "quality_scores", step[1])) is not None:
        writer.execute("DELETE FROM quality_scores WHERE id = ?", (row,))
    elif kind == "resize":
        writer.execute("UPDATE images SET width = ?, height = ? WHERE id = ?", (step[2], step[2] // 2 + 1, step[1]))
    elif kind == "drop_image":  # its scores and ratings go by the foreign key's cascade
        writer.execute("DELETE FROM images WHERE id = ?", (step[1],))
    elif kind == "add_image" and not exists:  # a reused id after a delete
        add_images(writer, [step[1]], _size(100))
    writer.commit()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.lists(ops, max_size=15),
    steps=st.lists(ops, max_size=25),
    filters=st.lists(st.tuples(st.sets(st.sampled_from(IMAGES)), st.integers(1, 3)), min_size=1, max_size=4),
)
def test_figures_equal_plain_sql_after_any_writes(
    raw_db: Path,
    start: list[tuple[Any, ...]],
    steps: list[tuple[Any, ...]],
    filters: list[tuple[set[int], int]],
) -> None:
    writer = sqlite3.connect(raw_db)  # another connection than the index's and the reader's
    writer.execute("PRAGMA foreign_keys = ON")
    _reset(writer, list(IMAGES))
    writer.commit()
    index = LiveImageIndex(raw_db)
    for step in start:
        _apply(writer, index, step)
    index.build()
    reader = sqlite3.connect(raw_db, isolation_level=None)  # autocommit: each read sees the latest commit
    try:
        for step in steps:
            _apply(writer, index, step)
            for ids, sample_step in filters:
                assert indexed(index, ids, sample_step) == reference(reader, ids, sample_step), (step, ids)
    finally:
        reader.close()
        writer.close()


def test_a_build_held_while_rows_change_catches_up_once_used(raw_db: Path) -> None:
    """Writes made after the build read its rows (inside its read transaction) are seen once it is used."""
    writer = sqlite3.connect(raw_db)
    writer.execute("PRAGMA foreign_keys = ON")
    _reset(writer, [1, 2, 3])
    _add_rating(writer, 1, "general")
    _add_score(writer, 2, "aesthetic", 5.0, (0.0, 10.0))
    writer.commit()
    index = LiveImageIndex(raw_db)
    thread, release = held_build(index)  # it has read its rows and waits inside its read transaction
    assert index.start_build() is None  # one build at a time
    _add_rating(writer, 2, "explicit")
    writer.execute("UPDATE images SET manual_rating = 'sensitive', width = 999 WHERE id = 1")
    writer.execute("UPDATE quality_scores SET value = 9.5")
    writer.execute("DELETE FROM images WHERE id = 3")
    add_images(writer, [4], _size())
    writer.commit()
    release.set()
    thread.join(10)
    assert index.snapshot is not None and index.snapshot.labels == ("general", "none")  # the rows it read
    reader = sqlite3.connect(raw_db, isolation_level=None)
    for ids in ({1, 2, 3, 4}, {1}, {3}, set()):
        assert indexed(index, ids, 1) == reference(reader, ids, 1)
    assert indexed(index, {1, 2, 3, 4}, 1) == Figures(
        {("aesthetic", 19, 0.0, 10.0): 1}, {"sensitive": 1, "explicit": 1, "none": 1}, (999, 10, 12), (16, 16, 16)
    )
    reader.close()
    writer.close()


def test_many_changed_images_start_a_new_build(raw_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_image_index, "REBUILD_AFTER", 2)
    writer = sqlite3.connect(raw_db)
    _reset(writer, [1, 2, 3, 4])
    writer.commit()
    index = LiveImageIndex(raw_db)
    index.build()
    for image in (1, 2, 3):
        _add_rating(writer, image, "explicit")
    writer.commit()
    reader = sqlite3.connect(raw_db, isolation_level=None)
    assert indexed(index, {1, 2, 4}, 1) == reference(reader, {1, 2, 4}, 1)  # the overlay, while a rebuild starts
    thread = index._thread
    assert thread is not None
    thread.join(10)
    assert index.builds == 2 and index.snapshot is not None and "explicit" in index.snapshot.labels
    assert indexed(index, {1, 2, 4}, 1) == reference(reader, {1, 2, 4}, 1)
    reader.close()
    writer.close()


def test_a_small_filter_builds_nothing_and_a_broad_one_waits_for_the_build(
    raw_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_image_index, "BUILD_FROM", 2)
    writer = sqlite3.connect(raw_db)
    _reset(writer, [1, 2, 3])
    writer.commit()
    writer.close()
    index = LiveImageIndex(raw_db)
    assert indexed(index, {1}, 1) is None and index.builds == 0  # small: SQL, nothing built
    figures = indexed(index, {1, 3}, 1)
    assert figures is not None and figures.ratings == {"none": 2} and index.builds == 1


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("live_figures")
    yield project
    project.close()


def test_statistics_view_over_filters_off_the_indexes_equals_the_sql_path(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The view over a filter, with the indexes, equals the same view computed in SQL (indexes disabled)."""
    from lorairo.services import live_tag_index, statistics_service
    from lorairo.services.statistics_service import dataset_statistics

    monkeypatch.setattr(statistics_service, "MAX_SCATTER_POINTS", 2)
    ids = [add_image(project, f"{n}.png", tags={"cat": "general", f"t{n % 3}": "general"}) for n in range(9)]
    raw = sqlite3.connect(project.db_path)  # like `lorairo annotate` in another process
    raw.execute("PRAGMA foreign_keys = ON")
    for n, image in enumerate(ids):
        _add_score(raw, image, "aesthetic", n * 1.1, (0.0, 10.0))
        _add_rating(raw, image, LABELS[n % 3])
    raw.commit()
    filters = (
        ImageFilter(tags_all=("cat",)),
        ImageFilter(tags_all=("t2",)),
        ImageFilter(tags_none=("t1",)),
    )
    monkeypatch.setattr(live_image_index, "BUILD_FROM", 10**9)  # the SQL path: no index is built
    monkeypatch.setattr(live_tag_index, "BUILD_FROM", 10**9)
    before = [dataset_statistics(project.db, f) for f in filters]
    monkeypatch.setattr(live_image_index, "BUILD_FROM", 1)
    monkeypatch.setattr(live_tag_index, "BUILD_FROM", 1)
    assert [dataset_statistics(project.db, f) for f in filters] == before
    index = LiveImageIndex.of(project.db)
    assert index.builds == 1
    raw.execute("UPDATE images SET manual_rating = 'explicit' WHERE id = ?", (ids[0],))
    raw.execute("UPDATE quality_scores SET value = 0.2 WHERE image_id = ?", (ids[1],))
    raw.execute("DELETE FROM images WHERE id = ?", (ids[8],))
    raw.commit()
    after = [dataset_statistics(project.db, f) for f in filters]
    assert index.builds == 1  # the overlay answered
    monkeypatch.setattr(live_image_index, "BUILD_FROM", 10**9)
    monkeypatch.setattr(live_tag_index, "BUILD_FROM", 10**9)
    LiveImageIndex.of(project.db)._snapshot = None
    assert after == [dataset_statistics(project.db, f) for f in filters]
    assert after != before
    raw.close()


def test_the_image_holding_the_newest_log_row_at_the_build_is_read_again(raw_db: Path) -> None:
    """An image already holding the log's newest row is not logged again when it changes (one row per run of
    writes to it): the index re-reads the images of rows at or after its build's revision, so it still sees it."""
    writer = sqlite3.connect(raw_db)
    writer.execute("PRAGMA foreign_keys = ON")
    _reset(writer, [1, 2])
    _add_score(writer, 2, "aesthetic", 0.5, (0.0, 1.0))  # image 2 now holds the newest row
    writer.commit()
    index = LiveImageIndex(raw_db)
    snapshot = index.build()
    writer.execute("UPDATE quality_scores SET value = 0.95 WHERE image_id = 2")
    writer.execute("UPDATE images SET manual_rating = 'explicit', width = 640 WHERE id = 2")
    writer.commit()
    newer = writer.execute("SELECT count(*) FROM image_dirty WHERE rev > ?", (snapshot.rev,)).fetchone()[0]
    assert newer == 0  # image 2 was not logged again
    figures = indexed(index, {1, 2}, 1)
    assert figures == Figures({("aesthetic", 19, 0.0, 1.0): 1}, {"explicit": 1, "none": 1}, (9, 640), (16, 16))
    writer.close()


def test_bucket_distribution_over_a_filter_off_the_index_equals_the_sql_path(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizes, crops (one side or both), exclusion and later raw writes: the buckets off the index equal SQL's."""
    from lorairo.services.export.bucketing import BucketSettings
    from lorairo.services.statistics_service import bucket_distribution

    ids = [add_image(project, f"{n}.png", tags={"cat": "general"}) for n in range(8)]
    raw = sqlite3.connect(project.db_path)
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("UPDATE images SET excluded = 1 WHERE id = ?", (ids[0],))  # first: not the newest logged image
    for n, image in enumerate(ids):
        raw.execute("UPDATE images SET width = ?, height = ? WHERE id = ?", (512 + 64 * n, 1024 - 32 * n, image))
    for image, crop in ((ids[1], (300, 700)), (ids[2], (None, 400)), (ids[3], (900, None))):
        raw.execute(
            "INSERT INTO image_regions (image_id, crop_left, crop_top, crop_width, crop_height, updated_at) "
            "VALUES (?, 0, 0, ?, ?, '2026-01-01')",
            (image, *crop),
        )
    raw.commit()
    settings = BucketSettings()
    image_filter = ImageFilter(tags_all=("cat",))

    def both() -> tuple[object, object]:
        monkeypatch.setattr(live_image_index, "BUILD_FROM", 10**9)
        LiveImageIndex.of(project.db)._snapshot = None
        in_sql = bucket_distribution(project.db, settings, image_filter)
        monkeypatch.setattr(live_image_index, "BUILD_FROM", 1)
        return bucket_distribution(project.db, settings, image_filter), in_sql

    off_index, in_sql = both()
    assert off_index == in_sql and in_sql.images == 7  # type: ignore[attr-defined]
    image_filter = parse_filter("excluded")  # the excluded image alone: nothing to train
    only_excluded, in_sql = both()
    assert only_excluded == in_sql and in_sql.images == 0  # type: ignore[attr-defined]
    image_filter = ImageFilter(tags_all=("cat",))
    index = LiveImageIndex.of(project.db)
    index.build()
    builds = index.builds
    raw.execute("UPDATE images SET excluded = 0 WHERE id = ?", (ids[0],))
    raw.execute("UPDATE images SET excluded = 1, width = 2000 WHERE id = ?", (ids[4],))
    raw.execute("UPDATE image_regions SET crop_width = 256 WHERE image_id = ?", (ids[1],))
    raw.execute("DELETE FROM images WHERE id = ?", (ids[5],))
    raw.commit()
    after = bucket_distribution(project.db, settings, image_filter)  # the overlay
    assert index.builds == builds
    monkeypatch.setattr(live_image_index, "BUILD_FROM", 10**9)
    index._snapshot = None
    assert after == bucket_distribution(project.db, settings, image_filter)
    assert after != off_index
    raw.close()


def test_bucket_distribution_of_the_whole_project_off_a_built_index_equals_the_sql_path(project: Project) -> None:
    """The Statistics view's buckets with no filter: off the index once the app has built it (1M: 0.03 s against
    0.65 s), exact after later raw writes (sizes, a crop, exclusion, a deleted image: ids with a gap)."""
    from lorairo.services.export.bucketing import BucketSettings
    from lorairo.services.statistics_service import bucket_distribution

    ids = [add_image(project, f"{n}.png", tags={"cat": "general"}) for n in range(6)]
    raw = sqlite3.connect(project.db_path)
    raw.execute("PRAGMA foreign_keys = ON")
    for n, image in enumerate(ids):
        raw.execute("UPDATE images SET width = ?, height = ? WHERE id = ?", (512 + 128 * n, 1024, image))
    raw.commit()
    settings = BucketSettings()
    index = LiveImageIndex.of(project.db)
    assert bucket_distribution(project.db, settings) is not None and index.snapshot is None  # nothing built for it
    index.build()
    raw.execute("UPDATE images SET width = 3000, height = 700 WHERE id = ?", (ids[0],))
    raw.execute(
        "INSERT INTO image_regions (image_id, crop_left, crop_top, crop_width, crop_height, updated_at) "
        "VALUES (?, 0, 0, 400, 400, '2026-01-01')",
        (ids[1],),
    )
    raw.execute("UPDATE images SET excluded = 1 WHERE id = ?", (ids[2],))
    raw.execute("DELETE FROM images WHERE id = ?", (ids[3],))
    raw.commit()
    builds = index.builds
    off_index = bucket_distribution(project.db, settings)
    assert index.builds == builds
    index._snapshot = None
    in_sql = bucket_distribution(project.db, settings)
    assert off_index == in_sql and in_sql.images == 4
    raw.close()
