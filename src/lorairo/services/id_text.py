"""Comma-joined integer text (SQLite's group_concat) -> numpy int64 arrays.

SQLite joins ids into one text and numpy parses it: about a third of the CPU time of a cursor row per id
(docs/benchmarks.md, "Scale"). Used by the grid's id lists and the in-memory tag and image indexes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: Characters of id text parsed per numpy call: ~70k ids, a few ms. np.fromstring holds the GIL for its whole
#: call: 60-70 ms for the 1M ids of a project's whole list, during which the desktop app's GUI thread could run no
#: Python (part of the opening stall at 1M images); between pieces the interpreter hands the GIL over.
ID_TEXT_CHUNK = 1 << 19


def parse_id_text(text: str | None, chunk: int = ID_TEXT_CHUNK) -> np.ndarray:
    """Comma-separated integers -> int64 array, parsed in pieces of about `chunk` characters (empty for None or
    "", what group_concat returns over no rows)."""
    import numpy as np

    if not text:
        return np.empty(0, dtype=np.int64)

    parts: list[np.ndarray] = []
    start, end_of_text = 0, len(text)
    while start < end_of_text:
        end = text.find(",", start + chunk) if start + chunk < end_of_text else -1
        end = end_of_text if end == -1 else end
        parts.append(np.fromstring(text[start:end], dtype=np.int64, sep=","))
        start = end + 1
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def sorted_distinct(ids: np.ndarray) -> np.ndarray:
    """`ids` sorted with duplicates dropped, like `np.unique`, without holding the GIL for long: numpy 2's
    `np.unique` of integers is a hash-based C loop that holds it (128-154 ms over 1M ids blocked the GUI thread
    after Ctrl+A at 1M images, docs/benchmarks.md "Ctrl+A at 1M"); `np.sort` and the comparison release it."""
    import numpy as np

    ordered = np.asarray(ids, dtype=np.int64)
    if ordered.size > 1 and bool(np.any(ordered[1:] < ordered[:-1])):  # often already in order (an index's)
        ordered = np.sort(ordered)
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered if keep.all() else ordered[keep]
