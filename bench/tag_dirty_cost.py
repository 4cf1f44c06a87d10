"""What the tag change log (alembic 0016: tag_dirty, triggers on `tags`) costs a writer, in the same run with the
triggers and without them (dropped), CPU time of this process.

    uv run python bench/tag_dirty_cost.py [--images 20000] [--tags 9] [--rounds 3]

A fresh project schema (Base.metadata.create_all; 0013's and 0015's counters kept in both) in a temporary folder.
What is timed is what import and annotate write to `tags`: `--tags` model tag rows per image inserted (an import
with sidecars or a first annotate run, one executemany per 100 images like the writers' batches), the model's rows
deleted and inserted again (a re-run), 10 % of the images' first tag rejected (review) and a tag renamed on
them. Both databases are written alternately `--rounds` times; the medians are printed.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from trigger_cost import IMAGE_INSERT, TAG_INSERT, Timed, compare, fresh_project, image_rows

from lorairo.database import counters


def run(path: Path, images: int, per_image: int, triggers: bool) -> dict[str, float]:
    conn = fresh_project(path, () if triggers else counters.DIRTY_TRIGGERS)
    conn.executemany(IMAGE_INSERT, image_rows(range(1, images + 1)))
    conn.commit()
    rng = random.Random(1)
    vocabulary = [f"tag {n}" for n in range(3000)]
    rows = [
        (i, tag, tag.replace(" ", "_")) for i in range(1, images + 1) for tag in rng.sample(vocabulary[:400], per_image)
    ]
    timed = Timed(conn)
    timed("insert tag rows (import / annotate)", TAG_INSERT, rows, 100 * per_image)
    timed(
        "re-annotate: delete the rows", "DELETE FROM tags WHERE image_id = ?", [(i,) for i in range(1, images + 1)], 100
    )
    timed("re-annotate: insert them again", TAG_INSERT, rows, 100 * per_image)
    some = [(i,) for i in range(1, images + 1, 10)]
    timed(
        "reject one tag (10 % of images)",
        "UPDATE tags SET is_rejected = 1 WHERE id = (SELECT min(id) FROM tags WHERE image_id = ?)",
        some,
        100,
    )
    timed(
        "rename a tag (10 % of images)",
        "UPDATE tags SET tag = 'renamed', tag_key = 'renamed' WHERE id = (SELECT max(id) FROM tags WHERE image_id = ?)",
        some,
        100,
    )
    conn.close()
    return timed.out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--tags", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    def rows_of(key: str) -> tuple[int, str]:
        if "10 %" in key:
            return args.images // 10, "row"
        return (args.images, "image") if "delete" in key else (args.images * args.tags, "row")

    compare(
        lambda path, triggers: run(path, args.images, args.tags, triggers),
        args.rounds,
        f"{args.images} images x {args.tags} tags (0016's tag_dirty)",
        rows_of,
    )


if __name__ == "__main__":
    main()
