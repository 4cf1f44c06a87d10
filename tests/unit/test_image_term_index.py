"""Filters mixing tag terms with score / rating / size / aspect / exclusion terms answered off the built in-memory
indexes (ImageQueryService._indexed_ids: LiveTagIndex.term_ids for the tags, LiveImageIndex.term_mask for the
rest) are exactly what SQL answers: against the plain-Python reference of tests/support/filter_model.py, after
the project changed under the indexes, and against the SQL path itself after any sequence of raw writes from
another connection (model ratings added / relabelled / deleted, manual ratings, scores on any scale and name,
sizes with a zero height, exclusion, image deletes and reused ids), with exclusive bounds, score_name, values a
15-digit text form would round across a bound, and figures SQL compares differently (then SQL answers)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lorairo.database.engine import Database
from lorairo.database.schema import Base
from lorairo.services import image_query_service
from lorairo.services.filter_language import RATINGS
from lorairo.services.image_query_service import ImageFilter, ImageQueryService
from lorairo.services.live_image_index import LiveImageIndex
from lorairo.services.live_tag_index import LiveTagIndex
from tests.support.filter_model import (
    RATING_NAMES,
    SCORE_VALUES,
    ProjectData,
    Term,
    expressions,
    projects,
    reference_ids,
    render,
    store,
)
from tests.support.raw_rows import add_images, add_tag, answers_of, empty_database, nth_row

# Term kinds the two indexes answer together (filter_model's names; a flag only when it is `excluded`).
INDEXED_KINDS = ("tag", "rating", "score", "score_name", "width", "height", "res", "min_side", "aspect")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = empty_database(tmp_path_factory.mktemp("image-term-index"))
    yield db
    db.dispose()


def _in_sql(service: ImageQueryService, f: ImageFilter) -> tuple[list[int], int]:
    with patch.object(ImageQueryService, "_indexed_ids", lambda *_args: None):
        return service.ids_array(f).tolist(), service.count(f)


def _indexed_terms(terms: list[Term]) -> list[Term]:
    return [t for t in terms if t.kind in INDEXED_KINDS or (t.kind == "flag" and t.values == ("excluded",))]


@st.composite
def image_terms(draw: st.DrawFn) -> list[Term]:
    """1-2 terms the image index answers, with values at and around the generated data's (filter_model's
    expressions() draws these kinds rarely beside its others)."""
    terms: list[Term] = []
    ops = st.sampled_from((">=", ">", "<=", "<", "="))
    for kind in draw(
        st.lists(
            st.sampled_from(("score", "rating", "size", "aspect", "excluded")), min_size=1, max_size=2, unique=True
        )
    ):
        if kind == "score":
            for _ in range(draw(st.integers(1, 2))):
                terms.append(Term("score", op=draw(ops), values=(draw(st.sampled_from(SCORE_VALUES)),)))
            if draw(st.booleans()):
                terms.append(Term("score_name", values=(draw(st.sampled_from(("aesthetic", "manual"))),)))
        elif kind == "rating":
            for neg in (False, True):
                if draw(st.booleans()):
                    names = draw(st.lists(st.sampled_from(RATING_NAMES), min_size=1, max_size=2, unique=True))
                    terms.append(Term("rating", neg, tuple(names)))
        elif kind == "size":
            key = draw(st.sampled_from(("width", "height", "res", "min_side")))
            op = draw(ops if key in ("width", "height") else st.sampled_from((">=", ">", "<=", "<")))  # no res=
            terms.append(Term(key, op=op, values=(draw(st.sampled_from((300, 512, 768, 950, 1000, 1024))),)))
        elif kind == "aspect":
            if draw(st.booleans()):
                terms.append(
                    Term("aspect", op=":", values=(draw(st.sampled_from(("square", "portrait", "landscape"))),))
                )
            else:
                op = draw(st.sampled_from((">=", ">", "<=", "<")))
                terms.append(Term("aspect", op=op, values=(draw(st.sampled_from((0.5, 0.95, 1.0, 1.05, 1.5))),)))
        else:
            terms.append(Term("flag", draw(st.booleans()), ("excluded",)))
    return terms


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=projects(), data=projects(), terms=expressions(), more=image_terms(), draw=st.data())
def test_mixed_filters_off_built_indexes_match_the_reference(
    database: Database,
    before: ProjectData,
    data: ProjectData,
    terms: list[Term],
    more: list[Term],
    draw: st.DataObject,
) -> None:
    tags = [t for t in terms if t.kind == "tag"]
    # expressions()' tag terms beside either its own indexed terms or image_terms()' (one rating: per sign).
    terms = tags + (_indexed_terms([t for t in terms if t.kind != "tag"]) if draw.draw(st.booleans()) else more)
    filter_text = draw.draw(render(terms), label="filter text")
    tag_index, images = LiveTagIndex.of(database), LiveImageIndex.of(database)
    if draw.draw(st.booleans(), label="indexes built before the project changed (overlays)"):
        store(database, before)
        tag_index.build()
        images.build()
        store(database, data)  # every image rewritten: logged in both change logs
    else:
        store(database, data)
        tag_index.build()
        images.build()
    expected = reference_ids(data, terms)
    parsed = image_query_service.parse_filter(filter_text)
    service = ImageQueryService(database)
    answered, spy = answers_of(LiveImageIndex.term_mask, lambda mask: int(mask.sum()))
    # A cap of 0 makes every tag "common": no rare tag sends the filter to SQL.
    with patch.object(image_query_service, "TAG_SIZE_CAP", 0), patch.object(LiveImageIndex, "term_mask", spy):
        assert service.ids_array(parsed).tolist() == expected
        assert service.count(parsed) == len(expected)
    if any(t.kind != "tag" and not (t.kind == "score_name" and len(terms) == 1) for t in terms):
        assert answered, "the image index answered no filter"


IMAGES = range(1, 7)
SIZES = ((512, 512), (1000, 800), (300, 1200), (1024, 0), (0, 50), (768, 1024))
# 0.1 + 0.2 is 0.30000000000000004: its 15-digit text form 0.3 would put it on the wrong side of 0.3.
VALUES = (0.0, 0.1 + 0.2, 0.3, 5.0, 6.0, 9.999999999999998, 10.0)
NAMES = ("aesthetic", "manual", "Aesthetic")
LABELS = (*RATINGS, "other")

raw_ops = st.one_of(
    st.tuples(
        st.just("score"), st.sampled_from(IMAGES), st.sampled_from(NAMES), st.sampled_from(VALUES), st.booleans()
    ),
    st.tuples(st.just("rate"), st.sampled_from(IMAGES), st.sampled_from(LABELS)),
    st.tuples(st.just("unrate"), st.integers(0, 40)),
    st.tuples(st.just("relabel"), st.integers(0, 40), st.sampled_from(LABELS)),
    st.tuples(st.just("manual"), st.sampled_from(IMAGES), st.none() | st.sampled_from(LABELS)),
    st.tuples(
        st.just("score"), st.sampled_from(IMAGES), st.sampled_from(NAMES), st.sampled_from(VALUES), st.booleans()
    ),
    st.tuples(st.just("rescore"), st.integers(0, 40), st.sampled_from(VALUES)),
    st.tuples(st.just("unscore"), st.integers(0, 40)),
    st.tuples(st.just("resize"), st.sampled_from(IMAGES), st.sampled_from(SIZES)),
    st.tuples(st.just("exclude"), st.sampled_from(IMAGES), st.booleans()),
    st.tuples(st.just("tag"), st.sampled_from(IMAGES), st.sampled_from(("cat", "dog"))),
    st.tuples(st.just("drop_image"), st.sampled_from(IMAGES)),
    st.tuples(st.just("add_image"), st.sampled_from(IMAGES)),
    st.tuples(st.just("build")),
)
# Each term group with its own values (a few groups a filter, so that results are often not empty).
TERM_GROUPS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "score_min": st.fixed_dictionaries({"score_min": st.sampled_from(VALUES), "score_min_exclusive": st.booleans()}),
    "score_max": st.fixed_dictionaries({"score_max": st.sampled_from(VALUES), "score_max_exclusive": st.booleans()}),
    "score_name": st.fixed_dictionaries({"score_name": st.sampled_from((*NAMES, "missing"))}),
    "ratings": st.fixed_dictionaries(
        {"ratings": st.lists(st.sampled_from(RATINGS), min_size=1, max_size=2).map(tuple)}
    ),
    "ratings_none": st.fixed_dictionaries(
        {"ratings_none": st.lists(st.sampled_from(RATINGS), min_size=1, max_size=2).map(tuple)}
    ),
    "width": st.fixed_dictionaries({"min_width": st.sampled_from((0, 1, 512, 1000))}),
    "height": st.fixed_dictionaries({"max_height": st.sampled_from((0, 800, 1024))}),
    "min_side": st.fixed_dictionaries({"min_side": st.sampled_from((0, 1, 300, 512))}),
    "max_side": st.fixed_dictionaries({"max_side": st.sampled_from((0, 512, 800))}),
    "aspect_min": st.fixed_dictionaries(
        {"aspect_min": st.sampled_from((0.0, 0.25, 1.0, 1.25)), "aspect_min_exclusive": st.booleans()}
    ),
    "aspect_max": st.fixed_dictionaries(
        {"aspect_max": st.sampled_from((0.0, 1.0, 1.25, 4.0)), "aspect_max_exclusive": st.booleans()}
    ),
    "excluded": st.fixed_dictionaries({"excluded": st.booleans()}),
    "tags_all": st.fixed_dictionaries({"tags_all": st.sampled_from((("cat",), ("dog",)))}),
    "tags_none": st.fixed_dictionaries({"tags_none": st.sampled_from((("cat",), ("dog",)))}),
}


@st.composite
def image_filters(draw: st.DrawFn) -> ImageFilter:
    groups = draw(st.lists(st.sampled_from(list(TERM_GROUPS)), min_size=1, max_size=3, unique=True))
    fields: dict[str, Any] = {}
    for group in groups:
        fields.update(draw(TERM_GROUPS[group]))
    return ImageFilter(**fields)


def _reset(conn: sqlite3.Connection) -> None:
    for table in ("ratings", "quality_scores", "tags", "images"):
        conn.execute(f"DELETE FROM {table}")
    add_images(conn, list(IMAGES), lambda i: SIZES[i % len(SIZES)])
    conn.executemany(  # a score per image at one of the bounds' values: equal values test the exclusive bounds
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (?, ?, ?, 0, 10, 'model', '2026-01-01')",
        [(i, NAMES[i % 2], VALUES[i % len(VALUES)]) for i in IMAGES],
    )


def _raw_step(conn: sqlite3.Connection, step: tuple[Any, ...], index: LiveImageIndex) -> None:
    kind = step[0]
    exists = len(step) > 1 and bool(conn.execute("SELECT 1 FROM images WHERE id = ?", (step[1],)).fetchone())
    if kind == "build":
        index.build()
    elif kind == "rate" and exists:
        conn.execute(
            "INSERT INTO ratings (image_id, label, source, created_at) VALUES (?, ?, 'model', '2026-01-01')",
            (step[1], step[2]),
        )
    elif kind in ("unrate", "relabel") and (row := nth_row(conn, "ratings", step[1])) is not None:
        if kind == "unrate":
            conn.execute("DELETE FROM ratings WHERE id = ?", (row,))
        else:
            conn.execute("UPDATE ratings SET label = ? WHERE id = ?", (step[2], row))
    elif kind == "manual":
        conn.execute("UPDATE images SET manual_rating = ? WHERE id = ?", (step[2], step[1]))
    elif kind == "score" and exists:
        scale = (0.0, 10.0) if step[4] else (1.0, 1.0)  # an empty scale: not in the histogram, still filtered
        conn.execute(
            "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'model', '2026-01-01')",
            (step[1], step[2], step[3], *scale),
        )
    elif kind in ("rescore", "unscore") and (row := nth_row(conn, "quality_scores", step[1])) is not None:
        if kind == "unscore":
            conn.execute("DELETE FROM quality_scores WHERE id = ?", (row,))
        else:
            conn.execute("UPDATE quality_scores SET value = ? WHERE id = ?", (step[2], row))
    elif kind == "resize":
        conn.execute("UPDATE images SET width = ?, height = ? WHERE id = ?", (*step[2], step[1]))
    elif kind == "exclude":
        conn.execute("UPDATE images SET excluded = ? WHERE id = ?", (int(step[2]), step[1]))
    elif kind == "tag" and exists:
        add_tag(conn, step[1], step[2])
    elif kind == "drop_image":
        conn.execute("DELETE FROM images WHERE id = ?", (step[1],))
    elif kind == "add_image" and not exists:  # a reused id after a delete
        add_images(conn, [step[1]], lambda i: SIZES[(i + 2) % len(SIZES)])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.lists(raw_ops, max_size=12),
    steps=st.lists(raw_ops, max_size=12),
    filters=st.lists(image_filters(), min_size=1, max_size=3),
)
def test_indexes_and_sql_give_the_same_ids_after_any_raw_writes(
    database: Database, start: list[tuple[Any, ...]], steps: list[tuple[Any, ...]], filters: list[ImageFilter]
) -> None:
    writer = sqlite3.connect(database.path)  # another connection than the indexes' and the service's
    writer.execute("PRAGMA foreign_keys = ON")
    index, tags = LiveImageIndex.of(database), LiveTagIndex.of(database)
    _reset(writer)
    for step in start:
        _raw_step(writer, step, index)
    writer.commit()
    index.build()
    tags.build()
    service = ImageQueryService(database)
    matched = [0]
    try:
        for step in [("none",), *steps]:
            _raw_step(writer, step, index)
            writer.commit()
            for f in filters:
                answered, spy = answers_of(LiveImageIndex.term_mask, lambda mask: int(mask.sum()))
                with (
                    patch.object(image_query_service, "TAG_SIZE_CAP", 0),
                    patch.object(LiveImageIndex, "term_mask", spy),
                ):
                    got = service.ids_array(f).tolist(), service.count(f)
                assert got == _in_sql(service, f), (step, f)
                if f.score_min is not None or f.ratings or f.min_width is not None or f.excluded is not None:
                    assert answered, f
                matched[0] += bool(got[1])
    finally:
        writer.close()
    event("some filter matched" if matched[0] else "no filter matched")


def _fresh(tmp_path: Path, sizes: dict[int, tuple[int, int]]) -> tuple[Database, sqlite3.Connection]:
    db = Database(tmp_path / "database.db")
    Base.metadata.create_all(db.write_engine)
    writer = sqlite3.connect(db.path)
    writer.execute("PRAGMA foreign_keys = ON")
    add_images(writer, list(sizes), lambda i: sizes[i])
    return db, writer


def _rate(conn: sqlite3.Connection, image: int, label: str) -> None:
    conn.execute(
        "INSERT INTO ratings (image_id, label, source, created_at) VALUES (?, ?, 'model', '2026-01-01')", (image, label)
    )


def _score(conn: sqlite3.Connection, image: int, value: Any, name: str = "aesthetic") -> None:
    conn.execute(
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (?, ?, ?, 0, 10, 'model', '2026-01-01')",
        (image, name, value),
    )


def test_a_second_models_rating_deleted_after_the_build_is_seen(tmp_path: Path) -> None:
    """`rating:general` matches any model rating; deleting one that is not the newest leaves images.last_rating
    as it was, so only alembic 0017's ratings triggers log the image (without them the index keeps it)."""
    db, writer = _fresh(tmp_path, {1: (8, 8), 2: (8, 8)})
    _rate(writer, 1, "general")
    _rate(writer, 1, "sfw")  # the newest: last_rating = sfw
    _rate(writer, 2, "general")
    writer.commit()
    LiveImageIndex.of(db).build()
    LiveTagIndex.of(db).build()
    service = ImageQueryService(db)
    f = ImageFilter(ratings=("general",))
    assert service.ids_array(f).tolist() == [1, 2]
    writer.execute("DELETE FROM ratings WHERE image_id = 1 AND label = 'general'")
    writer.commit()
    assert service.ids_array(f).tolist() == [2] == _in_sql(service, f)[0]
    assert service.count(ImageFilter(ratings=("sfw",))) == 1
    writer.close()
    db.dispose()


