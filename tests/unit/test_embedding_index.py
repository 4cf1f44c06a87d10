"""The embeddings store and its search: float16 rows on disk, exact numpy search, the faiss IVF index used above
EXACT_LIMIT (persisted, extended incrementally, rebuilt when damaged), and the vector maths against plain references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lorairo.services.embeddings import index as index_module
from lorairo.services.embeddings import vectors as vec
from lorairo.services.embeddings.diversity import k_center_greedy
from lorairo.services.embeddings.index import VectorIndex, build_ivf
from lorairo.storage.embeddings import CorruptStoreError, EmbeddingStore


def clustered(n: int, dim: int, clusters: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    data = centres[rng.integers(0, clusters, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def make_store(root: Path, data: np.ndarray, first_id: int = 1) -> EmbeddingStore:
    store = EmbeddingStore(root, "m", data.shape[1])
    store.append(list(range(first_id, first_id + len(data))), data)
    return store


def exact_top(data: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    values = data.astype(np.float16).astype(np.float32) @ query
    return [int(ids[i]) for i in np.argsort(-values, kind="stable")[:k]]


def test_store_round_trips_as_float16_and_keeps_the_newest_row_of_an_id(tmp_path: Path) -> None:
    data = clustered(10, 8, 2)
    store = make_store(tmp_path, data)
    store.append([3], -data[2:3])  # re-embedded image 3
    snap = store.snapshot()
    assert snap.ids.tolist() == list(range(1, 11))
    np.testing.assert_allclose(np.asarray(snap.vectors[2], np.float32), -data[2], atol=1e-3)
    assert store.compact(set(range(1, 10))) == 2  # image 10 deleted + the superseded row of 3
    assert store.snapshot().ids.tolist() == list(range(1, 10))
    with pytest.raises(ValueError, match="non-finite"):
        store.append([99], np.full((1, 8), np.nan))
    with pytest.raises(ValueError, match="rows of 8"):
        store.append([99], np.zeros((1, 4)))


def test_unreadable_index_json_is_reported_and_discard_touches_only_that_store(tmp_path: Path) -> None:
    store = make_store(tmp_path, clustered(5, 8, 1))
    other = EmbeddingStore(tmp_path, "other", 8)
    other.append([1], clustered(1, 8, 1))
    store.meta_path.write_text("{not json", encoding="utf-8")
    assert EmbeddingStore.stores_of(tmp_path, "m")[0].key == store.key  # reported first, never skipped
    with pytest.raises(CorruptStoreError, match="cannot be read"):
        store.snapshot()
    store.discard()
    assert not list(tmp_path.glob("embeddings/m-*")) and len(other.snapshot()) == 1


def test_ivf_search_agrees_with_exact_and_respects_candidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "EXACT_LIMIT", 500)
    data = clustered(6000, 32, 40)
    store = make_store(tmp_path, data)
    snap = store.snapshot()
    index = VectorIndex(store, snap, snap.ids)
    assert not index.exact
    rng = np.random.default_rng(1)
    recalls = []
    for q in data[rng.integers(0, len(data), 20)]:
        got = [i for i, _ in index.search(q, 10)]
        recalls.append(len(set(got) & set(exact_top(data, snap.ids, q, 10))) / 10)
    assert np.mean(recalls) >= 0.9
    candidates = np.arange(1000, 3000, dtype=np.int64)  # more than EXACT_LIMIT: the IVF path with a selector
    got = index.search(data[5], 10, candidates)
    assert got and all(1000 <= i < 3000 for i, _ in got)
    assert (tmp_path / "embeddings" / f"{store.key}.g0.ivf").is_file()


def test_ivf_is_extended_with_appended_rows_and_rebuilt_when_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "EXACT_LIMIT", 500)
    data = clustered(3000, 16, 20)
    store = make_store(tmp_path, data)
    first = build_ivf(store)
    assert first.ntotal == 3000
    planted = -data[0:1]  # far from everything else
    store.append([99999], planted)
    again = build_ivf(store)
    assert again.ntotal == 3001
    snap = store.snapshot()
    assert VectorIndex(store, snap, snap.ids).search(planted[0], 1)[0][0] == 99999
    ivf = tmp_path / "embeddings" / f"{store.key}.g0.ivf"
    ivf.write_bytes(b"garbage")
    assert build_ivf(store).ntotal == 3001


@given(st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=1, max_size=40), st.integers(0, 45))
def test_top_k_matches_a_full_sort(values: list[float], k: int) -> None:
    array = np.asarray(values, dtype=np.float32)
    reference = sorted(range(len(values)), key=lambda i: (-array[i], i))[:k]
    assert vec.top_k(array, k).tolist() == reference


def test_knn_and_pairs_match_brute_force() -> None:
    data = clustered(50, 8, 3, seed=2)
    sims = data @ data.T
    np.fill_diagonal(sims, -np.inf)
    expected = -np.sort(-sims, axis=1)[:, :4]
    np.testing.assert_allclose(vec.knn_similarities(data, 4), expected, rtol=1e-5)
    pairs = {(i, j) for i, j, _ in vec.similar_pairs(data, 0.9)}
    assert pairs == {(i, j) for i in range(50) for j in range(i + 1, 50) if sims[i, j] >= 0.9}


def test_k_center_greedy_covers_planted_clusters() -> None:
    data = clustered(300, 16, 6, seed=3)
    centres = np.random.default_rng(3).standard_normal((6, 16)).astype(np.float32)  # what clustered() drew
    chosen = k_center_greedy(data, 6)
    nearest = {int(np.argmax(centres @ data[i])) for i in chosen}
    assert nearest == set(range(6))


@given(
    st.lists(st.integers(1, 60), min_size=1, max_size=30),
    st.lists(st.integers(0, 70), min_size=0, max_size=30),
)
def test_snapshot_rows_of_matches_a_dict_lookup(stored: list[int], wanted: list[int]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddingStore(Path(tmp), "m", 2)
        store.append(stored, np.asarray([[i, -i] for i in stored], dtype=np.float32))  # a row names its id
        snap = store.snapshot()  # repeated ids: the newest row wins, and every row of an id is the same here
        rows_found, ids_found = snap.rows_of(np.asarray(wanted, dtype=np.int64))
        expected = [i for i in wanted if i in set(stored)]
        assert ids_found.tolist() == expected
        assert [int(snap.vectors[r][0]) for r in rows_found] == expected
