"""Property: for random small projects and random filter texts, the SQL result equals a plain-Python reference.

The texts are rendered in every style the language allows (commas or spaces, bare / quoted / tag: tags in any
case with _ or spaces, flag synonyms, negations), parsed by the one parser the CLI uses, and run in SQL against
a SQLite file whose tags were written through the real insert paths. The GUI filter bar's path is checked in
tests/gui/test_filter_bar_property.py with the same generators.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lorairo.database.engine import Database
from lorairo.database.schema import Base
from lorairo.services.filter_language import format_filter, parse_filter
from lorairo.services.image_query_service import ImageQueryService
from tests.support.filter_model import ProjectData, Term, expressions, projects, reference_ids, render, store


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = Database(tmp_path_factory.mktemp("filter-property") / "database.db")
    Base.metadata.create_all(db.write_engine)
    yield db
    db.dispose()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=projects(), terms=expressions(), draw=st.data())
def test_cli_text_filters_match_the_reference(
    database: Database, data: ProjectData, terms: list[Term], draw: st.DataObject
) -> None:
    text = draw.draw(render(terms), label="filter text")
    store(database, data)
    parsed = parse_filter(text)
    expected = reference_ids(data, terms)
    event("some images match" if expected else "no image matches")  # --hypothesis-show-statistics: mostly some
    assert ImageQueryService(database).query_ids(parsed) == expected
    # The canonical text form (favourites, the filter field after loading one) means the same.
    assert parse_filter(format_filter(parsed)) == parsed