def test_score_values_compare_exactly_not_through_their_text(tmp_path: Path) -> None:
    """0.1 + 0.2 is 0.30000000000000004, above 0.3: its 15-digit text form (what group_concat gives) is 0.3."""
    db, writer = _fresh(tmp_path, {1: (8, 8), 2: (8, 8)})
    _score(writer, 1, 0.1 + 0.2)
    _score(writer, 2, 0.3)
    writer.commit()
    LiveImageIndex.of(db).build()
    service = ImageQueryService(db)
    above = ImageFilter(score_min=0.3, score_min_exclusive=True)
    at_most = ImageFilter(score_max=0.3)
    assert service.ids_array(above).tolist() == [1] == _in_sql(service, above)[0]
    assert service.ids_array(at_most).tolist() == [2] == _in_sql(service, at_most)[0]
    _score(writer, 2, 0.1 + 0.2, "manual")  # after the build: the overlay reads it exactly too
    writer.commit()
    named = ImageFilter(score_min=0.3, score_min_exclusive=True, score_name="manual")
    assert service.ids_array(named).tolist() == [2] == _in_sql(service, named)[0]
    writer.close()
    db.dispose()


def test_nothing_is_built_for_a_filter_and_sql_answers_without_an_index(tmp_path: Path) -> None:
    db, writer = _fresh(tmp_path, {1: (512, 512), 2: (1024, 512)})
    add_tag(writer, 1, "cat")
    add_tag(writer, 2, "cat")
    writer.commit()
    service = ImageQueryService(db)
    with patch.object(image_query_service, "TAG_SIZE_CAP", 0):
        assert service.ids_array(ImageFilter(tags_all=("cat",), min_width=1000)).tolist() == [2]
        assert service.count(ImageFilter(tags_all=("cat",), min_width=1000)) == 1
        LiveImageIndex.of(db).build()  # the image index alone: the tag terms need the tag index too
        spy_answers, spy = answers_of(LiveImageIndex.term_mask, lambda mask: int(mask.sum()))
        with patch.object(LiveImageIndex, "term_mask", spy):
            assert service.ids_array(ImageFilter(tags_all=("cat",), max_width=600)).tolist() == [1]
        assert spy_answers == []
    tags = LiveTagIndex.of(db)
    assert tags.builds == 0 and tags.keys is None and not tags.building
    writer.close()
    db.dispose()


