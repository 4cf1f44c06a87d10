"""The filter grammar as docs/filters.md states it: how words, commas, quotes and keys combine, and the text form
of any filter reading back as the same filter."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorairo.services.filter_language import (
    RATINGS,
    FilterSyntaxError,
    ImageFilter,
    SimilarTo,
    format_filter,
    merge_filters,
    named_aspect,
    normalize_query_tag,
    parse_filter,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("long hair, blue eyes", ImageFilter(tags_all=("long hair", "blue eyes"))),
        ("long hair blue eyes", ImageFilter(tags_all=("long hair blue eyes",))),
        ("long_hair, Blue_Eyes", ImageFilter(tags_all=("long hair", "blue eyes"))),
        ('"long hair" "blue eyes"', ImageFilter(tags_all=("long hair", "blue eyes"))),
        ("long hair score>=6", ImageFilter(tags_all=("long hair",), score_min=6.0)),
        (
            "long hair | short hair, -blurry photo",
            ImageFilter(tags_any=(("long hair", "short hair"),), tags_none=("blurry photo",)),
        ),
        ("-cat|dog", ImageFilter(tags_none=("cat", "dog"))),
        ('tag:failed, "untagged", failed', ImageFilter(tags_all=("failed", "untagged"), has_failures=True)),
        ('"re:zero", :d, "|_|", ^_^', ImageFilter(tags_all=("re:zero", ":d", "|_|", "^_^"))),
        ("photo \\(medium\\), girls' frontline", ImageFilter(tags_all=("photo (medium)", "girls' frontline"))),
        ("caption:red dress, long hair", ImageFilter(tags_all=("long hair",), caption_text="red dress")),
        ("rating:General,SFW, cat", ImageFilter(tags_all=("cat",), ratings=("general", "sfw"))),
        ("-rating:explicit|nsfw", ImageFilter(ratings_none=("explicit", "nsfw"))),
        (
            "score>6 score>=6 score<9",
            ImageFilter(score_min=6.0, score_min_exclusive=True, score_max=9.0, score_max_exclusive=True),
        ),
        ("score>=5 score>=7 score:0-8", ImageFilter(score_min=7.0, score_max=8.0)),
        ("width>512 height<1000 res:768", ImageFilter(min_width=513, max_height=999, min_side=768)),
        ("aspect:portrait", ImageFilter(**named_aspect("portrait"))),
        ("imported:2024-05-01", ImageFilter(imported_from=date(2024, 5, 1), imported_to=date(2024, 5, 1))),
        (
            "-untagged -uncaptioned -duplicate -near-duplicates -has:failures -excluded",
            ImageFilter(
                untagged=False,
                uncaptioned=False,
                duplicates=False,
                near_duplicates=False,
                has_failures=False,
                excluded=False,
            ),
        ),
        ("  cat,,  , ", ImageFilter(tags_all=("cat",))),
        ("", ImageFilter()),
    ],
)
def test_grammar(text: str, expected: ImageFilter) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("cat, foo:bar", 6, "unknown key 'foo'"),
        ("re:zero", 1, 'quote it: "re:zero"'),
        ("|cat", 1, "'|' needs a tag on both sides"),
        ("cat | , dog", 5, "empty tag after '|'"),
        ("cat, tag:", 6, "'tag:' needs a value"),
        ("cat -", 5, "nothing after '-'"),
        ("-score>=6", 1, "write score<6"),
        ("caption:''", 1, "'caption:' needs a value"),
        ("rating:general rating:sfw", 16, "given twice (first at column 1)"),
        ("aspect>=square", 1, "write aspect:square"),
        ("imported>=2024-13-01", 1, "is not a date"),
        ("score>=nan", 1, "is not a number"),
        ('"a" "b', 5, "never closed"),
        ("'a'b", 1, "text right after a closing quote"),
    ],
)
def test_errors_name_column_and_term(text: str, column: int, words: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    assert caught.value.column == column
    assert words in str(caught.value) and f"column {column}" in str(caught.value)


def test_merging_text_and_widgets_is_an_and() -> None:
    text = parse_filter("cat, score>=5, -untagged")
    widgets = ImageFilter(score_min=6.0, score_max=9.0, ratings=("general",))
    merged = merge_filters(text, widgets)
    assert (merged.tags_all, merged.score_min, merged.score_max, merged.ratings, merged.untagged) == (
        ("cat",),
        6.0,
        9.0,
        ("general",),
        False,
    )
    with pytest.raises(FilterSyntaxError, match="rating: is given twice"):
        merge_filters(parse_filter("rating:sfw"), widgets)
    with pytest.raises(FilterSyntaxError, match="untagged is given twice"):
        merge_filters(text, ImageFilter(untagged=True))


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)
# tags as an ImageFilter holds them: normalised (the parser's output), never containing the wildcard
_tag = _text.map(normalize_query_tag).filter(lambda t: bool(t) and "*" not in t)
_score = st.sampled_from([0.0, 0.5, 6.0, 7.25, 10.0, -1.0])
_sentence = _text.map(lambda s: " ".join(s.split())).filter(bool)  # as the parser keeps it: spaces collapsed
_similar = st.builds(
    SimilarTo,
    text=_sentence,
    model=st.just("") | _sentence,
    top=st.none() | st.integers(1, 10_000),
    min_similarity=st.none() | st.sampled_from([-1.0, 0.0, 0.25, 0.9, 1.0]),
) | st.builds(SimilarTo, image_id=st.integers(0, 10**9), top=st.none() | st.integers(1, 50))
filters = st.builds(
    ImageFilter,
    tags_all=st.lists(_tag, max_size=3, unique=True).map(tuple),
    tags_any=st.lists(st.lists(_tag, min_size=2, max_size=3, unique=True).map(tuple), max_size=2, unique=True).map(
        tuple
    ),
    tags_none=st.lists(_tag, max_size=2, unique=True).map(tuple),
    caption_text=st.just("") | _text.filter(str.strip),
    name_text=st.just("") | _text.filter(str.strip),
    score_min=st.none() | _score,
    score_max=st.none() | _score,
    score_min_exclusive=st.booleans(),
    score_max_exclusive=st.booleans(),
    ratings=st.lists(st.sampled_from(RATINGS), max_size=2, unique=True).map(tuple),
    ratings_none=st.lists(st.sampled_from(RATINGS), max_size=2, unique=True).map(tuple),
    min_width=st.none() | st.integers(0, 5000),
    min_side=st.none() | st.integers(0, 5000),
    imported_to=st.none() | st.dates(date(2020, 1, 1), date(2030, 1, 1)),
    untagged=st.none() | st.booleans(),
    near_duplicates=st.none() | st.booleans(),
    excluded=st.none() | st.booleans(),
    similar=st.none() | _similar,
).filter(
    lambda f: (
        (f.score_min is not None or not f.score_min_exclusive)
        and (f.score_max is not None or not f.score_max_exclusive)
        and not set(f.tags_all) & {t for group in f.tags_any for t in group}
    )
)


@settings(max_examples=150, deadline=None)
@given(filters)
def test_the_text_form_of_any_filter_reads_back_as_that_filter(f: ImageFilter) -> None:
    assert parse_filter(format_filter(f)) == f


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('similar:"red dress on a beach"', SimilarTo(text="red dress on a beach")),
        ("similar:red  dress, -blurry", SimilarTo(text="red dress")),  # a value runs like a tag
        ("similar:#123", SimilarTo(image_id=123)),
        ("similar:#5 top:20 similar_model:tiny-clip", SimilarTo(image_id=5, top=20, model="tiny-clip")),
        ('similar:"cat" similar>=0.25', SimilarTo(text="cat", min_similarity=0.25)),
        ('Similar:"cat" TOP:3', SimilarTo(text="cat", top=3)),
    ],
)
def test_similar_term(text: str, expected: SimilarTo) -> None:
    assert parse_filter(text).similar == expected


def test_similar_keeps_a_hundred_unless_top_or_a_threshold_says() -> None:
    assert SimilarTo(text="x").limit == 100
    assert SimilarTo(text="x", top=7).limit == 7
    assert SimilarTo(text="x", min_similarity=0.3).limit is None  # the threshold alone decides
    assert SimilarTo(text="x", top=7, min_similarity=0.3).limit == 7


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ('similar:""', 1, "empty"),
        ('cat, similar:"   "', 6, "empty"),
        ("-similar:red", 1, "cannot be negated"),
        ("similar:#12a", 1, "not an image ID"),
        ("similar:a, similar:b", 12, "given twice"),
        ("cat top:5", 5, "'top:' belongs to a similar: term"),
        ("similar>=0.5", 1, "'similar>=' belongs to a similar: term"),
        ("similar:a similar>0.5", 11, "write similar>=x"),
        ("similar:a similar>=1.5", 11, "from -1 to 1"),
        ("similar:a top:0", 11, "at least 1"),
    ],
)
def test_similar_errors_name_column_and_term(text: str, column: int, words: str) -> None:
    with pytest.raises(FilterSyntaxError, match=words) as info:
        parse_filter(text)
    assert info.value.column == column


def test_similar_is_merged_once() -> None:
    text = parse_filter('similar:"red dress"')
    assert merge_filters(text, ImageFilter(min_side=512)).similar == SimilarTo(text="red dress")
    with pytest.raises(FilterSyntaxError, match="similar: is given twice"):
        merge_filters(text, parse_filter("similar:#3"))
