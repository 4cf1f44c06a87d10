"""Time to the first autocomplete suggestion in a fresh process, with and without the on-disk index cache.

Each measurement runs in a new Python process (as a user starting the app would): import the package, open
the database, and search once. "cold" deletes the cache first (the index is built from SQLite, then cached);
"cached" runs again with the cache written by the cold run. Prints figures only; needs a database with a
vocabulary in ``$GENAI_TAG_DB_DIR`` (e.g. ``tag-db import ../shared/data/tags/danbooru.csv``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
c0 = time.process_time()
from genai_tag_db_tools import TagDatabase
from genai_tag_db_tools.index_cache import cache_path
db = TagDatabase()
path = cache_path(db.base_path, db.default_format)
if sys.argv[1] == "cold":
    path.unlink(missing_ok=True)
t1 = time.perf_counter()
results = db.search(sys.argv[2], limit=15, prefix_first=True)
print(json.dumps({"open": t1 - t0, "first": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "hits": len(results), "cache_bytes": path.stat().st_size if path.exists() else 0}))
"""


def run(mode: str, query: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, query], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--query", default="long ha")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    for mode in ("cold", "cached"):
        rows = []
        for _ in range(args.repeat):
            rows.append(run(mode, args.query))
        best = min(rows, key=lambda r: r["first"])
        print(
            f"{mode:6s} first suggestion {best['first'] * 1000:7.0f} ms after process start "
            f"(import + open {best['open'] * 1000:.0f} ms, "
            f"index + search {(best['first'] - best['open']) * 1000:.0f} ms; "
            f"process CPU {best['cpu'] * 1000:.0f} ms), "
            f"{best['hits']} hits, cache file {best['cache_bytes'] / 1e6:.1f} MB"
        )


if __name__ == "__main__":
    main()
