"""What a forced export into a non-empty folder reads to protect the originals (issue 20), at 1M images.

    uv run python bench/export_protected.py --db /tmp/stats20/work/projects/bench/database.db [--repeat 3]

A forced export refuses a target that holds an image any project was imported from. The reference reads every
stored path of the project (file_path, original_path, image_sources) and tests each one's `os.path.normpath` in
Python, as the exporter did before; `protected_paths` lets SQLite keep the candidates (services/export/
protected.py `_paths_under`, the same function the exporter runs). Both run on one read-only connection to the
given database, alternately, for a target under which no image lies (the usual re-export) and for one that holds
them all (the folder of the stored paths). Printed: wall and CPU seconds of each, the paths each found under the
target (they must agree), and the load average.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import time
from pathlib import Path

from machine import load

from lorairo.services.export.protected import _PATH_COLUMNS, _paths_under


def reference(conn: sqlite3.Connection, prefix: str) -> int:
    """Every stored absolute path tested in Python (the exporter before)."""
    found = 0
    for table, column in _PATH_COLUMNS:
        for (path,) in conn.execute(f"SELECT {column} FROM {table}"):
            if isinstance(path, str) and Path(path).is_absolute() and os.path.normpath(path).startswith(prefix):
                found += 1
    return found


def candidates(conn: sqlite3.Connection, prefix: str) -> int:
    return sum(os.path.normpath(path).startswith(prefix) for _, path in _paths_under("bench", conn, prefix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    conn = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    stored = conn.execute("SELECT original_path FROM images LIMIT 1").fetchone()
    targets = {"no image under it": "/tmp/lorairo-bench-export/", "every image under it": "/"}
    if stored and isinstance(stored[0], str):
        targets["every image under it"] = str(Path(stored[0]).parent).rstrip(os.sep) + os.sep
    print(f"load at start: {load()}")
    for label, prefix in targets.items():
        for _ in range(args.repeat):
            for name, run in (("reference (every path in Python)", reference), ("protected_paths", candidates)):
                wall, cpu = time.perf_counter(), time.process_time()
                found = run(conn, prefix)
                print(
                    f"{label:22s} {name:34s} {time.perf_counter() - wall:6.2f} s wall "
                    f"{time.process_time() - cpu:6.2f} s CPU  {found:,} paths under {prefix}"
                )
    print(f"load at end: {load()}")


if __name__ == "__main__":
    main()
