"""Nearest-neighbour search over one embeddings store: exact numpy up to `EXACT_LIMIT` rows, a faiss IVF index above.

Measured in bench/curation.py (docs/benchmarks.md): an exact float32 matrix-vector product over 100k 512-d
vectors takes 20-45 ms p95 on a busy two-core machine (close to the 50 ms target) and at 1M ~0.4 s (float32 in
RAM, 2 GiB) to ~2.5 s (float16 memmap converted in blocks): too slow. So up to 50k rows queries are exact (a
float32 copy in RAM, ~100 MiB at 512-d); above, faiss's IVF index with float16 scalar quantisation (1024 lists,
16 probed) answers in a few ms with recall@50 ~0.98 on clustered vectors, keeps the float16 size (~1 GiB at
1M x 512), is built once (minutes for 1M on two cores, at the end of `lorairo embed`) and extended incrementally
with the rows appended since. It is persisted beside the store (`<key>.g<N>.ivf` + `.ivf.json`, the number of
rows it holds) and dropped with its generation when the store is compacted. faiss is imported only when a store
is that large. Alternatives: exact numpy (above), faiss flat float16 (exact, ~0.5 s at 1M), hnswlib (float32
only: 2 GiB at 1M plus the graph, and a graph build far slower than IVF training on two cores), usearch (not
on the package index this project installs from).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from lorairo.services.embeddings import vectors as vec
from lorairo.storage.embeddings import EmbeddingStore, Snapshot

EXACT_LIMIT = 50_000  # rows; above this the IVF index answers queries (exact: ~200 MiB float32 in RAM at most)
IVF_LISTS = 1024
IVF_PROBE = 16  # lists probed at 1M rows (~16k vectors scanned)
SCAN_TARGET = 16_384  # vectors a query scans: smaller indexes probe more of their (smaller) lists
TRAIN_PER_LIST = 40
Progress = Callable[[str], None]


def _faiss() -> Any:
    import faiss

    # One query is too small to share between threads, and faiss's idle OpenMP threads keep spinning on the cores
    # numpy's BLAS needs next (k-means after a search ran 10x slower in bench/curation.py). Builds use every core.
    faiss.omp_set_num_threads(1)
    return faiss


def _ivf_files(store: EmbeddingStore, generation: int) -> tuple[Path, Path]:
    return store.side_file(generation, "ivf"), store.side_file(generation, "ivf.json")


def build_ivf(store: EmbeddingStore, *, progress: Progress | None = None) -> Any:
    """Load the store's IVF index, adding rows appended since it was saved, or build it; saves it. Returns it."""
    faiss = _faiss()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        return _build_ivf(faiss, store, progress)
    finally:
        faiss.omp_set_num_threads(1)


def _build_ivf(faiss: Any, store: EmbeddingStore, progress: Progress | None) -> Any:
    generation, ids, rows = store.raw()
    index_path, meta_path = _ivf_files(store, generation)
    index = None
    done = 0
    if index_path.is_file() and meta_path.is_file():
        try:
            done = int(json.loads(meta_path.read_text(encoding="utf-8"))["rows"])
            index = faiss.read_index(str(index_path))
            if index.d != store.dim or done > len(ids):
                index, done = None, 0
        except Exception as exc:  # a damaged index is rebuilt from the store, which is the source of truth
            logger.warning("search index {} unreadable, rebuilding: {}", index_path, exc)
            index, done = None, 0
    if index is None:
        lists = max(1, min(IVF_LISTS, len(ids) // TRAIN_PER_LIST))
        quantizer = faiss.IndexFlatIP(store.dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, store.dim, lists, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(len(ids), min(len(ids), lists * TRAIN_PER_LIST), replace=False))
        if progress:
            progress(f"training the search index on {len(sample)} vectors")
        index.train(vec.as_float32(rows[sample]))
    if done < len(ids):
        for start in range(done, len(ids), vec.BLOCK):
            stop = min(start + vec.BLOCK, len(ids))
            index.add_with_ids(vec.as_float32(rows[start:stop]), ids[start:stop])
            if progress:
                progress(f"indexed {stop} of {len(ids)} vectors")
        tmp = index_path.with_suffix(".ivf.tmp")
        faiss.write_index(index, str(tmp))
        tmp.replace(index_path)
        meta_path.write_text(json.dumps({"rows": len(ids), "lists": int(index.nlist)}), encoding="utf-8")
    index.nprobe = IVF_PROBE
    return index


def probes(total: int, lists: int) -> int:
    """Lists to probe so a query scans about SCAN_TARGET vectors (at least IVF_PROBE // 2, at most all lists)."""
    per_list = max(1.0, total / max(lists, 1))
    return int(min(lists, max(IVF_PROBE // 2, round(SCAN_TARGET / per_list))))


class VectorIndex:
    """Top-k by cosine over a snapshot of one store, restricted to live images and optional candidates."""

    def __init__(self, store: EmbeddingStore, snapshot: Snapshot, live_ids: np.ndarray) -> None:
        self.store = store
        self.snapshot = snapshot
        self.live = np.asarray(live_ids, dtype=np.int64)  # ascending
        self._ivf: Any = None
        self._data: np.ndarray | None = None  # float32 rows for the exact path, converted once

    def _float32(self) -> np.ndarray:
        if self._data is None:
            self._data = vec.as_float32(self.snapshot.vectors)
        return self._data

    @property
    def exact(self) -> bool:
        return len(self.snapshot) <= EXACT_LIMIT

    def search(self, query: np.ndarray, k: int, candidates: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k best (id, cosine) among live images (and `candidates` when given), best first."""
        wanted = self.live if candidates is None else np.intersect1d(self.live, candidates)
        if self.exact and len(wanted) == len(self.snapshot):  # every stored row: no gather
            values = vec.scores(self._float32(), query)
            return [(int(self.snapshot.ids[i]), float(values[i])) for i in vec.top_k(values, k)]
        if self.exact or len(wanted) <= EXACT_LIMIT:
            rows, ids = self.snapshot.rows_of(wanted)
            source = self._float32() if self.exact else self.snapshot.vectors  # a few rows of a large memmap
            values = vec.scores(source[rows], query) if len(rows) else np.zeros(0, np.float32)
            return [(int(ids[i]), float(values[i])) for i in vec.top_k(values, k)]
        if self._ivf is None:
            self._ivf = build_ivf(self.store)
        faiss = _faiss()
        nprobe = probes(int(self._ivf.ntotal), int(self._ivf.nlist))
        if len(wanted) == len(self.snapshot):  # every stored image: no selector (building one costs per query)
            params = faiss.SearchParametersIVF(nprobe=nprobe)
        else:
            params = faiss.SearchParametersIVF(sel=faiss.IDSelectorBatch(wanted), nprobe=nprobe)
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        found: dict[int, float] = {}
        distances, labels = self._ivf.search(q, k * 2 + 8, params=params)  # extra: an id may hold superseded rows
        for label, value in zip(labels[0].tolist(), distances[0].tolist(), strict=True):
            if label >= 0 and label not in found:
                found[int(label)] = float(value)
        ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:k]