def test_figures_sql_compares_differently_are_left_to_sql(tmp_path: Path) -> None:
    """Raw values LoRAIro never writes: an exclusion of 2 (SQL's `excluded = 1` is false), a score stored as
    text (SQLite orders text after every number), a rating outside the language's names."""
    db, writer = _fresh(tmp_path, {1: (8, 8), 2: (8, 8), 3: (8, 8)})
    _score(writer, 1, 7.0)
    writer.commit()
    index = LiveImageIndex.of(db)
    index.build()
    service = ImageQueryService(db)
    assert index.term_mask(ImageFilter(excluded=True)) is not None
    assert index.term_mask(ImageFilter(ratings=("masterpiece",))) is None
    writer.execute("UPDATE images SET excluded = 2 WHERE id = 2")
    _score(writer, 3, "high")
    writer.commit()
    for f in (ImageFilter(excluded=False), ImageFilter(score_min=5.0)):
        assert index.term_mask(f) is None  # the overlay's rows: inexact
        assert service.ids_array(f).tolist() == _in_sql(service, f)[0]
    index.build()
    assert not index.snapshot.exact and index.term_mask(ImageFilter(min_width=1)) is None  # type: ignore[union-attr]
    assert service.ids_array(ImageFilter(excluded=False)).tolist() == [1, 2, 3]  # NOT (excluded = 1)
    assert service.ids_array(ImageFilter(score_min=5.0)).tolist() == [1, 3]  # 'high' > 5 in SQLite
    writer.close()
    db.dispose()
