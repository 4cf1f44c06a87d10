"""`SelectedIds`: the grid's selection as one int64 array, with membership through the grid's `IdIndex`."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lorairo.gui.models.id_index import IdIndex
from lorairo.gui.models.selected_ids import SelectedIds


def test_ranges_in_grid_order_without_duplicates_and_membership() -> None:
    grid = [50, 10, 40, 20, 30, 60, 5]  # a non-import sort: ids are not ascending
    index = IdIndex(grid)
    selection = SelectedIds(index, [(4, 5), (1, 2), (2, 3)])  # overlapping and unordered, as Qt may report
    assert list(selection) == [10, 40, 20, 30, 60]
    assert len(selection) == 5 and selection[0] == 10 and selection[-1] == 60 and selection[1:3] == [40, 20]
    assert 20 in selection and 60 in selection
    assert 50 not in selection and 5 not in selection and 999 not in selection and "20" not in selection
    assert selection == [10, 40, 20, 30, 60]
    assert [10, 40, 20, 30, 60] == selection  # noqa: SIM300 (a list on the left: the reflected comparison)
    assert np.asarray(selection).tolist() == [10, 40, 20, 30, 60]
    assert np.asarray(selection).dtype == np.int64
    assert not SelectedIds.empty(index) and len(SelectedIds.empty(index)) == 0


def test_membership_holds_after_the_grid_appends_an_import_batch() -> None:
    index = IdIndex(range(1, 101))
    selection = SelectedIds(index, [(0, 99)])  # Ctrl+A
    index.append([101, 102])  # new rows at the end: the selected rows do not move
    assert 100 in selection and 101 not in selection and len(selection) == 100


@given(
    st.lists(st.integers(1, 10_000), min_size=1, max_size=60, unique=True),
    st.lists(st.tuples(st.integers(0, 59), st.integers(0, 59)), max_size=6),
)
def test_equals_the_rows_a_plain_walk_selects(grid: list[int], raw: list[tuple[int, int]]) -> None:
    spans = [(min(a, b), max(a, b)) for a, b in raw if max(a, b) < len(grid)]
    rows = sorted({row for top, bottom in spans for row in range(top, bottom + 1)})
    expected = [grid[row] for row in rows]
    selection = SelectedIds(IdIndex(grid), spans)
    assert list(selection) == expected
    assert all((image_id in selection) == (image_id in expected) for image_id in grid)
