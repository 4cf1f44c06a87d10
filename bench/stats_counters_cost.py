"""What the statistics counters (alembic 0015: images.last_rating, rating_stats, score_bins) cost a writer, in the
same run with the triggers and without them (dropped), CPU time of this process.

    uv run python bench/stats_counters_cost.py [--images 20000] [--rounds 3]

A fresh project schema (Base.metadata.create_all, 0013's counters kept in both) in a temporary folder. What is
timed is what import and annotate write: image rows inserted (import), then per image one aesthetic score and one
model rating inserted (a first annotate run), then the model's score and rating deleted and inserted again (a
re-run of the model, as annotation_store.save does), then a manual rating set on 10 % of the images. Both
databases are written alternately `--rounds` times; the medians are printed.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from lorairo.database import counters
from lorairo.database.engine import Database
from lorairo.database.schema import Base

LABELS = ("general", "sensitive", "questionable", "explicit")


def run(path: Path, images: int, triggers: bool) -> dict[str, float]:
    path.unlink(missing_ok=True)
    db = Database(path)
    Base.metadata.create_all(db.write_engine)
    db.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    if not triggers:
        for name in counters.STATS_TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
    out: dict[str, float] = {}
    rng = random.Random(1)

    def timed(key: str, sql: str, rows: list[tuple[object, ...]]) -> None:
        t0 = time.process_time()
        conn.executemany(sql, rows)
        conn.commit()
        out[key] = time.process_time() - t0

    timed(
        "import images",
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height, "
        "format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 1, 1, 512, 512, 'PNG', 'RGB', 0, 1, ?, '0', 0, 0, '2026-01-01', '2026-01-01')",
        [(i, f"images/{i}.png", f"{i}.png", f"/d/{i}.png", f"h{i}") for i in range(1, images + 1)],
    )
    score = (
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (?, 'aesthetic', ?, 0, 10, 'model', '2026-01-01')"
    )
    rating = "INSERT INTO ratings (image_id, label, source, created_at) VALUES (?, ?, 'model', '2026-01-01')"
    ids = range(1, images + 1)
    timed("annotate: insert scores", score, [(i, rng.uniform(0, 10)) for i in ids])
    timed("annotate: insert ratings", rating, [(i, rng.choice(LABELS)) for i in ids])
    timed("re-annotate: delete scores", "DELETE FROM quality_scores WHERE image_id = ?", [(i,) for i in ids])
    timed("re-annotate: delete ratings", "DELETE FROM ratings WHERE image_id = ?", [(i,) for i in ids])
    timed("re-annotate: insert scores", score, [(i, rng.uniform(0, 10)) for i in ids])
    timed("re-annotate: insert ratings", rating, [(i, rng.choice(LABELS)) for i in ids])
    timed(
        "manual rating (10 %)",
        "UPDATE images SET manual_rating = ? WHERE id = ?",
        [(rng.choice(LABELS), i) for i in ids[::10]],
    )
    conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load at start: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for triggers in (False, True):
                runs[triggers].append(run(Path(folder) / f"{triggers}.db", args.images, triggers))
    print(f"{args.images} images, median of {args.rounds} rounds (CPU ms; without -> with the 0015 triggers):")
    for key in runs[True][0]:
        without = statistics.median(r[key] for r in runs[False]) * 1000
        with_ = statistics.median(r[key] for r in runs[True]) * 1000
        rows = args.images // 10 if key.startswith("manual") else args.images
        print(
            f"  {key:28s} {without:8.1f} -> {with_:8.1f}  ({with_ / without:.2f}x, "
            f"+{(with_ - without) * 1000 / rows:.1f} us per row)"
        )
    print(f"load at end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
