"""Pure cleaning and caption rules (no database)."""

from __future__ import annotations

import pytest
from genai_tag_db_tools import (
    KAOMOJI,
    CaptionFormatError,
    clean_tags,
    format_tags,
    is_count_tag,
    normalize_tag,
    order_tags,
    parse_caption,
    tag_key,
    to_spaces,
    to_underscores,
)

# Copied from conventions.md as written there, to check the constant against the spec.
ALL_KAOMOJI = "0_0 (o)_(o) +_+ +_- ._. <o>_<o> <|>_<|> =_= >_< 3_3 6_9 >_o @_@ ^_^ o_o u_u x_x |_| ||_||".split()  # noqa: SIM905


def test_the_19_kaomoji_are_listed() -> None:
    assert set(ALL_KAOMOJI) == KAOMOJI
    assert len(KAOMOJI) == 19


@pytest.mark.parametrize("face", ALL_KAOMOJI)
def test_kaomoji_keep_their_underscores(face: str) -> None:
    assert to_spaces(face) == face
    assert format_tags([face, "long_hair"]) == f"{face}, long hair"
    assert clean_tags([face]) == [face]


def test_underscores_become_spaces_and_back() -> None:
    assert to_spaces("looking_at_viewer") == "looking at viewer"
    assert to_underscores("looking at viewer") == "looking_at_viewer"
    assert format_tags(["long_hair"], underscores_to_spaces=False) == "long_hair"


def test_whitespace_is_normalised() -> None:
    assert normalize_tag("  long \t  hair ") == "long hair"
    assert parse_caption("  long   hair ,\n\n  smile ,, ") == ["long hair", "smile"]
    assert tag_key(" Long  Hair ") == "long_hair"


def test_lowercase_is_optional() -> None:
    assert clean_tags(["Hatsune Miku"]) == ["Hatsune Miku"]
    assert clean_tags(["Hatsune Miku"], lowercase=True) == ["hatsune miku"]


def test_parenthesised_tag_is_kept_whole() -> None:
    assert parse_caption("1girl, photo_(medium), (o)_(o), smile") == ["1girl", "photo_(medium)", "(o)_(o)", "smile"]
    assert format_tags(["photo_(medium)"]) == "photo (medium)"
    assert clean_tags("photo_(medium), photo (medium)") == ["photo (medium)"]


def test_escaped_parentheses_are_unescaped_on_import() -> None:
    assert parse_caption(r"photo \(medium\), hatsune miku \(cosplay\)") == [
        "photo (medium)",
        "hatsune miku (cosplay)",
    ]
    assert clean_tags([r"photo_\(medium\)"]) == ["photo (medium)"]


def test_escaping_parentheses_is_an_export_option() -> None:
    assert format_tags(["photo_(medium)"]) == "photo (medium)"
    assert format_tags(["photo_(medium)"], escape_parentheses=True) == r"photo \(medium\)"
    # Already escaped input is not escaped twice.
    assert format_tags([r"photo \(medium\)"], escape_parentheses=True) == r"photo \(medium\)"


def test_weights_and_emphasis_are_removed_not_duplicated() -> None:
    caption = "((smile)), (long hair:1.2), [blurry], {{sparkle}}, (red eyes, blue sky:0.8), :), :("
    assert parse_caption(caption) == ["smile", "long hair", "blurry", "sparkle", "red eyes", "blue sky", ":)", ":("]


def test_wildcard_braces() -> None:
    assert format_tags(["{braced}"], wildcard_escape_braces=True) == "{{braced}}"
    assert parse_caption("{{braced}}, tag", wildcard=True) == ["{braced}", "tag"]


def test_comma_inside_a_tag_is_refused() -> None:
    with pytest.raises(CaptionFormatError, match="separator"):
        format_tags(["a, b"])


def test_duplicates_merge_and_never_become_weights() -> None:
    assert clean_tags("long_hair, long hair, Long Hair, smile, smile") == ["long hair", "smile"]
    assert format_tags(["smile", "smile"]) == "smile"


def test_duplicate_keeps_highest_confidence() -> None:
    tags = clean_tags(["b", "a", "a_b", "a b"], confidences={"b": 0.5, "a": 0.4, "a_b": 0.3, "a b": 0.9})
    assert tags == ["a b", "b", "a"]


def test_count_tags_are_recognised() -> None:
    for tag in ("1girl", "2boys", "6+girls", "solo", "multiple_girls", "no humans", "1other"):
        assert is_count_tag(tag), tag
    for tag in ("long_hair", "girl", "solo_leveling"):
        assert not is_count_tag(tag), tag


def test_category_order_default_and_custom() -> None:
    tags = ["highres", "smile", "vocaloid", "hatsune_miku", "1girl", "wlop", "mystery"]
    cats = {
        "highres": "meta",
        "smile": "general",
        "vocaloid": "copyright",
        "hatsune_miku": "character",
        "1girl": "general",
        "wlop": "artist",
    }
    assert order_tags(tags, cats) == ["1girl", "hatsune_miku", "vocaloid", "wlop", "smile", "mystery", "highres"]
    assert order_tags(tags, cats, order=("meta", "general")) == [
        "highres",
        "smile",
        "1girl",
        "vocaloid",
        "hatsune_miku",
        "wlop",
        "mystery",
    ]


def test_general_tags_ordered_by_confidence() -> None:
    cats = {"a": "general", "b": "general", "c": "character"}
    assert order_tags(["a", "b", "c"], cats, confidences={"a": 0.4, "b": 0.9, "c": 0.1}) == ["c", "b", "a"]


def test_keep_input_order() -> None:
    assert clean_tags(["b", "a", "1girl"], order=None) == ["b", "a", "1girl"]


def test_blacklist_without_database() -> None:
    assert clean_tags("watermark, smile, Signature", blacklist=["watermark", "signature"]) == ["smile"]


def test_alias_mapping_without_database() -> None:
    assert clean_tags(["1girls", "smile"], aliases={"1girls": "1girl"}) == ["1girl", "smile"]
