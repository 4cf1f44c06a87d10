"""Benchmark: danbooru.csv import, autocomplete latency, clean_tags throughput.

Run from the repository root::

    uv run python local_packages/genai-tag-db-tools/bench/bench_tagdb.py [--csv PATH] [--compare]

Prints figures only (no pass/fail); the recorded results are in ../docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from genai_tag_db_tools import TagCleaner, TagDatabase

DEFAULT_CSV = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "tags" / "danbooru.csv"


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    q = statistics.quantiles(ordered, n=100)
    return f"p50 {q[49]:.2f} ms  p95 {q[94]:.2f} ms  p99 {q[98]:.2f} ms  max {ordered[-1]:.2f} ms"


def load_rows(path: Path) -> list[tuple[str, int, list[str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [(r[0], int(r[2]), [a for a in r[3].split(",") if a]) for r in csv.reader(fh) if len(r) >= 4]


def make_queries(rows: list[tuple[str, int, list[str]]], n: int, rng: random.Random) -> list[str]:
    """What users type: prefixes of common tags (spaces or underscores), aliases, inner words, misses."""
    popular = rows[:20000]
    queries: list[str] = []
    while len(queries) < n:
        name, _, aliases = rng.choice(popular)
        kind = rng.random()
        if kind < 0.55:
            cut = rng.randint(1, max(1, len(name)))
            q = name[:cut]
            queries.append(q.replace("_", " ") if rng.random() < 0.5 else q)
        elif kind < 0.7 and aliases:
            alias = rng.choice(aliases)
            queries.append(alias[: rng.randint(2, max(2, len(alias)))])
        elif kind < 0.9:
            words = name.split("_")
            queries.append(rng.choice(words)[:6])
        else:
            queries.append("".join(rng.choice("qxzjvk") for _ in range(rng.randint(3, 8))))
    return queries


def time_each(
    fn: Callable[[str], object], queries: list[str], clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Milliseconds per query; ``clock=time.thread_time`` measures CPU time, unaffected by other processes."""
    out = []
    for q in queries:
        t0 = clock()
        fn(q)
        out.append((clock() - t0) * 1000)
    return out


def compare_sqlite(db: TagDatabase, queries: list[str]) -> None:
    """The alternatives considered: FTS5 trigram and an indexed LIKE prefix query, same ranking."""
    tmp = sqlite3.connect(":memory:")
    src = sqlite3.connect(db.base_path)
    rows = src.execute(
        "SELECT t.name, f.count FROM tags t JOIN tag_formats f ON f.tag_id = t.id WHERE f.format = 'danbooru'"
    ).fetchall()
    tmp.execute("CREATE VIRTUAL TABLE tri USING fts5(name, count UNINDEXED, tokenize='trigram')")
    tmp.executemany("INSERT INTO tri VALUES (?, ?)", rows)
    tmp.execute("CREATE TABLE plain (name TEXT PRIMARY KEY, count INT)")
    tmp.executemany("INSERT INTO plain VALUES (?, ?)", rows)

    def fts(q: str) -> object:
        key = q.strip().lower().replace(" ", "_")
        if len(key) < 3:  # trigram cannot match shorter strings; fall back to a scan
            sql = "SELECT name, count FROM plain WHERE instr(name, ?) ORDER BY count DESC LIMIT 20"
            return tmp.execute(sql, (key,)).fetchall()
        sql = "SELECT name, count FROM tri WHERE tri MATCH ? ORDER BY count DESC LIMIT 20"
        return tmp.execute(sql, ('"' + key.replace('"', '""') + '"',)).fetchall()

    def prefix(q: str) -> object:
        key = q.strip().lower().replace(" ", "_")
        sql = "SELECT name, count FROM plain WHERE name >= ? AND name < ? ORDER BY count DESC LIMIT 20"
        return tmp.execute(sql, (key, key + "\U0010ffff")).fetchall()

    print(f"  FTS5 trigram substring (SQL ORDER BY count): {percentiles(time_each(fts, queries))}")
    print(f"  SQLite indexed prefix range (prefix only):   {percentiles(time_each(prefix, queries))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--captions", type=int, default=2000)
    parser.add_argument("--compare", action="store_true", help="also time FTS5 trigram and SQL prefix search")
    args = parser.parse_args()
    rng = random.Random(42)
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    rows = load_rows(args.csv)

    with tempfile.TemporaryDirectory() as tmp:
        db = TagDatabase(Path(tmp))
        t0, c0 = time.perf_counter(), time.process_time()
        report = db.import_file(args.csv, format_name="danbooru")
        first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        db.import_file(args.csv, format_name="danbooru")
        again, again_cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"import {args.csv.name}: {report.imported} tags, {report.aliases} aliases")
        print(
            f"  fresh database {first:.2f} s (CPU {first_cpu:.2f} s), re-import {again:.2f} s (CPU {again_cpu:.2f} s)"
        )

        t0, c0 = time.perf_counter(), time.process_time()
        db.warm_up()
        build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"search index build (first search): {build:.2f} s (CPU {build_cpu:.2f} s)")
        queries = make_queries(rows, args.queries, rng)
        for q in queries[:20]:  # warm caches
            db.search(q)
        print(f"autocomplete, {len(queries)} queries, limit 20:")
        print(f"  in-memory index (used), wall: {percentiles(time_each(lambda q: db.search(q), queries))}")
        cpu = time_each(lambda q: db.search(q), queries, clock=time.thread_time)
        print(f"  in-memory index (used), CPU:  {percentiles(cpu)}")
        if args.compare:
            compare_sqlite(db, queries)

        captions = []
        for _ in range(args.captions):
            picked = [rng.choice(rows[:30000]) for _ in range(30)]
            tags = []
            for name, _, aliases in picked:
                r = rng.random()
                if r < 0.1 and aliases:
                    tags.append(rng.choice(aliases))
                elif r < 0.5:
                    tags.append(name.replace("_", " "))
                else:
                    tags.append(name)
            tags += tags[:3]  # duplicates
            captions.append(", ".join(t.replace("(", "\\(").replace(")", "\\)") for t in tags))
        total = sum(len(c.split(", ")) for c in captions)
        for label, cleaner in (("pure rules (no db)", TagCleaner(None)), ("with db", TagCleaner(db))):
            t0 = time.perf_counter()
            for c in captions:
                cleaner.clean(c)
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            for c in captions:
                cleaner.clean(c)
            warm = time.perf_counter() - t0
            print(
                f"clean_tags {label}: {total} tags in {len(captions)} captions: "
                f"first pass {total / cold:,.0f} tags/s, cached {total / warm:,.0f} tags/s"
            )
        t0 = time.perf_counter()
        TagCleaner(db).clean_many(captions)
        print(f"clean_many with db (one lookup for all captions): {total / (time.perf_counter() - t0):,.0f} tags/s")
        db.close()


if __name__ == "__main__":
    main()
