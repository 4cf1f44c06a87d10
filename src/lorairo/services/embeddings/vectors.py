"""Numpy maths over L2-normalised embeddings: exact top-k, k-nearest-neighbour scores, near-duplicate pairs
and k-means (k-center greedy, the diverse subset: diversity.py). Cosine similarity is the dot product (rows are
unit length).

Everything works in float32 blocks so a float16 memmap is converted a block at a time, never all at once,
unless the caller already holds a float32 matrix (`as_float32`, for repeated queries on one index).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

P = ParamSpec("P")
R = TypeVar("R")
BLOCK = 65536  # rows converted / multiplied at a time: ~128 MiB of float32 at 512-d


def single_threaded_blas(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` with one BLAS thread. Its products are tall and thin (n x d by d x k, k small) or
    matrix-vector: OpenBLAS threads them badly, and on a busy machine its spinning threads made k-means of 100k
    take 3-10 s instead of 0.6 s single-threaded (bench/curation.py). threadpoolctl is the maintained way to
    scope that (scikit-learn uses it for the same reason)."""

    @wraps(func)
    def inner(*args: P.args, **kwargs: P.kwargs) -> R:
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return inner


def as_float32(vectors: np.ndarray) -> np.ndarray:
    """A float32 copy built block by block (bounded temporary memory for a float16 memmap)."""
    out = np.empty(vectors.shape, dtype=np.float32)
    for start in range(0, len(vectors), BLOCK):
        out[start : start + BLOCK] = vectors[start : start + BLOCK]
    return out


def scores(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row to `query` (float32 [n])."""
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if vectors.dtype == np.float32:
        return np.asarray(vectors @ q, dtype=np.float32)
    out = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), BLOCK):
        out[start : start + BLOCK] = np.asarray(vectors[start : start + BLOCK], dtype=np.float32) @ q
    return out


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first (ties: lower index first)."""
    k = min(k, len(values))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < len(values):
        # argpartition splits ties at the k-th value arbitrarily: keep everything above it, then the lowest
        # indices among the equal ones (identical images tie exactly).
        kth = -np.partition(-values, k - 1)[k - 1]
        above = np.nonzero(values > kth)[0]
        part = np.concatenate([above, np.nonzero(values == kth)[0][: k - len(above)]])
    else:
        part = np.arange(len(values))
    order = np.lexsort((part, -values[part]))
    return np.asarray(part[order], dtype=np.int64)


def knn_similarities(vectors: np.ndarray, k: int) -> np.ndarray:
    """For each row, the similarities to its k nearest other rows, highest first (float32 [n, k])."""
    data = vectors if vectors.dtype == np.float32 else as_float32(vectors)
    n = len(data)
    k = min(k, n - 1)
    out = np.empty((n, max(k, 0)), dtype=np.float32)
    if k <= 0:
        return out
    block = max(1, min(2048, 2**26 // max(n, 1)))
    for start in range(0, n, block):
        sims = data[start : start + block] @ data.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf  # not its own neighbour
        part = np.partition(sims, n - k, axis=1)[:, n - k :]
        out[start : start + block] = -np.sort(-part, axis=1)
    return out


def similar_pairs(vectors: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """Row pairs (i < j) whose cosine similarity is at least `threshold`."""
    data = vectors if vectors.dtype == np.float32 else as_float32(vectors)
    n = len(data)
    pairs: list[tuple[int, int, float]] = []
    block = max(1, min(2048, 2**26 // max(n, 1)))
    for start in range(0, n, block):
        sims = data[start : start + block] @ data.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if i < c:
                pairs.append((i, c, float(sims[r, c])))
    return pairs


@single_threaded_blas
def kmeans(
    vectors: np.ndarray, k: int, *, iterations: int = 25, seed: int = 0, sample: int = 30_000
) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means (cosine): (labels [n], unit centroids [k, d]).

    k-means++ seeding and Lloyd iterations run on a random sample of at most `sample` rows (centroids of 30k
    images are as good a summary as those of all of them, at a fraction of the passes over memory); every row is
    then assigned to its nearest centroid once.
    """
    full = vectors if vectors.dtype == np.float32 else as_float32(vectors)
    rng = np.random.default_rng(seed)
    data = full if len(full) <= sample else full[np.sort(rng.choice(len(full), sample, replace=False))]
    n = len(data)
    k = max(1, min(k, n))
    pool = data
    centroids = np.empty((k, data.shape[1]), dtype=np.float32)
    centroids[0] = pool[rng.integers(len(pool))]
    closest = 1.0 - pool @ centroids[0]
    for c in range(1, k):
        weights = np.clip(closest, 0, None) ** 2
        total = float(weights.sum())
        index = int(rng.choice(len(pool), p=weights / total)) if total > 0 else int(rng.integers(len(pool)))
        centroids[c] = pool[index]
        np.minimum(closest, 1.0 - pool @ centroids[c], out=closest)
    labels = np.zeros(n, dtype=np.int64)
    for step in range(iterations):
        new_labels = np.empty(n, dtype=np.int64)
        for start in range(0, n, BLOCK):
            new_labels[start : start + BLOCK] = np.argmax(data[start : start + BLOCK] @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        for start in range(0, n, BLOCK):  # one-hot @ data: a BLAS product, unlike np.add.at
            part = new_labels[start : start + BLOCK]
            onehot = np.zeros((len(part), k), dtype=np.float32)
            onehot[np.arange(len(part)), part] = 1.0
            sums += onehot.T @ data[start : start + BLOCK]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        empty = norms[:, 0] == 0
        centroids = np.where(empty[:, None], centroids, sums / np.where(norms == 0, 1, norms))
        if np.array_equal(new_labels, labels) and step > 0:
            break
        labels = new_labels
    if data is not full:
        labels = np.empty(len(full), dtype=np.int64)
        for start in range(0, len(full), BLOCK):
            labels[start : start + BLOCK] = np.argmax(full[start : start + BLOCK] @ centroids.T, axis=1)
    return labels, centroids
