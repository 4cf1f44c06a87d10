"""The counters kept by triggers (tag_stats, images.tag_count / best_score / best_aesthetic) always equal the
aggregate they replace, after every kind of write: the edit service's insert / reject / rename / delete and
their undo, deleting an image (foreign-key cascade), and raw SQL from a second connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from lorairo.database import counters, migrations
from lorairo.database.engine import Database
from lorairo.database.schema import Base
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import EditCommand, EditService
from lorairo.services.project_service import Project, ProjectService
from lorairo.services.tag_stats_service import TagStatsService

from .test_edit_service import add_image

_SCORE = "(q.value - q.scale_min) / nullif(q.scale_max - q.scale_min, 0)"


def drift(conn: sqlite3.Connection) -> dict[str, object]:
    """Where a counter differs from the aggregate recomputed from the rows (empty: in step)."""
    stats = set(conn.execute("SELECT tag, images, first_id FROM tag_stats"))
    truth = set(
        conn.execute("SELECT tag, count(DISTINCT image_id), min(id) FROM tags WHERE is_rejected = 0 GROUP BY tag")
    )
    found: dict[str, object] = {}
    if stats != truth:
        found["tag_stats"] = (sorted(stats - truth), sorted(truth - stats))
    tag_counts = conn.execute(
        "SELECT id, tag_count FROM images WHERE tag_count IS NOT (SELECT count(DISTINCT t.tag) FROM tags t "
        "WHERE t.image_id = images.id AND t.is_rejected = 0)"
    ).fetchall()
    if tag_counts:
        found["tag_count"] = tag_counts
    scores = conn.execute(
        f"SELECT id FROM images WHERE best_score IS NOT (SELECT max({_SCORE}) FROM quality_scores q "
        "WHERE q.image_id = images.id AND (q.score_name LIKE 'aesthetic%' OR q.source = 'manual')) "
        f"OR best_aesthetic IS NOT (SELECT max({_SCORE}) FROM quality_scores q WHERE q.image_id = images.id "
        "AND q.score_name LIKE 'aesthetic%')"
    ).fetchall()
    if scores:
        found["scores"] = scores
    # Statistics view counters (alembic 0015) against the queries they replace.
    last = conn.execute(
        "SELECT id, last_rating FROM images WHERE last_rating IS NOT (SELECT r.label FROM ratings r "
        "WHERE r.image_id = images.id ORDER BY r.id DESC LIMIT 1)"
    ).fetchall()
    if last:
        found["last_rating"] = last
    ratings = dict(conn.execute("SELECT label, images FROM rating_stats"))
    ratings_truth = dict(
        conn.execute(
            "SELECT coalesce(i.manual_rating, (SELECT r.label FROM ratings r WHERE r.image_id = i.id "
            "ORDER BY r.id DESC LIMIT 1), 'none'), count(*) FROM images i GROUP BY 1"
        )
    )
    if ratings != ratings_truth:
        found["rating_stats"] = (ratings, ratings_truth)
    bins = set(conn.execute("SELECT score_name, bin, scale_min, scale_max, scores FROM score_bins"))
    bins_truth = set(
        conn.execute(
            "SELECT q.score_name, min(19, max(0, CAST((q.value - q.scale_min) * 20 / nullif(q.scale_max - "
            "q.scale_min, 0) AS INTEGER))), q.scale_min, q.scale_max, count(*) FROM quality_scores q "
            "WHERE q.scale_max > q.scale_min GROUP BY 1, 2, 3, 4"
        )
    )
    if bins != bins_truth:
        found["score_bins"] = (sorted(bins - bins_truth), sorted(bins_truth - bins))
    return found


def check(path: Path) -> None:
    conn = sqlite3.connect(path)  # a second connection: sees only what was committed
    try:
        assert drift(conn) == {}
    finally:
        conn.close()


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("counters")
    yield project
    project.close()


def test_migrations_and_the_orm_schema_create_the_same_triggers(tmp_path: Path) -> None:
    made: dict[str, dict[str, str]] = {}
    for how in ("migrated", "created"):
        db = Database(tmp_path / f"{how}.db")
        if how == "migrated":
            migrations.upgrade(db.write_engine, tmp_path / f"{how}.db")
        else:
            Base.metadata.create_all(db.write_engine)
        db.dispose()
        conn = sqlite3.connect(tmp_path / f"{how}.db")
        made[how] = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())
        conn.close()
    assert made["migrated"] == made["created"] == counters.ALL_TRIGGERS


def test_counters_follow_edits_and_their_undo(project: Project) -> None:
    a = add_image(project, "a.png", tags={"cat": "general", "dog": "general"})
    b = add_image(project, "b.png", tags={"cat": "general", "sky": "general"})
    c = add_image(project, "c.png")
    check(project.db_path)
    edits = EditService(project)
    steps = [
        lambda: edits.add_tags([a, b, c], ["long hair", "cat"]),  # cat again on a and b: a second row, same images
        lambda: edits.remove_tags([a], ["cat"]),  # rejected rows no longer count
        lambda: edits.rename_tag([b], "sky", "cloud"),
        lambda: edits.rename_everywhere("cat", "dog"),  # merges into an existing tag
        lambda: edits.delete_everywhere("long hair"),
        lambda: edits.set_score([a, c], 7.0),  # manual scores count for the score sort
        lambda: edits.set_score([a], None),
        lambda: edits.set_rating([a, b], "explicit"),  # the manual rating wins over the model's
        lambda: edits.set_rating([a], None),
    ]
    for step in steps:
        result = step()
        check(project.db_path)
        command = EditCommand(result)
        command.undo(edits)
        check(project.db_path)
        command.redo(edits)
        check(project.db_path)
    with project.db.session(write=True) as s:  # model ratings and scores, then the image goes with them
        s.execute(
            text(
                "INSERT INTO ratings (image_id, label, source, created_at) "
                "VALUES (:i, 'general', 'model', '2026-01-01')"
            ),
            {"i": b},
        )
        s.execute(
            text(
                "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
                "VALUES (:i, 'aesthetic_v2', 9.5, 0, 10, 'model', '2026-01-01')"
            ),
            {"i": b},
        )
    check(project.db_path)
    # Deleting an image deletes its tag rows through the foreign-key cascade: the triggers see those too.
    with project.db.session(write=True) as s:
        s.execute(text("DELETE FROM images WHERE id = :i"), {"i": b})
    check(project.db_path)
    panel = {t.tag: t.count for t in TagStatsService(project.db).project_tags()}
    assert panel == {"dog": 2}  # a and c (cat renamed to dog); b is gone; long hair was deleted everywhere


def test_writes_from_a_second_connection_keep_the_counters(project: Project) -> None:
    a = add_image(project, "a.png", tags={"cat": "general"})
    conn = sqlite3.connect(project.db_path)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(
        "INSERT INTO tags (image_id, tag, tag_key, source, is_rejected, created_at, updated_at) "
        "VALUES (?, 'cat', 'cat', 'sidecar', 0, '2026-01-01', '2026-01-01'), "
        "(?, 'Cat', 'cat', 'sidecar', 0, '2026-01-01', '2026-01-01')",
        (a, a),
    )
    conn.execute(
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (?, 'aesthetic_v2', 6.5, 0, 10, 'model', '2026-01-01')",
        (a,),
    )
    conn.commit()
    check(project.db_path)
    panel = {t.tag: t.count for t in TagStatsService(project.db).project_tags()}
    assert panel == {"cat": 1, "Cat": 1}
    conn.execute("UPDATE tags SET is_rejected = 1 WHERE tag = 'cat'")
    conn.commit()
    check(project.db_path)
    assert {t.tag for t in TagStatsService(project.db).project_tags()} == {"Cat"}
    conn.close()


# --- any sequence of raw writes ------------------------------------------------------------------------------

TAGS = ("cat", "Cat", "dog", "sky")
RATINGS = ("general", "explicit", "none")
ops = st.one_of(
    st.tuples(st.just("insert"), st.integers(1, 4), st.sampled_from(TAGS), st.booleans()),
    st.tuples(st.just("delete"), st.integers(0, 30)),
    st.tuples(st.just("reject"), st.integers(0, 30), st.booleans()),
    st.tuples(st.just("retag"), st.integers(0, 30), st.sampled_from(TAGS)),
    st.tuples(st.just("move"), st.integers(0, 30), st.integers(1, 4)),
    st.tuples(st.just("drop_image"), st.integers(1, 4)),
    st.tuples(st.just("score"), st.integers(1, 4), st.sampled_from(("aesthetic", "manual", "nsfw")), st.floats(0, 10)),
    st.tuples(st.just("unscore"), st.integers(0, 10)),
    st.tuples(st.just("rescore"), st.integers(0, 10), st.floats(0, 10), st.integers(1, 4)),
    st.tuples(st.just("rescale"), st.integers(0, 10), st.sampled_from((0.0, 1.0, 10.0)), st.sampled_from((1.0, 10.0))),
    st.tuples(st.just("rate"), st.integers(1, 4), st.sampled_from(RATINGS)),
    st.tuples(st.just("unrate"), st.integers(0, 10)),
    st.tuples(st.just("rerate"), st.integers(0, 10), st.sampled_from(RATINGS), st.integers(1, 4)),
    st.tuples(st.just("manual_rating"), st.integers(1, 4), st.sampled_from((None, *RATINGS))),
    st.tuples(st.just("add_image"), st.integers(1, 6), st.sampled_from((None, *RATINGS))),
)


@pytest.fixture(scope="module")
def raw_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("counters") / "database.db"
    db = Database(path)
    Base.metadata.create_all(db.write_engine)
    db.dispose()
    return path


def _nth(conn: sqlite3.Connection, table: str, n: int) -> int | None:
    ids = [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]
    return ids[n % len(ids)] if ids else None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(ops, max_size=25))
def test_any_sequence_of_raw_writes_keeps_the_counters(raw_db: Path, steps: list[tuple]) -> None:  # type: ignore[type-arg]
    conn = sqlite3.connect(raw_db)
    conn.execute("PRAGMA foreign_keys = ON")
    for table in ("tags", "quality_scores", "ratings", "images"):
        conn.execute(f"DELETE FROM {table}")
    conn.executemany(
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height, "
        "format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 1, 1, 8, 8, 'PNG', 'RGB', 0, 1, ?, '0', 0, 0, '2026-01-01', '2026-01-01')",
        [(i, f"images/{i}.png", f"{i}.png", f"/d/{i}.png", f"h{i}") for i in range(1, 5)],
    )
    for step in steps:
        kind = step[0]
        if kind == "insert":
            _, image, tag, rejected = step
            if conn.execute("SELECT 1 FROM images WHERE id = ?", (image,)).fetchone():
                conn.execute(
                    "INSERT INTO tags (image_id, tag, tag_key, source, is_rejected, created_at, updated_at) "
                    "VALUES (?, ?, lower(?), 'model', ?, '2026-01-01', '2026-01-01')",
                    (image, tag, tag, int(rejected)),
                )
        elif kind == "drop_image":
            conn.execute("DELETE FROM images WHERE id = ?", (step[1],))
        elif kind == "add_image":  # a new image (or a reused id after a delete), maybe with a manual rating
            if not conn.execute("SELECT 1 FROM images WHERE id = ?", (step[1],)).fetchone():
                conn.execute(
                    "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, "
                    "width, height, format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, "
                    "excluded, manual_rating, created_at, updated_at) VALUES (?, ?, ?, ?, 1, 1, 8, 8, 'PNG', 'RGB', "
                    "0, 1, ?, '0', 0, 0, ?, '2026-01-01', '2026-01-01')",
                    (step[1], f"images/{step[1]}.png", f"{step[1]}.png", f"/d/{step[1]}.png", f"h{step[1]}", step[2]),
                )
        elif kind == "manual_rating":
            conn.execute("UPDATE images SET manual_rating = ? WHERE id = ?", (step[2], step[1]))
        elif kind == "rate":
            if conn.execute("SELECT 1 FROM images WHERE id = ?", (step[1],)).fetchone():
                conn.execute(
                    "INSERT INTO ratings (image_id, label, source, created_at) VALUES (?, ?, 'model', '2026-01-01')",
                    (step[1], step[2]),
                )
        elif kind in ("unrate", "rerate"):
            row = _nth(conn, "ratings", step[1])
            if row is None:
                continue
            if kind == "unrate":
                conn.execute("DELETE FROM ratings WHERE id = ?", (row,))
            elif conn.execute("SELECT 1 FROM images WHERE id = ?", (step[3],)).fetchone():
                conn.execute("UPDATE ratings SET label = ?, image_id = ? WHERE id = ?", (step[2], step[3], row))
        elif kind in ("delete", "reject", "retag", "move"):
            row = _nth(conn, "tags", step[1])
            if row is None:
                continue
            if kind == "delete":
                conn.execute("DELETE FROM tags WHERE id = ?", (row,))
            elif kind == "reject":
                conn.execute("UPDATE tags SET is_rejected = ? WHERE id = ?", (int(step[2]), row))
            elif kind == "retag":
                conn.execute("UPDATE tags SET tag = ?, tag_key = lower(?) WHERE id = ?", (step[2], step[2], row))
            elif conn.execute("SELECT 1 FROM images WHERE id = ?", (step[2],)).fetchone():
                conn.execute("UPDATE tags SET image_id = ? WHERE id = ?", (step[2], row))
        elif kind == "score":
            _, image, name, value = step
            if conn.execute("SELECT 1 FROM images WHERE id = ?", (image,)).fetchone():
                conn.execute(
                    "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, "
                    "created_at) VALUES (?, ?, ?, 0, 10, ?, '2026-01-01')",
                    (image, name, value, "manual" if name == "manual" else "model"),
                )
        elif (row := _nth(conn, "quality_scores", step[1])) is not None:
            if kind == "unscore":
                conn.execute("DELETE FROM quality_scores WHERE id = ?", (row,))
            elif kind == "rescale":  # an empty scale (min >= max) leaves the histogram
                conn.execute("UPDATE quality_scores SET scale_min = ?, scale_max = ? WHERE id = ?", (*step[2:], row))
            elif conn.execute("SELECT 1 FROM images WHERE id = ?", (step[3],)).fetchone():
                conn.execute("UPDATE quality_scores SET value = ?, image_id = ? WHERE id = ?", (step[2], step[3], row))
        assert drift(conn) == {}, step
    conn.commit()
    conn.close()


def test_the_migration_fills_the_counters_from_existing_rows(tmp_path: Path) -> None:
    """A project at 0011 with tags (one rejected, one twice on an image) and scores gets counters equal to the
    aggregates when it is upgraded, and the triggers keep them from then on."""
    from alembic import command

    path = tmp_path / "database.db"
    db = Database(path)
    migrations.upgrade(db.write_engine, path, "0011")
    db.dispose()
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height, "
        "format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 1, 1, 8, 8, 'PNG', 'RGB', 0, 1, ?, '0', 0, 0, '2026-01-01', '2026-01-01')",
        [(i, f"images/{i}.png", f"{i}.png", f"/d/{i}.png", f"h{i}") for i in (1, 2)],
    )
    conn.executemany(
        "INSERT INTO tags (image_id, tag, tag_key, source, is_rejected, created_at, updated_at) "
        "VALUES (?, ?, ?, 'model', ?, '2026-01-01', '2026-01-01')",
        [(1, "cat", "cat", 0), (1, "cat", "cat", 0), (2, "cat", "cat", 1), (2, "dog", "dog", 0)],
    )
    conn.execute(
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (2, 'aesthetic_v2', 4.0, 0, 10, 'model', '2026-01-01')"
    )
    conn.executemany(  # image 1: two model ratings (the newest counts); image 2: none, then a manual one
        "INSERT INTO ratings (id, image_id, label, source, created_at) VALUES (?, 1, ?, 'model', '2026-01-01')",
        [(1, "explicit"), (2, "general")],
    )
    conn.commit()
    conn.close()
    db = Database(path)
    config = migrations.alembic_config()
    with db.write_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    db.dispose()
    conn = sqlite3.connect(path)
    assert drift(conn) == {}
    assert sorted(conn.execute("SELECT tag, images FROM tag_stats")) == [("cat", 1), ("dog", 1)]
    assert conn.execute("SELECT best_score FROM images WHERE id = 2").fetchone() == (0.4,)
    assert sorted(conn.execute("SELECT label, images FROM rating_stats")) == [("general", 1), ("none", 1)]
    assert list(conn.execute("SELECT score_name, bin, scores FROM score_bins")) == [("aesthetic_v2", 8, 1)]
    conn.execute("UPDATE tags SET is_rejected = 0 WHERE image_id = 2")
    conn.execute("UPDATE images SET manual_rating = 'sensitive' WHERE id = 2")
    conn.execute("DELETE FROM ratings WHERE id = 2")
    assert drift(conn) == {}
    assert sorted(conn.execute("SELECT label, images FROM rating_stats")) == [("explicit", 1), ("sensitive", 1)]
    conn.close()
