"""`SelectedIds`: the grid's selection as a read-only sequence of image IDs over one int64 array.

Ctrl+A over a 1,000,000-image grid used to hand every listener a list of 1M Python ints (`tolist()`), which the
details panel then de-duplicated (`dict.fromkeys`) and the annotate panel copied again, each on the GUI thread:
about a second of stall (docs/benchmarks.md, "Desktop app at 1,000,000 images"). This sequence copies the
selected rows' IDs once (a memcpy of 8 bytes an image), holds no Python int per image, is unique by construction
(a grid row shows one image), answers `in` through the grid's `IdIndex` (a binary search, not a scan), and gives
workers a numpy view (`numpy.asarray(selection)`) without a copy.

Qt-free. Immutable once built: safe to hand to a worker.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    import numpy as np

    from lorairo.gui.models.id_index import IdIndex


class SelectedIds(Sequence[int]):
    """Image IDs of the selected grid rows, in grid order. `spans` are inclusive (top, bottom) row ranges."""

    __slots__ = ("_index", "_starts", "_stops", "ids")

    def __init__(self, index: IdIndex, spans: Sequence[tuple[int, int]]) -> None:
        merged: list[tuple[int, int]] = []
        for top, bottom in sorted(spans):
            if merged and top <= merged[-1][1] + 1:  # overlapping or adjacent ranges: one run of rows
                merged[-1] = (merged[-1][0], max(merged[-1][1], bottom))
            else:
                merged.append((top, bottom))
        self._index = index
        self._starts = [top for top, _bottom in merged]
        self._stops = [bottom for _top, bottom in merged]
        ids: array[int] = array("q")
        for top, bottom in merged:
            ids.extend(index.ids[top : bottom + 1])  # array slices: copied in C, no int objects
        self.ids = ids

    @classmethod
    def empty(cls, index: IdIndex) -> SelectedIds:
        return cls(index, [])

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> int: ...

    @overload
    def __getitem__(self, i: slice) -> list[int]: ...

    def __getitem__(self, i: int | slice) -> int | list[int]:
        if isinstance(i, slice):
            return self.ids[i].tolist()
        return self.ids[i]

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)

    def __contains__(self, image_id: object) -> bool:
        """Membership without a scan: the row the grid shows `image_id` at, then whether a selected range holds
        it (rows only grow at the end after an import, so the rows of the selected images do not move)."""
        if not isinstance(image_id, int):
            return False
        row = self._index.row(image_id)
        if row is None:
            return False
        at = bisect_right(self._starts, row) - 1
        return at >= 0 and row <= self._stops[at]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SelectedIds):
            return self.ids == other.ids
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self.ids) and all(a == b for a, b in zip(self.ids, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking equality: like list, not hashable

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """A numpy view of the IDs (numpy.asarray(selection)): workers sort / chunk it without Python ints."""
        import numpy as np

        view = np.frombuffer(self.ids, dtype=np.int64) if self.ids else np.empty(0, dtype=np.int64)
        return view.astype(dtype) if dtype is not None and np.dtype(dtype) != view.dtype else view

    def __repr__(self) -> str:
        head = ", ".join(str(i) for i in self.ids[:5])
        return f"SelectedIds([{head}{', …' if len(self.ids) > 5 else ''}], n={len(self.ids)})"
