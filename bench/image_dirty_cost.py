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
from pathlib import Path

from trigger_cost import IMAGE_INSERT, Timed, compare, fresh_project, image_rows

from lorairo.database import counters


def run(path: Path, images: int, triggers: bool) -> dict[str, float]:
    conn = fresh_project(path, () if triggers else counters.FIGURES_DIRTY_TRIGGERS)
    every = list(range(1, images + 1))
    timed = Timed(conn)
    timed("image rows inserted (import)", IMAGE_INSERT, image_rows(every), 100)
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
    return timed.out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    compare(
        lambda path, triggers: run(path, args.images, triggers),
        args.rounds,
        f"{args.images} images (0016's image_dirty)",
        lambda key: (args.images // 10 if "10 %" in key else args.images, "row"),
    )


if __name__ == "__main__":
    main()
