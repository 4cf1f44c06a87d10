"""Tag-only filters' whole id lists (ImageQueryService.ids_array / count, `_combine_tag_terms`) answered off a
built in-memory tag index (LiveTagIndex.term_ids) are exactly what SQL answers: against the plain-Python
reference of tests/support/filter_model.py (every term kind of a tag, wildcards, NOT, OR), after the project
changed under the index (everything rewritten, raw renames / rejects / deletes from another connection: the
overlay of logged images), and against the SQL path itself after raw writes whose stored keys are not their
text's normal form, non-ASCII keys and GLOB's own characters."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from genai_tag_db_tools.normalize import tag_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lorairo.database.engine import Database
from lorairo.database.schema import Base
from lorairo.services import image_query_service
from lorairo.services.image_query_service import ImageFilter, ImageQueryService
from lorairo.services.live_tag_index import LiveTagIndex
from tests.support.filter_model import (
    VOCABULARY,
    ProjectData,
    Term,
    expressions,
    projects,
    reference_ids,
    render,
    store,
)
from tests.support.raw_rows import add_images, add_tag, answers_of, empty_database, nth_row


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = empty_database(tmp_path_factory.mktemp("tag-term-index"))
    yield db
    db.dispose()


def _raw_edits(db: Database, data: ProjectData, edits: list[tuple[str, int, int, str]]) -> None:
    """Renames, rejects, tag deletes and image deletes through a raw connection (like `lorairo annotate` in
    another process), mirrored into `data` so the reference sees the same project."""
    conn = sqlite3.connect(db.path)
    conn.execute("PRAGMA foreign_keys = ON")
    try:
        for kind, n, k, new in edits:
            if not data.images:
                break
            img = data.images[n % len(data.images)]
            if kind == "drop_image":
                conn.execute("DELETE FROM images WHERE id = ?", (img.id,))
                data.images.remove(img)
                data.links = []  # indexes into images: not used by tag terms
                continue
            if not img.tags:
                continue
            form = img.tags[k % len(img.tags)][0]
            # every row of that text on that image (the model keeps one entry per row)
            if kind == "rename":
                conn.execute(
                    "UPDATE tags SET tag = ?, tag_key = ? WHERE image_id = ? AND tag = ?",
                    (new, tag_key(new), img.id, form),
                )
                img.tags = [(new if f == form else f, r, p) for f, r, p in img.tags]
            elif kind == "reject":
                conn.execute("UPDATE tags SET is_rejected = 1 WHERE image_id = ? AND tag = ?", (img.id, form))
                img.tags = [(f, True if f == form else r, p) for f, r, p in img.tags]
            elif kind == "unreject":
                conn.execute("UPDATE tags SET is_rejected = 0 WHERE image_id = ? AND tag = ?", (img.id, form))
                img.tags = [(f, False if f == form else r, p) for f, r, p in img.tags]
            else:  # delete the tag's rows
                conn.execute("DELETE FROM tags WHERE image_id = ? AND tag = ?", (img.id, form))
                img.tags = [t for t in img.tags if t[0] != form]
        conn.commit()
    finally:
        conn.close()


edits = st.lists(
    st.tuples(
        st.sampled_from(("rename", "reject", "unreject", "delete", "drop_image")),
        st.integers(0, 20),
        st.integers(0, 5),
        st.sampled_from([form for variants in VOCABULARY.values() for form in variants]),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    before=projects(),
    data=projects(),
    terms=expressions(),
    changes=edits,
    draw=st.data(),
)
def test_tag_filters_off_a_built_index_match_the_reference(
    database: Database,
    before: ProjectData,
    data: ProjectData,
    terms: list[Term],
    changes: list[tuple[str, int, int, str]],
    draw: st.DataObject,
) -> None:
    terms = [term for term in terms if term.kind == "tag"]
    filter_text = draw.draw(render(terms), label="filter text")
    index = LiveTagIndex.of(database)
    if draw.draw(st.booleans(), label="index built before the project changed (overlay)"):
        store(database, before)
        index.build()
        store(database, data)  # another connection's writes: every image logged since the build
        _raw_edits(database, data, changes)
    else:
        store(database, data)
        _raw_edits(database, data, changes)
        index.build()
    expected = reference_ids(data, terms)
    parsed = image_query_service.parse_filter(filter_text)
    service = ImageQueryService(database)
    answered, spy = answers_of(LiveTagIndex.term_ids, len)
    # A cap of 0 makes every tag "common": ids_array / count of tag-only filters combine per-term id lists.
    with patch.object(image_query_service, "TAG_SIZE_CAP", 0), patch.object(LiveTagIndex, "term_ids", spy):
        assert service.ids_array(parsed).tolist() == expected
        assert service.count(parsed) == len(expected)
    if parsed.tags_all or parsed.tags_any or parsed.tags_none:
        assert answered, "the index answered no term"


TEXTS = ("cat", "Cat", "long hair", "long_hair", "猫耳", "Café", "ÉCOLE", "école", "a[b]?c", "x*y")
IMAGES = range(1, 7)
PATTERNS = ("cat", "long hair", "猫耳", "café", "école", "a[b]?c", "c*", "*a*", "é*", "*[b]*", "long*", "x*", "*")


def _reset(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM tags")
    conn.execute("DELETE FROM images")
    add_images(conn, list(IMAGES))


def _add_tag(conn: sqlite3.Connection, image: int, text: str, rejected: bool, normal_key: bool) -> None:
    """A raw row; its key is the text's normal form, or Python's lower() of it, a key no filter would compute,
    which both paths must still match as stored."""
    add_tag(conn, image, text, rejected, tag_key(text) if normal_key else text.lower())


raw_ops = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(IMAGES), st.sampled_from(TEXTS), st.booleans(), st.booleans()),
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("reject"), st.integers(0, 40), st.booleans()),
    st.tuples(st.just("rename"), st.integers(0, 40), st.sampled_from(TEXTS), st.booleans()),
    st.tuples(st.just("move"), st.integers(0, 40), st.sampled_from(IMAGES)),
    st.tuples(st.just("drop_image"), st.sampled_from(IMAGES)),
    st.tuples(st.just("add_image"), st.sampled_from(IMAGES)),
    st.tuples(st.just("build")),
)
tag_filters = st.builds(
    ImageFilter,
    tags_all=st.lists(st.sampled_from(PATTERNS), max_size=2).map(tuple),
    tags_any=st.lists(st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3).map(tuple), max_size=1).map(tuple),
    tags_none=st.lists(st.sampled_from(PATTERNS), max_size=2).map(tuple),
).filter(lambda f: bool(f.tags_all or f.tags_any or f.tags_none))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.lists(
        st.tuples(st.sampled_from(IMAGES), st.sampled_from(TEXTS), st.booleans(), st.booleans()), max_size=20
    ),
    steps=st.lists(raw_ops, max_size=15),
    filters=st.lists(tag_filters, min_size=1, max_size=3),
)
def test_index_and_sql_give_the_same_ids_after_any_raw_writes(
    database: Database,
    start: list[tuple[int, str, bool, bool]],
    steps: list[tuple[Any, ...]],
    filters: list[ImageFilter],
) -> None:
    writer = sqlite3.connect(database.path)  # another connection than the index's and the service's
    writer.execute("PRAGMA foreign_keys = ON")
    _reset(writer)
    for image, text, rejected, normal in start:
        _add_tag(writer, image, text, rejected, normal)
    writer.commit()
    index = LiveTagIndex.of(database)
    index.build()
    service = ImageQueryService(database)
    try:
        for step in steps:
            kind = step[0]
            exists = len(step) > 1 and bool(writer.execute("SELECT 1 FROM images WHERE id = ?", (step[1],)).fetchone())
            if kind == "build":
                index.build()
            elif kind == "insert" and exists:
                _add_tag(writer, step[1], step[2], step[3], step[4])
            elif kind == "drop_image":
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
                    key = tag_key(step[2]) if step[3] else step[2].lower()
                    writer.execute("UPDATE tags SET tag = ?, tag_key = ? WHERE id = ?", (step[2], key, row))
                elif writer.execute("SELECT 1 FROM images WHERE id = ?", (step[2],)).fetchone():
                    writer.execute("UPDATE tags SET image_id = ? WHERE id = ?", (step[2], row))
            writer.commit()
            for f in filters:
                assert index.keys is not None
                with patch.object(LiveTagIndex, "term_ids", lambda *_args: None):
                    in_sql = service._combine_tag_terms(f).tolist()
                assert service._combine_tag_terms(f).tolist() == in_sql, (step, f)
    finally:
        writer.close()


def test_the_overlay_of_changed_images_is_applied(database: Database) -> None:
    """Writes from another connection after the build: a tag added, one rejected, one renamed, an image deleted.
    Without the overlay the index's (stale) ids would come back."""
    writer = sqlite3.connect(database.path)
    writer.execute("PRAGMA foreign_keys = ON")
    _reset(writer)
    for image in (1, 2, 3, 4):
        _add_tag(writer, image, "cat", False, True)
    _add_tag(writer, 5, "猫耳", False, True)
    writer.commit()
    index = LiveTagIndex.of(database)
    index.build()
    service = ImageQueryService(database)
    writer.execute("UPDATE tags SET is_rejected = 1 WHERE image_id = 1")
    writer.execute("UPDATE tags SET tag = '猫耳', tag_key = '猫耳' WHERE image_id = 2")
    writer.execute("DELETE FROM images WHERE id = 3")
    _add_tag(writer, 6, "Cat", False, True)
    writer.commit()
    with patch.object(image_query_service, "TAG_SIZE_CAP", 0):
        assert service.ids_array(ImageFilter(tags_all=("cat",))).tolist() == [4, 6]
        assert service.ids_array(ImageFilter(tags_all=("猫*",))).tolist() == [2, 5]
        assert service.ids_array(ImageFilter(tags_none=("cat",))).tolist() == [1, 2, 5]
        assert service.count(ImageFilter(tags_any=(("cat", "猫耳"),))) == 4
    keys = index.keys
    assert keys is not None and keys.ids_of([keys.positions["cat"]]).tolist() == [1, 2, 3, 4]  # stale: overlay
    writer.close()


