"""Nearest-neighbour search over one embeddings store: exact numpy up to `EXACT_LIMIT` rows, a faiss IVF index above.

Measured in bench/curation.py (docs/benchmarks.md): an exact float32 matrix-vector product answers a query over
100k 512-d vectors well inside 50 ms, but at 1M it takes ~0.4 s (float32 in RAM, 2 GiB) to ~2.5 s (float16 memmap
converted in blocks): too slow. faiss's IVF index with float16 scalar quantisation (1024 lists, 16 probed) answers
in ~10 ms at 1M with recall@50 ~0.99 on clustered vectors, keeps the float16 size (~1 GiB at 1M x 512), is built
once (about two minutes for 1M on two cores) and extended incrementally with the rows appended since. It is
persisted beside the store (`<key>.g<N>.ivf` + `.ivf.json`, the number of rows it holds) and dropped with its
generation when the store is compacted. faiss is imported only when a store is that large.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from lorairo.services.embeddings import vectors as vec
from lorairo.storage.embeddings import EmbeddingStore, Snapshot

EXACT_LIMIT = 200_000  # rows; above this the IVF index answers queries
IVF_LISTS = 1024
IVF_PROBE = 16
TRAIN_PER_LIST = 40
Progress = Callable[[str], None]


def _faiss() -> Any:
    import faiss

    return faiss


def _ivf_files(store: EmbeddingStore, generation: int) -> tuple[Path, Path]:
    return store.side_file(generation, "ivf"), store.side_file(generation, "ivf.json")


def build_ivf(store: EmbeddingStore, *, progress: Progress | None = None) -> Any:
    """Load the store's IVF index, adding rows appended since it was saved, or build it; saves it. Returns it."""
    faiss = _faiss()
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


class VectorIndex:
    """Top-k by cosine over a snapshot of one store, restricted to live images and optional candidates."""

    def __init__(self, store: EmbeddingStore, snapshot: Snapshot, live_ids: np.ndarray) -> None:
        self.store = store
        self.snapshot = snapshot
        self.live = np.asarray(live_ids, dtype=np.int64)  # ascending
        self._ivf: Any = None

    @property
    def exact(self) -> bool:
        return len(self.snapshot) <= EXACT_LIMIT

    def search(self, query: np.ndarray, k: int, candidates: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k best (id, cosine) among live images (and `candidates` when given), best first."""
        wanted = self.live if candidates is None else np.intersect1d(self.live, candidates)
        if self.exact or len(wanted) <= EXACT_LIMIT:
            rows, ids = self.snapshot.rows_of(wanted)
            values = vec.scores(self.snapshot.vectors[rows], query) if len(rows) else np.zeros(0, np.float32)
            best = vec.top_k(values, k)
            return [(int(ids[i]), float(values[i])) for i in best]
        if self._ivf is None:
            self._ivf = build_ivf(self.store)
        faiss = _faiss()
        params = faiss.SearchParametersIVF(sel=faiss.IDSelectorBatch(wanted), nprobe=IVF_PROBE)
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        found: dict[int, float] = {}
        distances, labels = self._ivf.search(q, k * 2 + 8, params=params)  # extra: an id may hold superseded rows
        for label, value in zip(labels[0].tolist(), distances[0].tolist(), strict=True):
            if label >= 0 and label not in found:
                found[int(label)] = float(value)
        ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:k]
