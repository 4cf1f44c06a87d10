"""What the trigger-cost benchmarks share (counters_cost, stats_counters_cost, tag_dirty_cost, image_dirty_cost):
a fresh project schema with one set of triggers dropped or kept, CPU time of each kind of write, and the medians
of both versions written alternately, printed with the cost per row. Not a benchmark itself.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from lorairo.database.engine import Database
from lorairo.database.schema import Base

IMAGE_INSERT = (
    "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height, "
    "format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, 1, 1, 512, 512, 'PNG', 'RGB', 0, 1, ?, '0', 0, 0, '2026-01-01', '2026-01-01')"
)
TAG_INSERT = (
    "INSERT INTO tags (image_id, tag, tag_key, source, is_rejected, created_at, updated_at) "
    "VALUES (?, ?, ?, 'model', 0, '2026-01-01', '2026-01-01')"
)


def image_rows(ids: Iterable[int]) -> list[tuple[object, ...]]:
    """Parameters of IMAGE_INSERT for the image ids (512x512 PNGs, distinct hashes)."""
    return [(i, f"images/{i}.png", f"{i}.png", f"/d/{i}.png", f"h{i}") for i in ids]


def fresh_project(path: Path, drop: Iterable[str] = ()) -> sqlite3.Connection:
    """A new project schema at `path` (every trigger of the models) less the triggers `drop`, opened as the
    writers open it (foreign keys, WAL, synchronous NORMAL)."""
    path.unlink(missing_ok=True)
    db = Database(path)
    Base.metadata.create_all(db.write_engine)
    db.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for name in drop:
        conn.execute(f"DROP TRIGGER {name}")
    return conn


class Timed:
    """CPU seconds of this process per kind of write on `conn` (`out[key]`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.out: dict[str, float] = {}

    def __call__(self, key: str, sql: str, params: Sequence[Sequence[object]], batch: int | None = None) -> None:
        """Run `sql` over `params`, one executemany and commit per `batch` rows (all at once when None)."""
        step = batch or max(1, len(params))
        t0 = time.process_time()
        for start in range(0, len(params), step):
            self.conn.executemany(sql, params[start : start + step])
            self.conn.commit()
        self.out[key] = time.process_time() - t0


LABELS = ("general", "sensitive", "questionable", "explicit")


def annotate_writes(conn: sqlite3.Connection, images: int, batch: int | None = 100) -> dict[str, float]:
    """What import, annotate and review write to images, scores and ratings, timed: image rows inserted (an
    import), one aesthetic score and one model rating per image (an annotate run), both deleted and inserted again
    (a re-run, as annotation_store.save does), a manual rating on 10 % of the images (review); `batch` rows per
    executemany and commit. CPU seconds per kind of write."""
    every = list(range(1, images + 1))
    score = (
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (?, 'aesthetic', ?, 0, 10, 'model', '2026-01-01')"
    )
    rating = "INSERT INTO ratings (image_id, label, source, created_at) VALUES (?, ?, 'model', '2026-01-01')"
    scores = [(i, (i % 97) / 9.7) for i in every]
    ratings = [(i, LABELS[i % len(LABELS)]) for i in every]
    timed = Timed(conn)
    timed("image rows inserted (import)", IMAGE_INSERT, image_rows(every), batch)
    timed("annotate: insert one score per image", score, scores, batch)
    timed("annotate: insert one rating per image", rating, ratings, batch)
    timed(
        "re-annotate: delete the score", "DELETE FROM quality_scores WHERE image_id = ?", [(i,) for i in every], batch
    )
    timed("re-annotate: delete the rating", "DELETE FROM ratings WHERE image_id = ?", [(i,) for i in every], batch)
    timed("re-annotate: insert the score again", score, scores, batch)
    timed("re-annotate: insert the rating again", rating, ratings, batch)
    timed(
        "manual rating (10 % of images)",
        "UPDATE images SET manual_rating = 'explicit' WHERE id = ?",
        [(i,) for i in every[::10]],
        batch,
    )
    return timed.out


def annotate_main(doc: str | None, triggers: Sequence[str], label: str) -> None:
    """The command line of a benchmark of `annotate_writes` with and without `triggers` ([--images] [--rounds])."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    def run(path: Path, keep: bool) -> dict[str, float]:
        conn = fresh_project(path, () if keep else triggers)
        try:
            return annotate_writes(conn, args.images)
        finally:
            conn.close()

    images = args.images
    compare(
        run, args.rounds, f"{images} images ({label})", lambda key: (images // 10 if "10 %" in key else images, "row")
    )


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def compare(
    run: Callable[[Path, bool], dict[str, float]],
    rounds: int,
    header: str,
    rows_of: Callable[[str], tuple[int, str]],
) -> None:
    """Write both versions alternately `rounds` times (`run(path, triggers)` returns CPU seconds per key) and print
    the medians in ms, the ratio and the cost per row (`rows_of(key)`: how many rows or images, and which)."""
    print(f"load at start: {_load()}")
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(rounds):
            for triggers in (False, True):
                runs[triggers].append(run(Path(folder) / f"{triggers}.db", triggers))
    print(f"{header}, median of {rounds} rounds (CPU ms; without -> with the triggers):")
    width = max(len(key) for key in runs[True][0])
    for key in runs[True][0]:
        without = statistics.median(r[key] for r in runs[False]) * 1000
        with_ = statistics.median(r[key] for r in runs[True]) * 1000
        rows, unit = rows_of(key)
        print(
            f"  {key:{width}s} {without:8.1f} -> {with_:8.1f}  ({with_ / max(without, 1e-9):.2f}x, "
            f"+{(with_ - without) * 1000 / max(rows, 1):.1f} us per {unit})"
        )
    print(f"load at end: {_load()}")