def test_without_a_built_index_sql_answers_and_nothing_is_built(tmp_path: Path) -> None:
    db = Database(tmp_path / "database.db")
    Base.metadata.create_all(db.write_engine)
    writer = sqlite3.connect(db.path)
    add_images(writer, [1, 2])
    _add_tag(writer, 1, "cat", False, True)
    writer.commit()
    writer.close()
    with patch.object(image_query_service, "TAG_SIZE_CAP", 0):
        assert ImageQueryService(db).ids_array(ImageFilter(tags_none=("cat",))).tolist() == [2]
    index = LiveTagIndex.of(db)
    assert index.builds == 0 and index.keys is None and not index.building
    db.dispose()


def test_the_whole_project_list_of_a_not_only_filter_with_gaps_in_the_ids(database: Database) -> None:
    """NOT-only filters start from every image: a range when the ids have no gap, else read; both exact."""
    writer = sqlite3.connect(database.path)
    writer.execute("PRAGMA foreign_keys = ON")
    _reset(writer)
    _add_tag(writer, 2, "cat", False, True)
    writer.commit()
    service = ImageQueryService(database)
    with patch.object(image_query_service, "TAG_SIZE_CAP", 0):
        assert service.ids_array(ImageFilter(tags_none=("dog", "cat"))).tolist() == [1, 3, 4, 5, 6]
        writer.execute("DELETE FROM images WHERE id IN (1, 4)")
        writer.commit()
        assert service.ids_array(ImageFilter(tags_none=("dog", "cat"))).tolist() == [3, 5, 6]
        writer.execute("DELETE FROM images")
        writer.commit()
        assert service.ids_array(ImageFilter(tags_none=("dog", "cat"))).tolist() == []
    writer.close()
