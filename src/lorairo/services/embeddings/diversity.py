"""Farthest-point sampling (k-center greedy) over L2-normalised embeddings: the diverse subset.

The plain algorithm keeps, for every row, its cosine distance to the nearest chosen row, and each step picks the
row with the largest (distance x weight), then lowers every distance with one matrix-vector product. That reads
the whole float32 matrix once per pick: 300 picks of 100k x 512 moved 60 GB through memory and took 5-14 s on the
two-core development machine (docs/benchmarks.md, "Curation with embeddings").

This module picks exactly the same rows (same values, same ties: the lowest row index wins), lazily:

- Distances only ever fall, so a distance computed earlier is an upper bound of the current one. Every so often
  ("a sync") the distances to all chosen rows are brought up to date in one pass, with the rows chosen since the
  last sync as the columns of one matrix-matrix product (a few columns cost little more than one: the pass is
  memory-bound), and the rows are sorted by their value (distance x weight), highest first.
- Between syncs a step only looks at the head of that order: the rows are brought up to date (against the rows
  chosen since the sync) in sorted order, in doubling chunks, until the best current value among them is higher
  than the stale value of the next row. No row further down can beat it, since its current value is at most its
  stale one. Early on a new centre moves many rows and syncs come every few picks; later a pick moves few rows
  and the head stays short, so syncs come rarely (6 syncs for 300 picks of 100k in bench/curation.py).
- When the head would grow past `head_limit` rows, a sync is cheaper: it happens instead. Right after a sync the
  stale values are the current ones and the head of the order is the answer, so every step ends.

Rounding: a dot product from the matrix-matrix kernel can differ in its last bit from the matrix-vector one, so
on real data two rows within ~1e-7 of each other could swap places against the plain version; the test suite
compares both on exactly representable vectors (where every kernel gives the same values) and on random ones.
"""

from __future__ import annotations

import numpy as np

from lorairo.services.embeddings.vectors import as_float32, single_threaded_blas

FIRST_CHUNK = 256  # head rows brought up to date at first; doubled while they do not decide the step
SYNC_BLOCK = 8192  # rows per block of a sync's matrix product (keeps the product's output in cache)


def _head_limit(n: int) -> int:
    """Head rows beyond which a full sync is cheaper (a sync reads all n rows once)."""
    return max(4096, n // 16)


class _LazyDistances:
    """Distances to the chosen rows, current as of the last sync, plus the head of the sorted order kept current."""

    def __init__(self, data: np.ndarray, weights: np.ndarray, head_limit: int, first_chunk: int) -> None:
        n, dim = data.shape
        self.data = data
        self.weights = weights
        self.head_limit = min(n, head_limit)
        self.first_chunk = first_chunk
        self.distance = np.full(n, np.inf, dtype=np.float32)  # as of the last sync
        self.chosen = np.zeros(n, dtype=bool)
        self.pending: list[int] = []  # chosen since the last sync
        self.order = np.arange(n)
        self.stale = np.full(n, np.inf, dtype=np.float32)  # value (distance x weight) in `order`, at the sync
        self.head = 0  # rows of `order` brought up to date since the sync
        self.head_rows = np.empty((self.head_limit, dim), dtype=np.float32)
        self.head_distance = np.empty(self.head_limit, dtype=np.float32)
        self.head_weight = np.empty(self.head_limit, dtype=np.float32)

    def choose(self, row: int) -> None:
        self.chosen[row] = True
        self.pending.append(row)
        if self.head:  # the head stays current: lower it by the new centre (the chosen row is in it)
            distance = self.head_distance[: self.head]
            np.minimum(distance, 1.0 - self.head_rows[: self.head] @ self.data[row], out=distance)
            distance[self.order[: self.head] == row] = -np.inf

    def sync(self) -> None:
        """Lower every distance by the rows chosen since the last sync (one pass) and sort by value."""
        if self.pending:
            centres = np.ascontiguousarray(self.data[self.pending].T)
            for start in range(0, len(self.data), SYNC_BLOCK):
                stop = start + SYNC_BLOCK
                nearest = (self.data[start:stop] @ centres).max(axis=1)
                # 1 - max(dot) == min(1 - dot) exactly: rounding of 1 - x is monotone in x.
                np.minimum(self.distance[start:stop], 1.0 - nearest, out=self.distance[start:stop])
            self.pending.clear()
        self.distance[self.chosen] = -np.inf
        value = self.distance * self.weights
        self.order = np.argsort(-value, kind="stable")  # highest first, ties by lowest row
        self.stale = value[self.order]
        self.head = 0

    def _extend(self, grow: int) -> None:
        start, stop = self.head, self.head + grow
        rows = self.order[start:stop]
        block = self.head_rows[start:stop]
        np.take(self.data, rows, axis=0, out=block)
        distance = self.distance[rows]
        if self.pending:
            nearest = (block @ self.data[self.pending].T).max(axis=1)
            np.minimum(distance, 1.0 - nearest, out=distance)
        distance[self.chosen[rows]] = -np.inf
        self.head_distance[start:stop] = distance
        self.head_weight[start:stop] = self.weights[rows]
        self.head = stop

    def farthest(self) -> int:
        """The row with the largest current value (lowest row index among equals)."""
        n = len(self.data)
        while True:
            if not self.pending:  # just synced: stale values are current and sorted
                return int(self.order[0])
            if self.head:
                value = self.head_distance[: self.head] * self.head_weight[: self.head]
                best = value.max()
                if self.head == n or best > self.stale[self.head]:
                    ties = np.flatnonzero(value == best)
                    return int(self.order[ties].min())
            grow = min(max(self.first_chunk, self.head), n - self.head)
            if self.head + grow > self.head_limit:
                self.sync()
            else:
                self._extend(grow)


@single_threaded_blas
def k_center_greedy(
    vectors: np.ndarray,
    count: int,
    weights: np.ndarray | None = None,
    *,
    head_limit: int | None = None,
    first_chunk: int = FIRST_CHUNK,
) -> list[int]:
    """Farthest-point sampling: `count` row indices in pick order, each the row farthest (cosine distance, times
    its weight) from everything chosen so far; ties go to the lowest row. Starts from the row nearest the mean (a
    typical image, not an outlier). `weights` must be positive (a higher weight favours a row).

    `head_limit` and `first_chunk` tune the lazy evaluation (module docstring); they never change the result."""
    data = np.ascontiguousarray(vectors, dtype=np.float32) if vectors.dtype == np.float32 else as_float32(vectors)
    n = len(data)
    count = min(count, n)
    if count <= 0:
        return []
    if weights is None:
        w = np.ones(n, dtype=np.float32)
    else:
        w = np.asarray(weights, dtype=np.float32).reshape(-1)
        if len(w) != n or not bool(np.all(np.isfinite(w) & (w > 0))):
            raise ValueError(f"weights must be {n} positive finite numbers, one per row")
    first = int(np.argmax(data @ data.mean(axis=0)))
    state = _LazyDistances(data, w, _head_limit(n) if head_limit is None else max(1, head_limit), max(1, first_chunk))
    chosen = [first]
    state.choose(first)
    state.sync()
    while len(chosen) < count:
        pick = state.farthest()
        chosen.append(pick)
        state.choose(pick)
    return chosen
