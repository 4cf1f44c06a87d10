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


def run(path: Path, images: int, per_image: int, triggers: bool) -> dict[str, float]:
    path.unlink(missing_ok=True)
    db = Database(path)
    Base.metadata.create_all(db.write_engine)
    db.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    if not triggers:
        for name in counters.DIRTY_TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
    conn.executemany(
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height, "
        "format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 1, 1, 512, 512, 'PNG', 'RGB', 0, 1, ?, '0', 0, 0, '2026-01-01', '2026-01-01')",
        [(i, f"images/{i}.png", f"{i}.png", f"/d/{i}.png", f"h{i}") for i in range(1, images + 1)],
    )
    conn.commit()
    rng = random.Random(1)
    vocabulary = [f"tag {n}" for n in range(3000)]
    rows = [
        (i, tag, tag.replace(" ", "_")) for i in range(1, images + 1) for tag in rng.sample(vocabulary[:400], per_image)
    ]
    insert = (
        "INSERT INTO tags (image_id, tag, tag_key, source, is_rejected, created_at, updated_at) "
        "VALUES (?, ?, ?, 'model', 0, '2026-01-01', '2026-01-01')"
    )
    out: dict[str, float] = {}

    def timed(key: str, sql: str, params: list[tuple[object, ...]], batch: int) -> None:
        t0 = time.process_time()
        for start in range(0, len(params), batch):
            conn.executemany(sql, params[start : start + batch])
            conn.commit()
        out[key] = time.process_time() - t0

    timed("insert tag rows (import / annotate)", insert, rows, 100 * per_image)
    timed(
        "re-annotate: delete the rows", "DELETE FROM tags WHERE image_id = ?", [(i,) for i in range(1, images + 1)], 100
    )
    timed("re-annotate: insert them again", insert, rows, 100 * per_image)
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
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--tags", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load at start: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for triggers in (False, True):
                runs[triggers].append(run(Path(folder) / f"{triggers}.db", args.images, args.tags, triggers))
    print(f"{args.images} images x {args.tags} tags, median of {args.rounds} rounds (CPU ms; without -> with 0016):")
    for key in runs[True][0]:
        without = statistics.median(r[key] for r in runs[False]) * 1000
        with_ = statistics.median(r[key] for r in runs[True]) * 1000
        rows = args.images // 10 if "10 %" in key else args.images * (1 if "delete" in key else args.tags)
        print(
            f"  {key:38s} {without:8.1f} -> {with_:8.1f}  ({with_ / without:.2f}x, "
            f"+{(with_ - without) * 1000 / rows:.1f} us per {'image' if 'delete' in key else 'row'})"
        )
    print(f"load at end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
