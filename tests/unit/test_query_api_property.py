"""Property: ImageQueryService.first_page / ids_array / count equal a plain-Python reference, for random small
projects, random filter texts and every grid order, along both first-page plans (the rare tag's IN list, and
the walk of the sort order with per-image probes that large projects take for common tags).

The reference filters with tests/support/filter_model.py and orders by the sort's definition evaluated in Python
on the raw rows (tag texts, scores and their scales, file dates), never through the maintained columns the SQL
reads: a counter out of step changes the order and fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from lorairo.database.engine import Database
from lorairo.database.schema import Base
from lorairo.services import image_query_service
from lorairo.services.filter_language import parse_filter
from lorairo.services.image_query_service import SORTS, ImageQueryService
from tests.support.filter_model import ProjectData, Term, expressions, projects, reference_ids, render, store


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = Database(tmp_path_factory.mktemp("query-api-property") / "database.db")
    Base.metadata.create_all(db.write_engine)
    yield db
    db.dispose()


def _best(scores: list[tuple[str, float, float, float, str]], aesthetic_only: bool) -> float | None:
    values = [
        (value - low) / (high - low)
        for name, value, low, high, source in scores
        if high != low and (name.lower().startswith("aesthetic") or (source == "manual" and not aesthetic_only))
    ]
    return max(values) if values else None


def reference_order(db: Database, ids: list[int], sort: str) -> list[int]:
    """`ids` in the grid order `sort`, from the raw rows (docs: ties in import order, missing values last)."""
    with db.session() as s:
        images = {
            int(i): (name, mtime, width * height)
            for i, name, mtime, width, height in s.execute(
                text("SELECT id, file_name, file_mtime, width, height FROM images")
            )
        }
        tags: dict[int, set[str]] = {}
        for image_id, tag in s.execute(text("SELECT image_id, tag FROM tags WHERE is_rejected = 0")):
            tags.setdefault(int(image_id), set()).add(str(tag))
        scores: dict[int, list[Any]] = {}
        for row in s.execute(
            text("SELECT image_id, score_name, value, scale_min, scale_max, source FROM quality_scores")
        ):
            scores.setdefault(int(row[0]), []).append(tuple(row[1:]))

    def key(i: int) -> tuple[Any, ...]:
        name, mtime, area = images[i]
        if sort == "name":
            return (name.lower(), i)
        if sort == "date":
            return (mtime is None, -(mtime or 0.0), i)
        if sort == "tags":
            return (-len(tags.get(i, ())), i)
        if sort == "resolution":
            return (-area, i)
        if sort in ("score", "aesthetic"):
            best = _best(scores.get(i, []), aesthetic_only=sort == "aesthetic")
            return (best is None, -(best or 0.0), i)
        return (i,)

    return sorted(ids, key=key)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=projects(), terms=expressions(), draw=st.data())
def test_first_page_ids_array_and_count_match_the_reference_in_every_order(
    database: Database, data: ProjectData, terms: list[Term], draw: st.DataObject
) -> None:
    if draw.draw(st.booleans(), label="tag terms only"):  # the per-term id lists' path of ids_array / count
        terms = [term for term in terms if term.kind == "tag"]
    filter_text = draw.draw(render(terms), label="filter text")
    store(database, data)
    dates = draw.draw(st.lists(st.sampled_from([None, 1.0, 2.0, 3.5]), min_size=len(data.images)), label="mtimes")
    with database.session(write=True) as s:
        for img, mtime in zip(data.images, dates, strict=False):
            s.execute(text("UPDATE images SET file_mtime = :m WHERE id = :i"), {"m": mtime, "i": img.id})
    walk = draw.draw(st.booleans(), label="walk the sort order (common-tag plan)")
    limit = draw.draw(st.integers(1, 4), label="page size")
    expected = reference_ids(data, terms)
    parsed = parse_filter(filter_text)
    service = ImageQueryService(database)
    # A cap of 0 makes every tag "common": first_page walks the sort order, ids_array / count of tag-only
    # filters combine per-term id lists; with the real cap a small project's tags are all rare (IN lists).
    with patch.object(image_query_service, "TAG_SIZE_CAP", 0 if walk else image_query_service.TAG_SIZE_CAP):
        assert service.count(parsed) == len(expected)
        for sort in SORTS:
            ordered = reference_order(database, expected, sort)
            assert service.ids_array(parsed, sort).tolist() == ordered, sort
            assert service.first_page(parsed, sort, limit) == ordered[:limit], sort
