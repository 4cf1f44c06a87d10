"""`IdIndex` (the grid's ID list and row look-up) against a plain {id: row} dict, for import order, any other
order and appends."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from lorairo.gui.models.id_index import IdIndex

unique_ids = st.lists(st.integers(min_value=1, max_value=10_000), unique=True, max_size=60)


@settings(deadline=None)  # the first example imports numpy
@given(ids=unique_ids, ascending=st.booleans(), appended=st.lists(st.integers(1, 10_500), max_size=20))
def test_rows_match_a_plain_dict(ids: list[int], ascending: bool, appended: list[int]) -> None:
    ordered = sorted(ids) if ascending else ids
    index = IdIndex(ordered)
    added = index.append(appended)
    expected = list(dict.fromkeys([*ordered, *(i for i in appended if i not in ordered)]))
    assert added == expected[len(ordered) :]
    assert index.ids.tolist() == expected
    reference = {image_id: row for row, image_id in enumerate(expected)}
    for probe in {*expected, 0, 10_501, *range(1, 40)}:
        assert index.row(probe) == reference.get(probe)
        assert (probe in index) == (probe in reference)


def test_the_ids_are_one_int64_array_and_import_order_keeps_no_copy() -> None:
    index = IdIndex(range(1, 100_001))
    assert isinstance(index.ids, array) and index.ids.typecode == "q"
    assert index._keys is None and index._rows is None  # ascending: bisection in place
    assert index.row(73_000) == 72_999 and index.row(100_001) is None
    index.append([100_005, 100_002])  # an import batch: the first extends the ascending run, the second not
    assert index.row(100_005) == 100_000 and index.row(100_002) == 100_001
    shuffled = IdIndex([5, 3, 9, 1])
    assert shuffled._keys is not None and shuffled._keys.tolist() == [1, 3, 5, 9]
    assert [shuffled.row(i) for i in (5, 3, 9, 1, 4)] == [0, 1, 2, 3, None]


def test_starts_with() -> None:
    index = IdIndex([4, 2, 8, 6])
    assert index.starts_with(array("q", [4, 2]))
    assert index.starts_with(array("q"))
    assert not index.starts_with(array("q", [2, 4]))
    assert not index.starts_with(array("q", [4, 2, 8, 6, 1]))
