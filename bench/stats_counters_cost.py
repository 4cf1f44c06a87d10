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
import random
from pathlib import Path

from trigger_cost import IMAGE_INSERT, Timed, compare, fresh_project, image_rows

from lorairo.database import counters

LABELS = ("general", "sensitive", "questionable", "explicit")


def run(path: Path, images: int, triggers: bool) -> dict[str, float]:
    conn = fresh_project(path, () if triggers else counters.STATS_TRIGGERS)
    rng = random.Random(1)
    timed = Timed(conn)
    timed("import images", IMAGE_INSERT, image_rows(range(1, images + 1)))
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
    return timed.out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    compare(
        lambda path, triggers: run(path, args.images, triggers),
        args.rounds,
        f"{args.images} images (the 0015 triggers)",
        lambda key: (args.images // 10 if key.startswith("manual") else args.images, "row"),
    )


if __name__ == "__main__":
    main()
