"""Exact caption lines for tricky tags (conventions.md, "Training-dataset export")."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorairo.exceptions import ExportError
from lorairo.services.export.captions import KAOMOJI, parse_sidecar_line
from lorairo.services.export.compose import compose, keep_tokens, metadata_texts
from lorairo.services.export.data import CaptionEntry, ExportItem, ScoreEntry, TagEntry
from lorairo.services.export.layout import assign_stems, kohya_folder_name
from lorairo.services.export.options import ExportOptions


def item(*tags: tuple[str, str | None, str, float | None, bool], caption: str = "", **kw: object) -> ExportItem:
    entries = tuple(TagEntry(t, c, s, conf, rej, i) for i, (t, c, s, conf, rej) in enumerate(tags, start=1))
    caps = (CaptionEntry(caption, "manual", 1),) if caption else ()
    return ExportItem(
        image_id=1,
        source_path=Path("/x/a.png"),
        file_name="a.png",
        width=512,
        height=512,
        format="PNG",
        has_alpha=False,
        exif_orientation=1,
        tags=entries,
        captions=caps,
        **kw,  # type: ignore[arg-type]
    )


def g(tag: str, conf: float | None = 0.9, source: str = "model", cat: str | None = "general") -> tuple:
    return (tag, cat, source, conf, False)


OPTS = ExportOptions(trigger_words=("sks",), order_by_category=False).validated()


def line(it: ExportItem, opts: ExportOptions = OPTS) -> str:
    out = compose(it, opts).lines
    assert len(out) == 1
    return out[0]


def test_parentheses_are_literal_by_default_and_escaped_on_request() -> None:
    it = item(g("photo_(medium)"), g("long hair"))
    assert line(it) == "sks, photo (medium), long hair"
    escaped = OPTS.with_changes(escape_parentheses=True)
    assert line(it, escaped) == r"sks, photo \(medium\), long hair"
    # stored escaped (pasted from a prompt) is unescaped first, never double-escaped
    assert line(item(g(r"photo \(medium\)")), escaped) == r"sks, photo \(medium\)"
    assert line(item(g(r"photo \(medium\)"))) == "sks, photo (medium)"


def test_all_19_kaomoji_keep_their_underscores() -> None:
    assert len(KAOMOJI) == 19
    it = item(*(g(k) for k in sorted(KAOMOJI)), g("looking_at_viewer"))
    written = line(it).split(", ")
    assert written[1:-1] == sorted(KAOMOJI)
    assert written[-1] == "looking at viewer"
    # underscore mode writes spaces as underscores, kaomoji untouched
    under = OPTS.with_changes(underscores_to_spaces=False)
    assert line(item(g("long hair"), g("^_^"), g("(o)_(o)")), under) == "sks, long_hair, ^_^, (o)_(o)"


def test_comma_inside_a_tag_never_splits_it() -> None:
    assert line(item(g("hello, world"), g("a,b"))) == "sks, hello world, a b"
    assert parse_sidecar_line(line(item(g("hello, world")))) == ["sks", "hello world"]


def test_wildcard_variants_double_braces_and_put_tags_and_caption_on_two_lines() -> None:
    opts = OPTS.with_changes(caption_mode="both", caption_variants=True)
    it = item(g("{braced}"), g("smile"), caption="A {curly} cat,\n sitting.")
    # the sentence's comma is written as sd-scripts' secondary separator: shuffling keeps the sentence whole
    assert compose(it, opts).lines == ("sks, {{braced}}, smile", "sks, A {{curly}} cat;;; sitting.")
    # without wildcard braces are written once and both parts share one line
    one_line = OPTS.with_changes(caption_mode="both")
    assert compose(it, one_line).lines == ("sks, {braced}, smile, A {curly} cat;;; sitting.",)
    # formats not trained by sd-scripts keep the sentence as written
    hf = OPTS.with_changes(caption_mode="both", format="hf")
    assert compose(it, hf).lines == ("sks, {braced}, smile, A {curly} cat, sitting.",)
    assert parse_sidecar_line("sks, {{braced}}", wildcard=True) == ["sks", "{braced}"]


def test_keep_tokens_counts_trigger_words_and_separator_mode_never_mixes() -> None:
    opts = ExportOptions(trigger_words=("sks", "ohwx man"), order_by_category=False).validated()
    it = item(g("smile"))
    assert line(it, opts) == "sks, ohwx man, smile"
    assert keep_tokens(opts) == 2
    sep = opts.with_changes(use_keep_tokens_separator=True)
    assert line(it, sep) == "sks, ohwx man ||| smile"
    assert keep_tokens(sep) == 0


def test_tag_selection_threshold_rejection_manual_over_model_and_categories() -> None:
    it = item(
        g("low", conf=0.2),
        g("high", conf=0.8),
        ("blurry", "general", "model", 0.9, True),  # the user rejected it
        g("blurry", conf=0.95),  # another model proposed it again: still out
        g("manual low", conf=0.1, source="manual"),  # manual tags always go in
        g("sidecar tag", conf=None, source="sidecar"),
        g("rejected but manual", source="model"),
        ("rejected but manual", "general", "model", 0.9, True),
        g("rejected but manual", source="manual"),
        g("artist x", cat="artist"),
    )
    assert line(it) == "sks, manual low, rejected but manual, sidecar tag, artist x, high"
    only_general = OPTS.with_changes(categories=frozenset({"general"}))
    assert "artist x" not in line(it, only_general)
    manual_only = OPTS.with_changes(include_model_tags=False)
    assert line(it, manual_only) == "sks, manual low, rejected but manual, sidecar tag"


def test_category_order_head_counts_then_character_copyright_artist_general_meta() -> None:
    it = item(
        g("highres", cat="meta"),
        g("smile"),
        g("hatsune miku", cat="character"),
        g("1girl"),
        g("vocaloid", cat="copyright"),
        g("artist x", cat="artist"),
        g("solo"),
    )
    opts = OPTS.with_changes(order_by_category=True)
    assert line(it, opts) == "sks, 1girl, solo, hatsune miku, vocaloid, artist x, smile, highres"


def test_rating_and_score_tags_follow_the_trigger_and_keep_their_underscores() -> None:
    score = ScoreEntry("aesthetic_v2", 7.6, 1.0, 10.0, "model", 1)
    it = item(g("smile"), rating="general", scores=(score,))
    opts = OPTS.with_changes(include_rating_tag=True, include_score_tag=True)
    assert line(it, opts) == "sks, rating_general, score_7, smile"
    low = ScoreEntry("aesthetic_v2", 0.95, 0.0, 1.0, "model", 1)  # a 0-1 score: 1 + 9 * 0.95 = 9.55 -> 9
    assert line(item(g("smile"), scores=(low,)), opts) == "sks, score_9, smile"


def test_empty_caption_and_metadata_texts() -> None:
    bare = ExportOptions(order_by_category=False).validated()
    assert compose(item(g("x", conf=0.1)), bare).is_empty
    assert compose(item(g("x", conf=0.1)), OPTS).lines == ("sks",)  # the trigger word is never dropped
    both = OPTS.with_changes(caption_mode="both")
    caption, tags = metadata_texts(compose(item(g("smile"), g("1girl"), caption="A cat."), both), both)
    assert (caption, tags) == ("sks, A cat.", "smile, 1girl")


def test_stems_never_collide_and_are_deterministic() -> None:
    result = assign_stems([(3, "a.png"), (1, "a.jpg"), (2, "A.webp"), (4, "a_3.png"), (5, "x-masklabel.png")])
    assert result.stems == {1: "a", 2: "A_2", 3: "a_3", 4: "a_3_4", 5: "x_masklabel"}
    assert result.renamed[0] == (2, "A", "A_2")


def test_folder_name_and_option_errors_name_the_field() -> None:
    assert kohya_folder_name(ExportOptions(trigger_words=("sks",), class_tokens="woman", repeats=10)) == "10_sks woman"
    with pytest.raises(ExportError, match="caption_extension"):
        ExportOptions(caption_extension=".png").validated()
    with pytest.raises(ExportError, match=r"\.txt"):
        ExportOptions(format="onetrainer", caption_extension=".caption").validated()
    with pytest.raises(ExportError, match="export format"):
        ExportOptions(format="diffusers").validated()
    assert ExportOptions(format="hf-imagefolder", caption_extension="caption").validated().caption_extension == (
        ".caption"
    )


def _sd_scripts_shuffle(line: str, keep: int, seed: int) -> str:
    """sd-scripts' caption processing with shuffle_caption on (restated): split at commas, keep the first
    ``keep`` chunks, shuffle the rest, join with ", ", then turn the secondary separator back into commas."""
    import random

    tokens = [t.strip() for t in line.split(",")]
    fixed, flex = tokens[:keep], tokens[keep:]
    random.Random(seed).shuffle(flex)
    return ", ".join(fixed + flex).replace(";;;", ",")


def test_caption_mode_both_sentence_survives_sd_scripts_shuffling() -> None:
    sentence = "A woman, smiling, stands by a red door."
    it = item(g("smile"), g("door"), g("red door"), caption=sentence)
    opts = OPTS.with_changes(caption_mode="both")
    (line,) = compose(it, opts).lines
    for seed in range(50):
        trained = _sd_scripts_shuffle(line, keep_tokens(opts), seed)
        assert sentence in trained, trained  # never cut into "A woman" ... "smiling" ...
        assert trained.startswith("sks, ")
    # the old layout (plain commas) is cut apart by the same shuffle
    old = f"sks, smile, door, red door, {sentence}"
    assert any(sentence not in _sd_scripts_shuffle(old, 1, seed) for seed in range(50))


def test_pony_tags_keep_their_underscores_by_default_and_the_patterns_are_configurable() -> None:
    it = item(
        g("score_9"), g("score_8_up"), g("source_anime"), g("rating_safe"), g("long_hair"), g("^_^"), g("score 7 up")
    )
    opts = OPTS.with_changes(order_by_category=False)
    assert compose(it, opts).lines == (
        "sks, score_9, score_8_up, source_anime, rating_safe, long hair, ^_^, score_7_up",
    )
    custom = opts.with_changes(keep_underscores=("long_*",))
    assert compose(it, custom).lines == (
        "sks, score 9, score 8 up, source anime, rating safe, long_hair, ^_^, score 7 up",
    )


def test_unknown_category_is_refused_naming_it_and_the_allowed_ones() -> None:
    with pytest.raises(ExportError, match=r"unknown tag category 'genral'; choose from character, .*general"):
        ExportOptions(categories=frozenset({"genral", "character"})).validated()
