"""Streamed side files are byte for byte what the whole-file writers give (issue 20: export memory bounded),
the plan spool gives back what went in, and remembered tag cleaning equals cleaning each time.

An export writes its metadata files one row at a time from the plan spool instead of building them in memory;
these pin that the streamed text equals the text the exporter wrote before (``json.dumps`` of the whole
object, the joined lines), for any keys and values, and that the spool gives back exactly what went in.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from lorairo.services.export import captions as captions_module
from lorairo.services.export import spool as spool_module
from lorairo.services.export import trainers
from lorairo.services.export.captions import TagStyle, clean_tag, tag_cleaner
from lorairo.services.export.compose import ComposedCaption
from lorairo.services.export.plan import PlannedImage
from lorairo.services.export.spool import PlanSpool
from lorairo.services.export.writers import (
    MetadataRow,
    hf_metadata_jsonl,
    kohya_metadata_json,
    kohya_metadata_jsonl,
    write_hf_metadata_jsonl,
    write_kohya_metadata_json,
    write_kohya_metadata_jsonl,
)

texts = st.text(max_size=12)  # any Unicode: quotes, backslashes, newlines, surrogates excluded by st.text
sizes = st.tuples(st.integers(1, 9000), st.integers(1, 9000))
rows = st.lists(st.builds(MetadataRow, texts, texts, texts, sizes), max_size=8, unique_by=lambda r: r.image_path)


def _streamed(write, items) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    write(out, items)
    return out.getvalue()


@settings(max_examples=200, deadline=None)
@given(rows)
def test_kohya_metadata_json_streamed_equals_one_dump(metadata: list[MetadataRow]) -> None:
    whole = {r.image_path: {"caption": r.caption, "tags": r.tags, "image_size": list(r.size)} for r in metadata}
    reference = json.dumps(whole, ensure_ascii=False, indent=2) + "\n"  # the exporter's old text
    assert _streamed(write_kohya_metadata_json, metadata) == reference == kohya_metadata_json(metadata)
    assert json.loads(reference) == whole


@settings(max_examples=100, deadline=None)
@given(rows)
def test_jsonl_writers_streamed_equal_the_joined_text(metadata: list[MetadataRow]) -> None:
    assert _streamed(write_kohya_metadata_jsonl, metadata) == kohya_metadata_jsonl(metadata)
    hf_rows = [
        {"file_name": r.image_path, "text": r.caption, "tags": r.tags.split(","), "rating": None} for r in metadata
    ]
    assert _streamed(write_hf_metadata_jsonl, hf_rows) == hf_metadata_jsonl(hf_rows)
    pairs = [(r.image_path, r.caption) for r in metadata]
    assert _streamed(trainers.write_musubi_jsonl, pairs) == trainers.musubi_jsonl(pairs)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(texts, st.lists(texts, max_size=3), max_size=6))
def test_diffusion_pipe_captions_streamed_equal_one_dump(captions: dict[str, list[str]]) -> None:
    streamed = _streamed(trainers.write_diffusion_pipe_captions, list(captions.items()))
    assert streamed == trainers.diffusion_pipe_captions(captions)


@given(st.lists(sizes, max_size=20))
def test_aspect_range_streamed_equals_min_max_of_all(image_sizes: list[tuple[int, int]]) -> None:
    ratios = [w / h for w, h in image_sizes]
    expected = (round(min([0.5, *ratios]), 3), round(max([2.0, *ratios]), 3))
    assert trainers.aspect_range(iter(image_sizes)) == expected


def _planned(n: int) -> PlannedImage:
    composed = ComposedCaption((f"tag {n}",), (), (), (f"tag {n}",), "")
    return PlannedImage(n, f"/x/{n}.png", f"{n}.png", "", False, None, None, f"s{n}", ".png", False, composed)


def test_spool_reads_back_every_planned_image_in_order_across_chunks(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(spool_module, "SPOOL_CHUNK", 4)
    spool = PlanSpool(tmp_path / "plan")
    planned = [_planned(n) for n in range(11)]  # two full chunks and a partial one
    for p in planned:
        spool.add(p)
    assert list(spool) == planned and list(spool) == planned  # read as often as needed
    assert spool.count == 11
    spool.remove()
    assert not (tmp_path / "plan").exists()


# Text a project can hold: any Unicode (quotes, backslashes, newlines, NUL, astral), bytes of a non-UTF-8 file
# name kept surrogate-escaped by import (U+DC80-U+DCFF), and captions far longer than a pickle frame.
_escaped = st.integers(0xDC80, 0xDCFF).map(chr)
odd_text = st.lists(st.one_of(st.characters(), _escaped), max_size=20).map("".join)
long_text = st.integers(0, 3).map(lambda k: "a long caption, " * (k * 20_000))
any_text = st.one_of(odd_text, long_text)
text_tuples = st.lists(any_text, max_size=4).map(tuple)
composed_captions = st.builds(
    ComposedCaption, text_tuples, text_tuples, text_tuples, text_tuples, any_text, st.booleans()
)
planned_images = st.builds(
    PlannedImage,
    image_id=st.integers(1, 2**62),
    source=odd_text,
    file_name=odd_text,
    original_path=odd_text,
    has_alpha=st.booleans(),
    crop=st.none() | st.tuples(*[st.integers(0, 2**31)] * 4),
    mask=st.none() | odd_text,
    stem=odd_text,
    ext=st.sampled_from([".png", ".jpg", ".webp"]),
    reduced=st.booleans(),
    composed=composed_captions,
    rating=st.none() | odd_text,
    aesthetic=st.none() | st.floats(allow_nan=False),
    fallback_caption=any_text,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(planned_images, max_size=9), st.integers(1, 4))
def test_spool_round_trip_keeps_every_field_identical(planned: list[PlannedImage], chunk: int) -> None:
    """What the spool gives back is what went in, field for field and character for character: odd characters,
    surrogate-escaped bytes, empty tag tuples, captions of hundreds of KB, None where a field is optional."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        spool_module.SPOOL_CHUNK, saved = chunk, spool_module.SPOOL_CHUNK
        try:
            spool = PlanSpool(Path(folder) / "plan")
            for p in planned:
                spool.add(p)
            back = list(spool)
        finally:
            spool_module.SPOOL_CHUNK = saved
    assert back == planned
    for got, want in zip(back, planned, strict=True):
        assert type(got) is PlannedImage and type(got.composed) is ComposedCaption
        assert tuple(got) == tuple(want)  # every field, in order (named tuples compare as tuples)
        assert got.shown_path == want.shown_path


