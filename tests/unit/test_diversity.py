"""The diverse subset (k-center greedy, services/embeddings/diversity.py): its lazy evaluation picks exactly what
the plain algorithm (one full pass over every row per pick) picks, ties included, with and without weights."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lorairo.services.embeddings.diversity import k_center_greedy


def plain_k_center(data: np.ndarray, count: int, weights: np.ndarray | None = None) -> list[int]:
    """The textbook version: every pick lowers every row's distance to its nearest chosen row, then takes the row
    with the largest distance x weight, the lowest row on ties. Float64 (exact for the dyadic test vectors). The
    first row is the one nearest the mean, as the implementation computes it."""
    n = len(data)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    first = int(np.argmax(data @ data.mean(axis=0)))
    chosen = [first]
    distance = np.full(n, np.inf)
    x = data.astype(np.float64)
    for _ in range(min(count, n)):
        distance = np.minimum(distance, 1.0 - x @ x[chosen[-1]])
        if len(chosen) == min(count, n):
            break
        value = np.where(np.isin(np.arange(n), chosen), -np.inf, distance * w)
        chosen.append(int(np.argmax(value)))
    return chosen


# Vectors of multiples of 1/4 in [-1, 1] and weights of multiples of 1/4: every dot product, distance and
# weighted value is exact in float32 whatever the order of summation, so any kernel gives the same values and the
# same ties (many: duplicate rows, equal distances), and the selections must be identical.
dyadic = st.integers(1, 80).flatmap(
    lambda n: st.tuples(
        arrays(np.float32, (n, 6), elements=st.integers(-4, 4).map(lambda v: v / 4)),
        st.one_of(st.none(), arrays(np.float32, n, elements=st.integers(2, 6).map(lambda v: v / 4))),
    )
)


@settings(max_examples=200, deadline=None)
@given(dyadic, st.integers(1, 90), st.sampled_from([None, 1, 3, 16]), st.sampled_from([1, 2, 256]))
def test_lazy_selection_equals_the_plain_algorithm(
    case: tuple[np.ndarray, np.ndarray | None], count: int, head_limit: int | None, first_chunk: int
) -> None:
    data, weights = case
    got = k_center_greedy(data, count, weights, head_limit=head_limit, first_chunk=first_chunk)
    assert got == plain_k_center(data, count, weights)
    assert len(set(got)) == len(got)  # never the same row twice, even among duplicates


def test_same_selection_as_the_plain_algorithm_on_clustered_unit_vectors() -> None:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((40, 32))
    data = centres[rng.integers(0, 40, 3000)] + 0.6 * rng.standard_normal((3000, 32))
    data = (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)
    weights = rng.uniform(0.5, 1.5, 3000).astype(np.float32)  # what --weight-by gives (0.5 .. 1.5)
    for w in (None, weights):
        expected = plain_k_center(data, 120, w)
        assert k_center_greedy(data, 120, w) == expected
        assert k_center_greedy(data, 120, w, head_limit=300, first_chunk=16) == expected  # many syncs


def test_planted_clusters_give_one_pick_each() -> None:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((8, 64))
    data = centres[np.arange(4000) % 8] + 0.3 * rng.standard_normal((4000, 64))
    data = (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)
    chosen = k_center_greedy(data, 8)
    assert sorted(i % 8 for i in chosen) == list(range(8))


def test_a_heavier_weight_wins_between_equally_far_rows() -> None:
    data = np.asarray([[1, 0], [0, 1], [0, -1]], dtype=np.float32)  # rows 1 and 2 equally far from row 0
    assert k_center_greedy(data, 2) == [0, 1]  # tie: the lower row
    assert k_center_greedy(data, 2, np.asarray([1, 1, 1.5], dtype=np.float32)) == [0, 2]


def test_float16_rows_and_edge_counts() -> None:
    data = np.eye(4, dtype=np.float16)
    assert sorted(k_center_greedy(data, 10)) == [0, 1, 2, 3]  # at most every row
    assert k_center_greedy(data, 0) == []


@pytest.mark.parametrize("weights", [[1, 1, 0], [1, -1, 1], [1, float("nan"), 1], [1, 1]])
def test_bad_weights_are_refused(weights: list[float]) -> None:
    with pytest.raises(ValueError, match="positive finite"):
        k_center_greedy(np.eye(3, dtype=np.float32), 2, np.asarray(weights, dtype=np.float32))
