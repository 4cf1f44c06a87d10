"""The grid's whole id list arrives as one comma-joined text; it is parsed in pieces (a single numpy call held
the GIL 60-70 ms at 1M ids). Pieces must join to exactly the ids, wherever the cuts fall."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lorairo.services.id_text import parse_id_text


@settings(deadline=None)  # the first call imports numpy
@given(st.lists(st.integers(1, 2**62), min_size=1, max_size=200), st.integers(1, 64))
def test_parsed_in_pieces_equals_the_ids(ids: list[int], chunk: int) -> None:
    text = ",".join(map(str, ids))
    assert parse_id_text(text, chunk).tolist() == ids
    assert parse_id_text(text).tolist() == ids  # the default: one piece for a short text


def test_a_million_ids_in_pieces() -> None:
    ids = list(range(1, 1_000_001))
    parsed = parse_id_text(",".join(map(str, ids)))
    assert parsed.dtype.name == "int64" and parsed.tolist() == ids


@settings(deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62)))
def test_sorted_distinct_equals_a_plain_sorted_set(values: list[int]) -> None:
    import numpy as np

    from lorairo.services.id_text import sorted_distinct

    found = sorted_distinct(np.array(values, dtype=np.int64))
    assert found.dtype == np.int64
    assert found.tolist() == sorted(set(values))
