"""The in-memory tag index (services/live_tag_index.py) gives the same per-tag image counts over a filter as a
plain SQL aggregate over the filter's ids: after any sequence of tag writes from another connection (inserts,
deletes, rejects, renames, moves, image deletes with their cascade, reused image ids), while it is stale, while
it is being built, and through the tags panel and the statistics view after the edit service's writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lorairo.database.engine import Database
from lorairo.database.schema import Base
from lorairo.services import live_tag_index
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import EditService
from lorairo.services.image_query_service import ImageFilter
from lorairo.services.live_tag_index import LiveTagIndex
from lorairo.services.project_service import Project, ProjectService
from lorairo.services.tag_stats_service import TagStatsService
from tests.support.raw_rows import add_images, add_tag, held_build, nth_row

from .test_edit_service import add_image

TAGS = ("cat", "Cat", "dog", "sky", "long hair")
IMAGES = range(1, 7)


def reference(conn: sqlite3.Connection, ids: set[int]) -> dict[str, int]:
    """Images per live tag text among `ids`: the plain aggregate."""
    marks = ",".join(str(i) for i in sorted(ids)) or "NULL"
    rows = conn.execute(
        f"SELECT tag, count(DISTINCT image_id) FROM tags WHERE is_rejected = 0 AND image_id IN ({marks}) GROUP BY tag"
    )
    return {str(tag): int(n) for tag, n in rows}


def indexed(index: LiveTagIndex, ids: set[int]) -> dict[str, int] | None:
    """The index's counts over the filter's ids (sorted, as ImageQueryService.ids_array gives them)."""
    return index.counts(np.array(sorted(ids), dtype=np.int64))


@pytest.fixture(scope="module")
def raw_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("live_tag_index") / "database.db"
    db = Database(path)
    Base.metadata.create_all(db.write_engine)
    db.dispose()
    return path


ops = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(IMAGES), st.sampled_from(TAGS), st.booleans()),
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("reject"), st.integers(0, 40), st.booleans()),
    st.tuples(st.just("rename"), st.integers(0, 40), st.sampled_from(TAGS)),
    st.tuples(st.just("move"), st.integers(0, 40), st.sampled_from(IMAGES)),
    st.tuples(st.just("drop_image"), st.sampled_from(IMAGES)),
    st.tuples(st.just("add_image"), st.sampled_from(IMAGES)),
    st.tuples(st.just("build")),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.lists(st.tuples(st.sampled_from(IMAGES), st.sampled_from(TAGS), st.booleans()), max_size=20),
    steps=st.lists(ops, max_size=25),
    filters=st.lists(st.sets(st.sampled_from(IMAGES)), min_size=1, max_size=4),
)
def test_counts_equal_a_plain_aggregate_after_any_writes(
    raw_db: Path,
    start: list[tuple[int, str, bool]],
    steps: list[tuple],  # type: ignore[type-arg]
    filters: list[set[int]],
) -> None:
    writer = sqlite3.connect(raw_db)  # another connection than the index's and the reader's
    writer.execute("PRAGMA foreign_keys = ON")
    for table in ("tags", "images"):
        writer.execute(f"DELETE FROM {table}")
    add_images(writer, list(IMAGES))
    for image, tag, rejected in start:
        add_tag(writer, image, tag, rejected)
    writer.commit()
    index = LiveTagIndex(raw_db)
    index.build()
    reader = sqlite3.connect(raw_db, isolation_level=None)  # autocommit: each count sees the latest commit
    try:
        for step in steps:
            kind = step[0]
            exists = len(step) > 1 and bool(writer.execute("SELECT 1 FROM images WHERE id = ?", (step[1],)).fetchone())
            if kind == "build":
                index.build()
            elif kind == "insert" and exists:
                add_tag(writer, step[1], step[2], step[3])
            elif kind == "drop_image":  # its tag rows go by the foreign key's cascade
                writer.execute("DELETE FROM images WHERE id = ?", (step[1],))
            elif kind == "add_image" and not exists:  # a reused id after a delete
                add_images(writer, [step[1]])
            elif (
                kind in ("delete", "reject", "rename", "move") and (row := nth_row(writer, "tags", step[1])) is not None
            ):
                if kind == "delete":
                    writer.execute("DELETE FROM tags WHERE id = ?", (row,))
                elif kind == "reject":
                    writer.execute("UPDATE tags SET is_rejected = ? WHERE id = ?", (int(step[2]), row))
                elif kind == "rename":
                    writer.execute("UPDATE tags SET tag = ?, tag_key = lower(?) WHERE id = ?", (step[2], step[2], row))
                elif writer.execute("SELECT 1 FROM images WHERE id = ?", (step[2],)).fetchone():
                    writer.execute("UPDATE tags SET image_id = ? WHERE id = ?", (step[2], row))
            writer.commit()
            for ids in filters:
                assert indexed(index, ids) == reference(reader, ids), (step, ids)
    finally:
        reader.close()
        writer.close()


def test_a_build_in_progress_leaves_counts_to_sql_and_its_snapshot_catches_up(raw_db: Path) -> None:
    """Counts asked while the first index is being built are answered in SQL (None here); the writes that
    happened after the build read its rows are still counted once it is used."""
    writer = sqlite3.connect(raw_db)
    writer.execute("PRAGMA foreign_keys = ON")
    for table in ("tags", "images"):
        writer.execute(f"DELETE FROM {table}")
    add_images(writer, [1, 2, 3])
    for image, tag in ((1, "cat"), (2, "cat"), (2, "dog"), (3, "sky")):
        add_tag(writer, image, tag)
    writer.commit()
    index = LiveTagIndex(raw_db)
    thread, release = held_build(index)  # it has read its rows and waits inside its read transaction
    assert index.start_build() is None  # one build at a time
    reader = sqlite3.connect(raw_db, isolation_level=None)  # autocommit: each count sees the latest commit
    assert indexed(index, {1, 2}) is None  # not ready: the caller counts in SQL
    writer.execute("DELETE FROM tags WHERE image_id = 1")
    add_tag(writer, 3, "cat")
    writer.execute("DELETE FROM images WHERE id = 2")
    writer.commit()
    release.set()
    thread.join(10)
    assert index.snapshot is not None and index.snapshot.tags == ("cat", "dog", "sky")  # the rows it read
    for ids in ({1, 2, 3}, {3}, {1}, set()):
        assert indexed(index, ids) == reference(reader, ids)
    assert reference(reader, {1, 2, 3}) == {"cat": 1, "sky": 1}
    reader.close()
    writer.close()


def test_many_changed_images_start_a_new_build_and_counts_stay_exact(
    raw_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_tag_index, "REBUILD_AFTER", 2)
    writer = sqlite3.connect(raw_db)
    for table in ("tags", "images"):
        writer.execute(f"DELETE FROM {table}")
    add_images(writer, [1, 2, 3, 4])
    writer.commit()
    index = LiveTagIndex(raw_db)
    index.build()
    for image in (1, 2, 3):
        add_tag(writer, image, "cat")
    writer.commit()
    reader = sqlite3.connect(raw_db, isolation_level=None)  # autocommit: each count sees the latest commit
    assert indexed(index, {1, 2, 4}) == {"cat": 2}  # the overlay, while a rebuild starts
    thread = index._thread
    assert thread is not None
    thread.join(10)
    assert index.builds == 2 and index.snapshot is not None and index.snapshot.tags == ("cat",)
    assert indexed(index, {1, 2, 4}) == {"cat": 2}
    reader.close()
    writer.close()


def test_the_first_broad_count_builds_the_index_and_waits_for_it(raw_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_tag_index, "BUILD_FROM", 2)
    writer = sqlite3.connect(raw_db)
    for table in ("tags", "images"):
        writer.execute(f"DELETE FROM {table}")
    add_images(writer, [1, 2, 3])
    for image, tag in ((1, "cat"), (2, "cat"), (3, "dog")):
        add_tag(writer, image, tag)
    writer.commit()
    writer.close()
    index = LiveTagIndex(raw_db)
    assert indexed(index, {1}) is None and index.builds == 0  # small: SQL, nothing built
    assert indexed(index, {1, 3}) == {"cat": 1, "dog": 1} and index.builds == 1


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("live_tags")
    yield project
    project.close()


def test_tags_panel_and_statistics_over_filters_follow_service_and_raw_writes(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lorairo.services import statistics_service
    from lorairo.services.statistics_service import dataset_statistics

    monkeypatch.setattr(statistics_service, "MAX_SCATTER_POINTS", 2)  # an even sample of the filter's images

    ids = [add_image(project, f"{n}.png", tags={"cat": "general", f"t{n % 3}": "general"}) for n in range(9)]
    index = LiveTagIndex.of(project.db)
    index.build()
    service = EditService(project)
    service.add_tags(ids[:4], ["long hair"])
    service.rename_everywhere("t1", "t2")
    service.remove_tags([ids[0]], ["cat"])
    raw = sqlite3.connect(project.db_path)  # like `lorairo annotate` in another process
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("UPDATE tags SET is_rejected = 1 WHERE image_id = ? AND tag = 'long hair'", (ids[1],))
    raw.execute("DELETE FROM images WHERE id = ?", (ids[8],))
    raw.commit()
    stats = TagStatsService(project.db)
    for image_filter in (
        ImageFilter(tags_all=("cat",)),  # most of the project: the others are in the scope's table
        ImageFilter(tags_all=("t2",)),
        ImageFilter(tags_none=("long hair",)),
        ImageFilter(tags_any=(("t0", "long hair"),)),
    ):
        chosen = [int(i) for i in stats.query.ids_array(image_filter)]
        expected = reference(raw, set(chosen))
        assert {t.tag: t.count for t in stats.project_tags(image_filter)} == expected, image_filter
        view = dataset_statistics(project.db, image_filter)
        assert view.image_count == len(chosen)
        assert {t.tag: t.count for t in view.tags} == expected
        assert len(view.widths) == len(chosen[:: -(-len(chosen) // 2)])
    assert index.snapshot is not None and index.builds == 1  # the counts above came off the index
    raw.close()
