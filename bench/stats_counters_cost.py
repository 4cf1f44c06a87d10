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
from pathlib import Path

from trigger_cost import annotate_writes, compare, fresh_project, rows_of_annotate

from lorairo.database import counters


def run(path: Path, images: int, triggers: bool) -> dict[str, float]:
    conn = fresh_project(path, () if triggers else counters.STATS_TRIGGERS)
    try:
        return annotate_writes(conn, images)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    compare(
        lambda path, triggers: run(path, args.images, triggers),
        args.rounds,
        f"{args.images} images (the 0015 triggers)",
        rows_of_annotate(args.images),
    )


if __name__ == "__main__":
    main()
