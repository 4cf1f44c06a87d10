"""What the counter triggers (alembic 0013, database/counters.py) cost a writer: tag rows inserted, rejected and
deleted in bulk with the triggers and without them (dropped), in the same run, CPU time of this process.

    uv run python bench/counters_cost.py [--images 20000] [--tags 9]

A fresh project schema (Base.metadata.create_all) in a temporary folder; the rows are written as bench/gui.py's
generator and the import writer write them (executemany of plain INSERTs), then 10% are rejected and 10% deleted.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from lorairo.database import counters
from lorairo.database.engine import Database
from lorairo.database.schema import Base


def run(folder: Path, images: int, tags: int, triggers: bool) -> dict[str, float]:
    path = folder / f"{'with' if triggers else 'without'}.db"
    db = Database(path)
    Base.metadata.create_all(db.write_engine)
    db.dispose()
    conn = sqlite3.connect(path)
    if not triggers:
        for name in counters.TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
    conn.executemany(
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height, "
        "format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 1, 1, 512, 512, 'PNG', 'RGB', 0, 1, ?, '0', 0, 0, '2026-01-01', '2026-01-01')",
        [(i, f"images/{i}.png", f"{i}.png", f"/d/{i}.png", f"h{i}") for i in range(1, images + 1)],
    )
    conn.commit()
    rng = random.Random(1)
    weights = [1 / (k + 1) for k in range(3000)]
    rows = [
        (i, f"tag {k}", f"tag_{k}")
        for i in range(1, images + 1)
        for k in set(rng.choices(range(3000), weights, k=tags))
    ]
    out: dict[str, float] = {"rows": len(rows)}
    t0 = time.process_time()
    conn.executemany(
        "INSERT INTO tags (image_id, tag, tag_key, source, is_rejected, created_at, updated_at) "
        "VALUES (?, ?, ?, 'model', 0, '2026-01-01', '2026-01-01')",
        rows,
    )
    conn.commit()
    out["insert_s"] = time.process_time() - t0
    ids = [r[0] for r in conn.execute("SELECT id FROM tags")]
    t0 = time.process_time()
    conn.executemany("UPDATE tags SET is_rejected = 1 WHERE id = ?", [(i,) for i in ids[::10]])
    conn.commit()
    out["reject_s"] = time.process_time() - t0
    t0 = time.process_time()
    conn.executemany("DELETE FROM tags WHERE id = ?", [(i,) for i in ids[5::10]])
    conn.commit()
    out["delete_s"] = time.process_time() - t0
    conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--tags", type=int, default=9)
    args = parser.parse_args()
    print(f"load at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        without = run(Path(folder), args.images, args.tags, triggers=False)
        with_ = run(Path(folder), args.images, args.tags, triggers=True)
    print(f"{int(with_['rows'])} tag rows on {args.images} images (CPU s, without -> with triggers):")
    for key in ("insert_s", "reject_s", "delete_s"):
        print(f"  {key[:-2]:7s} {without[key]:6.2f} -> {with_[key]:6.2f}  ({with_[key] / without[key]:.2f}x)")
    print(f"load at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
