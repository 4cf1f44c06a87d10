"""Tag filter query timings on a generated project, for comparing two versions of LoRAIro in one session.

    uv run python bench/filters.py build --workdir /tmp/lorairo-bench-filters [--images 100000]
    uv run python bench/filters.py run --workdir /tmp/lorairo-bench-filters --label new
    PYTHONPATH=/path/to/older/checkout/src uv run python bench/filters.py run --workdir ... --label old

`build` writes a project (N images, 4-14 tags each from a Zipf-like vocabulary of 5,000, a score and a rating
each) in SQL with the LoRAIro found first on the path, so build it with the OLDER version: `run` copies it per
label and opens the copy with the LoRAIro on the path (an older schema is migrated: the first line says how long
opening took). It then times ImageQueryService.query_ids over the filters of bench/gui.py plus prefix wildcards,
twice, and prints p50 / p95 / max per kind and overall. Run the labels alternately: the machine's load moves.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sqlite3
import statistics
import time
from pathlib import Path

KINDS = {
    "one tag": lambda r: f'"tag {r.randint(0, 50)}"',
    "two tags": lambda r: f'"tag {r.randint(0, 300)}" "tag {r.randint(0, 30)}"',
    "or + not": lambda r: f'"tag {r.randint(0, 100)}"|"tag {r.randint(100, 2000)}" -"tag 0"',
    "tag + score + rating": lambda r: f'"tag {r.randint(0, 20)}" score>=6 rating:general',
    "prefix wildcard": lambda r: f'"tag {r.randint(1, 9)}*"',
}


def _service(root: Path):  # type: ignore[no-untyped-def]
    os.environ["LORAIRO_DATABASE_DIR"] = str(root)
    os.environ["LORAIRO_CONFIG_PATH"] = str(root.parent / "config.toml")
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.project_service import ProjectService

    return ProjectService(ConfigurationService())


def build(workdir: Path, count: int) -> None:
    service = _service(workdir / "build")
    if service.exists("bench"):
        shutil.rmtree(service.project_path("bench"))
    project = service.create("bench")
    root = project.root
    project.close()
    rng = random.Random(7)
    vocabulary = [f"tag {i}" for i in range(5000)]
    weights = [1 / (i + 1) for i in range(len(vocabulary))]
    now = "2026-01-01 00:00:00.000000"
    images, tags, scores, ratings = [], [], [], []
    for i in range(1, count + 1):
        digest = hashlib.sha256(f"bench-{i}".encode()).hexdigest()
        w, h = rng.choice(((512, 512), (768, 512), (512, 768), (1024, 1024)))
        images.append((i, f"images/{digest}.png", f"img_{i}.png", f"/data/img_{i}.png", 1, 1, w, h, "PNG", "RGB",
                       0, 1, digest, "0", i, 0, now, now))  # fmt: skip
        chosen = set(rng.choices(vocabulary, weights, k=rng.randint(4, 14)))
        tags += [(i, t, "general", "model", 0.9, 0, now, now) for t in chosen]
        scores.append((i, "aesthetic", round(rng.uniform(0, 10), 2), 0.0, 10.0, "model", now))
        ratings.append((i, rng.choice(("general", "general", "sensitive", "questionable", "explicit")), "model", now))
    conn = sqlite3.connect(root / "database.db")
    conn.executemany(
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height, "
        "format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        images,
    )
    columns = [row[1] for row in conn.execute("PRAGMA table_info(tags)")]
    if "tag_key" in columns:  # built with a LoRAIro that has the key column: fill it as every insert path does
        from genai_tag_db_tools.normalize import tag_key

        tags = [(i, t, tag_key(t), *rest) for i, t, *rest in tags]
        sql = "INSERT INTO tags (image_id, tag, tag_key, category, source, confidence, is_rejected, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)"  # noqa: E501
    else:
        sql = "INSERT INTO tags (image_id, tag, category, source, confidence, is_rejected, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)"  # noqa: E501
    conn.executemany(sql, tags)
    conn.executemany(
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (?,?,?,?,?,?,?)",
        scores,
    )
    conn.executemany("INSERT INTO ratings (image_id, label, source, created_at) VALUES (?,?,?,?)", ratings)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    print(f"built {count:,} images, {len(tags):,} tag rows in {root}")


def run(workdir: Path, label: str) -> None:
    target = workdir / label
    if not (target / "bench").exists():
        shutil.copytree(workdir / "build" / "bench", target / "bench")
    service = _service(target)
    from lorairo.services.image_query_service import ImageQueryService, parse_filter

    started = time.perf_counter()
    project = service.open("bench")
    print(f"[{label}] open (migrates an older schema the first time): {time.perf_counter() - started:.1f} s")
    query = ImageQueryService(project.db)
    rng = random.Random(11)
    filters = [(kind, make(rng)) for kind, make in KINDS.items() for _ in range(20)]
    for round_ in range(2):
        timings: dict[str, list[float]] = {}
        for kind, text in filters:
            t0 = time.perf_counter()
            query.query_ids(parse_filter(text))
            timings.setdefault(kind, []).append(time.perf_counter() - t0)
        timings["all"] = [t for values in timings.values() for t in values]
        for kind, values in timings.items():
            values.sort()
            p95 = values[max(0, int(len(values) * 0.95) - 1)]
            print(f"[{label}] round {round_} {kind:22s} p50 {statistics.median(values) * 1000:6.1f} ms  "
                  f"p95 {p95 * 1000:6.1f} ms  max {values[-1] * 1000:6.1f} ms")  # fmt: skip
    project.close()
    print(f"[{label}] load average: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("build", "run"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lorairo-bench-filters"))
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--label", default="current")
    args = parser.parse_args()
    if args.command == "build":
        build(args.workdir, args.images)
    else:
        run(args.workdir, args.label)


if __name__ == "__main__":
    main()
