"""What the counter triggers (alembic 0013, database/counters.py) cost a writer: tag rows inserted, rejected and
deleted in bulk with the triggers and without them (dropped), in the same run, CPU time of this process.

    uv run python bench/counters_cost.py [--images 20000] [--tags 9] [--rounds 1]

A fresh project schema (Base.metadata.create_all) in a temporary folder; the rows are written as bench/gui.py's
generator and the import writer write them (executemany of plain INSERTs), then 10% are rejected and 10% deleted.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from trigger_cost import IMAGE_INSERT, TAG_INSERT, Timed, compare, fresh_project, image_rows

from lorairo.database import counters


def run(path: Path, images: int, tags: int, triggers: bool) -> dict[str, float]:
    conn = fresh_project(path, () if triggers else counters.TRIGGERS)
    conn.executemany(IMAGE_INSERT, image_rows(range(1, images + 1)))
    conn.commit()
    rng = random.Random(1)
    weights = [1 / (k + 1) for k in range(3000)]
    rows = [
        (i, f"tag {k}", f"tag_{k}")
        for i in range(1, images + 1)
        for k in set(rng.choices(range(3000), weights, k=tags))
    ]
    timed = Timed(conn)
    timed("insert", TAG_INSERT, rows)
    ids = [r[0] for r in conn.execute("SELECT id FROM tags")]
    timed("reject", "UPDATE tags SET is_rejected = 1 WHERE id = ?", [(i,) for i in ids[::10]])
    timed("delete", "DELETE FROM tags WHERE id = ?", [(i,) for i in ids[5::10]])
    conn.close()
    return timed.out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--tags", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    rows = args.images * args.tags  # at most: a tag drawn twice for an image is one row
    compare(
        lambda path, triggers: run(path, args.images, args.tags, triggers),
        args.rounds,
        f"about {rows} tag rows on {args.images} images (0013's counters)",
        lambda key: (rows if key == "insert" else rows // 10, "row"),
    )


if __name__ == "__main__":
    main()
