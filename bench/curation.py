"""Curation with embeddings at scale, on synthetic 512-d vectors stored exactly as `lorairo embed` stores them.

    uv run python bench/curation.py                       # 100k and 1M
    uv run python bench/curation.py --sizes 100000 --queries 100

For each size: find-similar (query = a stored image) and text-search (query = a vector that is no stored row, as a
text embedding is) p95 latency through `VectorIndex` (what `lorairo similar` runs), against the exact numpy
reference in the same run (float32 matrix in RAM), and recall@50 of the answer against that reference. Then the
diverse subset (k-center greedy, 300 of 100k and of 1M, unweighted and weighted; at 100k against the plain
one-pass-per-pick loop in the same run, with the same picks checked) and k-means (k=8 and k=100, 100k). The
text tower's own encoding time is not included (one forward pass of the text tower, independent of the dataset).

Vectors are drawn around 2000 random centres (real image embeddings are clustered; uniform random vectors would
be the worst case for an IVF index and nothing like a dataset); text queries around the same centres with twice
the spread, so they match no image closely, as a text embedding does not. Everything happens in a temporary
folder (the 1M store is 1 GiB on disk). Prints the machine load, since the figures depend on it.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lorairo.services.embeddings import vectors as vec
from lorairo.services.embeddings.diversity import k_center_greedy
from lorairo.services.embeddings.index import EXACT_LIMIT, VectorIndex, build_ivf
from lorairo.storage.embeddings import EmbeddingStore

DIM = 512


def synthetic(n: int, seed: int = 0, centres: int = 2000, noise: float = 0.7) -> np.ndarray:
    """Unit vectors around `centres` random centres (the same centres for every call; `seed` draws the points)."""
    middle = np.random.default_rng(0).standard_normal((centres, DIM), dtype=np.float32)
    rng = np.random.default_rng(seed + 1)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 65536):
        stop = min(n, start + 65536)
        block = middle[rng.integers(0, centres, stop - start)] + noise * rng.standard_normal(
            (stop - start, DIM), dtype=np.float32
        )
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def p95_ms(samples: list[float]) -> float:
    return float(np.percentile(samples, 95) * 1000)


def bench_size(root: Path, n: int, queries: int) -> None:
    print(f"\n== {n:,} vectors x {DIM}-d ==", flush=True)
    data = synthetic(n)
    store = EmbeddingStore(root / f"p{n}", "bench-clip", DIM)
    if store.exists() and store.check()[0] == n:  # --workdir from an earlier run: same vectors (fixed seeds)
        print("store and index reused from the work folder")
    else:
        store.discard()
        t = time.perf_counter()
        for start in range(0, n, 100_000):
            store.append(list(range(start + 1, min(n, start + 100_000) + 1)), data[start : start + 100_000])
        took = time.perf_counter() - t
        print(f"store append: {took:.1f} s, {store.raw()[2].nbytes / 2**20:.0f} MiB float16 on disk")
    snap = store.snapshot()
    index = VectorIndex(store, snap, snap.ids)
    if not index.exact:
        t = time.perf_counter()
        built = build_ivf(store)  # loads it when the work folder already has it
        lists = built.nlist
        del built
        gc.collect()
        size = store.side_file(0, "ivf").stat().st_size
        print(
            f"IVF index (faiss, {lists} lists, fp16): built in {time.perf_counter() - t:.1f} s, {size / 2**20:.0f} MiB"
        )
    rss_before = psutil.Process().memory_info().rss
    index.search(data[0], 50)  # loads the IVF index, or converts the rows to float32 for exact search
    print(f"memory of the loaded index: {(psutil.Process().memory_info().rss - rss_before) / 2**20:.0f} MiB RSS")
    rng = np.random.default_rng(1)
    picks = rng.integers(0, n, queries)
    # Text queries: no stored row, farther from their cluster than any image of it (CLIP's text and image
    # embeddings sit apart: matching pairs score ~0.3), but still pointing at it.
    texts = synthetic(queries, seed=2, noise=1.4)
    reference = data.astype(np.float16).astype(np.float32)  # what the store holds, as float32 in RAM
    for label, qs in (("find-similar", data[picks]), ("text-search", texts)):
        engine: list[float] = []
        exact: list[float] = []
        recall: list[float] = []
        for q in qs:
            t = time.perf_counter()
            got = index.search(q, 50)
            engine.append(time.perf_counter() - t)
            t = time.perf_counter()
            values = reference @ q
            best = vec.top_k(values, 50)
            exact.append(time.perf_counter() - t)
            recall.append(len({i for i, _ in got} & {int(snap.ids[i]) for i in best}) / 50)
        kind = "exact numpy" if index.exact else "faiss IVF"
        print(
            f"{label}: p95 {p95_ms(engine):.1f} ms ({kind}), exact numpy reference p95 {p95_ms(exact):.1f} ms, "
            f"ratio {p95_ms(exact) / p95_ms(engine):.1f}x, recall@50 {np.mean(recall):.3f}",
            flush=True,
        )
    bench_diverse(reference, n)
    if n <= 100_000:
        for k in (8, 100):
            t = time.perf_counter()
            vec.kmeans(reference, k)
            print(f"k-means k={k} over {n:,}: {time.perf_counter() - t:.2f} s")


@vec.single_threaded_blas
def k_center_plain(data: np.ndarray, count: int, weights: np.ndarray | None = None) -> list[int]:
    """The diverse subset as it was before diversity.py: one full matrix-vector pass per pick (the reference)."""
    n = len(data)
    w = np.ones(n, dtype=np.float32) if weights is None else weights
    first = int(np.argmax(data @ data.mean(axis=0)))
    chosen = [first]
    distance = 1.0 - data @ data[first]
    distance[first] = -np.inf
    for _ in range(count - 1):
        pick = int(np.argmax(distance * w))
        chosen.append(pick)
        np.minimum(distance, 1.0 - data @ data[pick], out=distance)
        distance[chosen] = -np.inf
    return chosen


def radius(data: np.ndarray, chosen: list[int]) -> float:
    """The k-center objective: the largest cosine distance from any row to its nearest chosen row."""
    centres = data[chosen].T
    return float(max((1.0 - (data[s : s + 8192] @ centres).max(axis=1)).max() for s in range(0, len(data), 8192)))


def bench_diverse(data: np.ndarray, n: int, count: int = 300) -> None:
    """k-center greedy (diversity.py) against the plain loop in the same run, unweighted and weighted by a
    synthetic aesthetic score (0.5 .. 1.5, what --weight-by gives); the plain loop only up to 100k (~100 s at 1M)."""
    weights = np.random.default_rng(3).uniform(0.5, 1.5, n).astype(np.float32)
    for label, w in (("", None), (", weighted", weights)):
        cpu, t = time.process_time(), time.perf_counter()
        got = k_center_greedy(data, count, w)
        took, took_cpu = time.perf_counter() - t, time.process_time() - cpu
        line = f"diverse subset {count} of {n:,}{label} (load {os.getloadavg()[0]:.1f}): {took:.2f} s"
        line += f" (CPU {took_cpu:.2f} s)"
        line += f", radius {radius(data, got):.4f}"
        if n <= 100_000:
            cpu, t = time.process_time(), time.perf_counter()
            plain = k_center_plain(data, count, w)
            ref, ref_cpu = time.perf_counter() - t, time.process_time() - cpu
            line += (
                f"; plain loop {ref:.2f} s (CPU {ref_cpu:.2f} s), ratio {ref / took:.1f}x, "
                f"same picks: {'yes' if plain == got else 'NO'}"
            )
        print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated store sizes")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workdir", type=Path, help="keep stores and indexes here and reuse them next time")
    args = parser.parse_args()
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (1 min), exact limit {EXACT_LIMIT:,} rows")
    with tempfile.TemporaryDirectory(prefix="lorairo-curation-bench-") as tmp:
        root = args.workdir or Path(tmp)
        for size in (int(s) for s in args.sizes.split(",")):
            bench_size(root, size, args.queries)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
