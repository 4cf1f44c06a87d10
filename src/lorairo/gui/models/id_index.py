"""`IdIndex`: the grid's image IDs in one int64 array, and each ID's row found without a per-image dict.

At 1,000,000 images a list of Python ints plus an {id: row} dict took 108 MB (bench/scale.py); the array takes
8 MB. Import order (the default sort: ascending IDs) is searched in place by bisection. Any other order keeps a
sorted copy of the IDs and the rows they sit at (16 MB more at 1M), sorted by numpy on the worker that ran the
query. IDs appended later (import batches) extend the ascending run when they are larger than the last one, as
new images are; otherwise they go into a small dict until the next query replaces the index.

Qt-free. Build it on any thread; after it is handed to the GUI thread only that thread touches it.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence


def _as_array(ids: Iterable[int]) -> array[int]:
    if isinstance(ids, array) and ids.typecode == "q":
        return ids
    if hasattr(ids, "dtype") and hasattr(ids, "astype"):  # a numpy array (ImageQueryService.ids_array): copy
        import numpy as np  # its buffer in one go; iterating 1M numpy scalars costs ~100 ms

        copied: array[int] = array("q")
        copied.frombytes(np.ascontiguousarray(ids, dtype=np.int64).tobytes())
        return copied
    return array("q", ids)


class IdIndex:
    """Image IDs in grid order (`ids`) plus `row(image_id)`."""

    __slots__ = ("_extra", "_keys", "_rows", "_searchable", "ids")

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self.ids: array[int] = _as_array(ids)
        self._keys: array[int] | None = None  # sorted copy of ids (orders other than ascending)
        self._rows: array[int] | None = None  # _rows[k] is the row of _keys[k]
        self._searchable = 0  # ids[:_searchable] is ascending and searched in place (when _keys is None)
        self._extra: dict[int, int] = {}  # rows appended out of order since the index was built
        self._build()

    def _build(self) -> None:
        count = len(self.ids)
        if count < 2:
            self._searchable = count
            return
        import numpy as np  # loaded with the first result list, not at start-up

        view = np.frombuffer(self.ids, dtype=np.int64)
        try:
            if bool((view[1:] > view[:-1]).all()):
                self._searchable = count
                return
            order = np.argsort(view, kind="stable")
            keys = view[order]  # fancy indexing copies: nothing keeps the array's buffer exported
        finally:
            del view  # an exported buffer would make ids.append raise BufferError
        self._keys = array("q", keys.astype(np.int64).tobytes())
        self._rows = array("q", order.astype(np.int64).tobytes())

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, image_id: int) -> int | None:
        """The row showing `image_id`, None when it is not in the list."""
        if self._extra:
            found = self._extra.get(image_id)
            if found is not None:
                return found
        if self._keys is not None:
            assert self._rows is not None
            at = bisect_left(self._keys, image_id)
            return self._rows[at] if at < len(self._keys) and self._keys[at] == image_id else None
        at = bisect_left(self.ids, image_id, 0, self._searchable)
        return at if at < self._searchable and self.ids[at] == image_id else None

    def __contains__(self, image_id: object) -> bool:
        return isinstance(image_id, int) and self.row(image_id) is not None

    def append(self, ids: Sequence[int]) -> list[int]:
        """Add the IDs not in the list yet at its end (in the order given); returns the ones added."""
        added: list[int] = []
        seen: set[int] = set()
        for image_id in ids:
            if image_id in seen or self.row(image_id) is not None:
                continue
            seen.add(image_id)
            row = len(self.ids)
            ascending_tail = self._keys is None and self._searchable == row
            if ascending_tail and (row == 0 or image_id > self.ids[row - 1]):
                self._searchable += 1
            else:
                self._extra[image_id] = row
            self.ids.append(image_id)
            added.append(image_id)
        return added

    def starts_with(self, prefix: array[int]) -> bool:
        """Whether this list begins with exactly `prefix` (the first page shown before it arrived)."""
        return len(prefix) <= len(self.ids) and self.ids[: len(prefix)] == prefix
