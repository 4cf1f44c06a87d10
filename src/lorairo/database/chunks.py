"""Long ID lists go into `IN (...)` queries in slices: SQLite allows 999 bound parameters per statement."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

SQL_CHUNK = 900


def chunked(values: Sequence[T], size: int = SQL_CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of `values`, each at most `size` long."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
