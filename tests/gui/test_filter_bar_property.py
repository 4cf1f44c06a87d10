"""Property: the GUI filter bar selects the same images as the CLI for the same text, and its widgets mean
what they say. Random projects and filter texts (tests/support/filter_model.py) are typed into the bar's field,
random widget values are set, and the bar's ImageFilter is run in SQL and compared with the reference."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lorairo.database.engine import Database
from lorairo.database.schema import Base
from lorairo.gui.widgets.filter_bar import RATING_CHOICES, FilterBar
from lorairo.gui.workers import JobManager
from lorairo.services.filter_language import parse_filter
from lorairo.services.image_query_service import ImageQueryService
from tests.support.filter_model import DATES, ProjectData, Term, expressions, projects, reference_ids, render, store


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = Database(tmp_path_factory.mktemp("filter-bar-property") / "database.db")
    Base.metadata.create_all(db.write_engine)
    yield db
    db.dispose()


@pytest.fixture
def bar(qtbot) -> FilterBar:  # type: ignore[no-untyped-def]
    widget = FilterBar(JobManager())
    qtbot.addWidget(widget)
    return widget


@st.composite
def widget_settings(draw: st.DrawFn, terms: list[Term]) -> dict[str, object]:
    """Values for the bar's other widgets that do not clash with what the text already says."""
    kinds = {t.kind for t in terms}
    flags_in_text = {t.values[0] for t in terms if t.kind == "flag"}
    chosen: dict[str, object] = {}
    if "score_name" not in kinds and draw(st.booleans()):
        low = draw(st.sampled_from((0.0, 2.5, 5.0, 6.0)))
        chosen["score"] = (low, draw(st.sampled_from((7.5, 10.0))))
    if "rating" not in kinds and draw(st.booleans()):
        chosen["rating"] = draw(st.sampled_from([r for r in RATING_CHOICES if r]))
    if draw(st.booleans()):
        chosen["min_side"] = draw(st.sampled_from((0, 512, 768)))
    if draw(st.booleans()) and "aspect" not in kinds:
        chosen["aspect"] = draw(st.sampled_from(("square", "portrait", "landscape")))
    if draw(st.booleans()) and "imported" not in kinds:
        chosen["since"] = draw(st.sampled_from(DATES))
    chosen["flags"] = draw(
        st.lists(st.sampled_from([f for f in ("untagged", "uncaptioned", "near_duplicates") if f not in flags_in_text]),
                 unique=True, max_size=2)
    )  # fmt: skip
    return chosen


def _apply(bar: FilterBar, chosen: dict[str, object]) -> list[Term]:
    """Set the widgets; return the same conditions as reference terms."""
    terms: list[Term] = []
    if "score" in chosen:
        low, high = chosen["score"]  # type: ignore[misc]
        bar.score.setValue((low, high))
        if low > 0.0:
            terms.append(Term("score", op=">=", values=(low,)))
        if high < 10.0:
            terms.append(Term("score", op="<=", values=(high,)))
    if "rating" in chosen:
        bar.rating.setCurrentIndex(bar.rating.findData(chosen["rating"]))
        terms.append(Term("rating", values=(chosen["rating"],)))
    if chosen.get("min_side"):
        bar.min_side.setValue(int(chosen["min_side"]))  # type: ignore[call-overload]
        terms.append(Term("res", op=">=", values=(chosen["min_side"],)))
    if "aspect" in chosen:
        bar.aspect.setCurrentIndex(bar.aspect.findData(chosen["aspect"]))
        terms.append(Term("aspect", op=":", values=(chosen["aspect"],)))
    if "since" in chosen:
        since = chosen["since"]
        assert isinstance(since, date)
        bar.since_check.setChecked(True)
        bar.since.setDate(since)
        terms.append(Term("imported", op=">=", values=(since,)))
    for name in chosen["flags"]:  # type: ignore[attr-defined]
        bar.flags[name].setChecked(True)
        terms.append(Term("flag", values=(name,)))
    return terms


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=projects(), terms=expressions(), draw=st.data())
def test_filter_bar_selects_what_the_reference_selects(
    bar: FilterBar, database: Database, data: ProjectData, terms: list[Term], draw: st.DataObject
) -> None:
    text = draw.draw(render(terms), label="filter text")
    chosen = draw.draw(widget_settings(terms), label="widgets")
    store(database, data)
    bar.clear()
    bar.tags.setText(text)
    extra = _apply(bar, chosen)
    service = ImageQueryService(database)
    if not chosen.get("flags") and len(chosen) == 1:  # text alone: exactly what the CLI runs
        assert bar.current_filter() == parse_filter(text)
    assert service.query_ids(bar.current_filter()) == reference_ids(data, terms, extra)
    # Loading that filter back into the bar (a favourite) shows it without changing what it selects.
    shown = bar.current_filter()
    bar.set_filter(shown)
    assert bar.current_filter() == shown
    assert bar.error_label.isHidden()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(terms=expressions(), draw=st.data())
def test_loading_any_filter_into_the_bar_keeps_it(bar: FilterBar, terms: list[Term], draw: st.DataObject) -> None:
    # A favourite or a filter text: what the widgets can show goes into them, the rest stays as text.
    f = parse_filter(draw.draw(render(terms), label="filter text"))
    bar.set_filter(f)
    assert bar.current_filter() == f
    assert bar.error_label.isHidden()  # and the text left in the field parses