tag_styles = st.builds(
    TagStyle,
    underscores_to_spaces=st.booleans(),
    escape_parentheses=st.booleans(),
    wildcard=st.booleans(),
    keep_underscores=st.lists(st.sampled_from(["score_*", "*_(cosplay)", "a?c", "[ab]*"]), max_size=2).map(tuple),
)
tag_texts = st.lists(
    st.one_of(st.sampled_from(["_", " ", "(", ")", "\\(", ",", "|||", "{", "}", "^_^", "score_9"]), st.characters()),
    max_size=10,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(tag_styles, tag_styles, st.lists(tag_texts, max_size=12), st.integers(1, 5))
def test_remembered_tag_cleaning_equals_cleaning_each_time(
    style: TagStyle, other: TagStyle, tags: list[str], limit: int
) -> None:
    """The export cleans each distinct tag once per style (`tag_cleaner`); what it writes is what `clean_tag`
    gives every time: for a tag seen before, under another style, and after the memory is cleared at its limit."""
    saved = captions_module.CLEANED_TAGS_MAX
    captions_module.CLEANED_TAGS_MAX = limit
    try:
        tag_cleaner.cache_clear()
        clean, clean_other = tag_cleaner(style), tag_cleaner(other)
        for tag in [*tags, *reversed(tags)]:
            assert clean(tag) == clean_tag(tag, style)
            assert clean_other(tag) == clean_tag(tag, other)
        assert tag_cleaner(style) is clean  # one memory per style
    finally:
        captions_module.CLEANED_TAGS_MAX = saved
        tag_cleaner.cache_clear()
