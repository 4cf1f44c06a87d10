"""What the figures change log (alembic 0016: image_dirty, triggers on `images` and `quality_scores`) costs a
writer, in the same run with the triggers and without them (dropped), CPU time of this process.

    uv run python bench/image_dirty_cost.py [--images 20000] [--rounds 3]

A fresh project schema (Base.metadata.create_all; every other trigger kept in both) in a temporary folder. What
is timed is what import, annotate and review write: image rows inserted (an import, batches of 100), one score
and one model rating per image (an annotate run: the rating updates `images.last_rating` through 0015's
triggers, which fires the log's image trigger), both deleted and inserted again (a re-run), a manual rating set
on 10 % of the images (review). Both databases are written alternately `--rounds` times; medians are printed.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from lorairo.database import counters
from lorairo.database.engine import Database
from lorairo.database.schema import Base


def run(path: Path, images: int, triggers: bool) -> dict[str, float]:
    path.unlink(missing_ok=True)
    db = Database(path)
    Base.metadata.create_all(db.write_engine)
    db.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    if not triggers:
        for name in counters.FIGURES_DIRTY_TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
    out: dict[str, float] = {}

    def timed(key: str, sql: str, params: Sequence[tuple[object, ...]], batch: int = 100) -> None:
        t0 = time.process_time()
        for start in range(0, len(params), batch):
            conn.executemany(sql, params[start : start + batch])
            conn.commit()
        out[key] = time.process_time() - t0

    every = list(range(1, images + 1))
    timed(
        "image rows inserted (import)",
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height, "
        "format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 1, 1, 512, 512, 'PNG', 'RGB', 0, 1, ?, '0', 0, 0, '2026-01-01', '2026-01-01')",
        [(i, f"images/{i}.png", f"{i}.png", f"/d/{i}.png", f"h{i}") for i in every],
    )
    score = (
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (?, 'aesthetic', ?, 0, 10, 'model', '2026-01-01')"
    )
    rating = "INSERT INTO ratings (image_id, label, source, created_at) VALUES (?, ?, 'model', '2026-01-01')"
    scores = [(i, (i % 97) / 9.7) for i in every]
    ratings = [(i, ("general", "sensitive", "explicit")[i % 3]) for i in every]
    timed("annotate: insert one score per image", score, scores)
    timed("annotate: insert one rating per image", rating, ratings)
    timed("re-annotate: delete the score", "DELETE FROM quality_scores WHERE image_id = ?", [(i,) for i in every])
    timed("re-annotate: delete the rating", "DELETE FROM ratings WHERE image_id = ?", [(i,) for i in every])
    timed("re-annotate: insert the score again", score, scores)
    timed("re-annotate: insert the rating again", rating, ratings)
    timed(
        "manual rating (10 % of images)",
        "UPDATE images SET manual_rating = 'explicit' WHERE id = ?",
        [(i,) for i in range(1, images + 1, 10)],
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
    print(f"{args.images} images, median of {args.rounds} rounds (CPU ms; without -> with image_dirty):")
    for key in runs[True][0]:
        without = statistics.median(r[key] for r in runs[False]) * 1000
        with_ = statistics.median(r[key] for r in runs[True]) * 1000
        rows = args.images // 10 if "10 %" in key else args.images
        print(f"  {key:40s} {without:8.1f} -> {with_:8.1f}  (+{(with_ - without) * 1000 / rows:.1f} us per row)")
    print(f"load at end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
