"""Scale benchmark at the SQL / service level on a generated 1M-image project, before and after, in one run.

    uv run python bench/scale.py [--images 1000000] [--workdir /tmp/scale1m] [--before-ref REF]
                                 [--import-files 300] [--real-import 0] [--skip-before]

The project is generated once by bench/gui.py's generator (same vocabulary, Zipf-like tags, scores, ratings,
thumbnails) into WORKDIR/projects/bench and kept: it stays at the schema it was generated with and is the
"before" database. "after" is a copy migrated by this checkout (WORKDIR/after/projects/bench). The "before"
code is `git archive REF src` (default: the merge-base with main) run with PYTHONPATH, on the "before" copy.

Every figure is measured by a child process of each version, one after the other, with the machine's load
average printed beside it (the machine is shared: compare ratios within a run):
  * tag filters by kind (one tag, AND of two / three, OR + NOT, NOT only, tag + score + rating, tag +
    resolution, prefix wildcard): p50 / p95 / max of ImageQueryService.query_ids, and every result checked
    against a plain-Python evaluation on a random sample of images (exact: no image of the sample may differ)
  * counts: the tags panel (TagStatsService.project_tags) and the statistics view (dataset_statistics)
  * --sql-parts ...,filtered,tagindex (a version with services/live_tag_index.py): the in-memory tag index's
    build, its counts checked against plain aggregates, and with 5,000 images changed from another connection
  * --sql-parts nofilters,termids (a version with LiveTagIndex.term_ids): the whole id list and the count of
    every tag-only filter kind (ids_array + count) in SQL, then off a built tag index (its ids per key), then
    with 5,000 images changed from another connection (the overlay), every result checked identical to SQL
  * --sql-parts nofilters,mixedids (a version with LiveImageIndex.term_mask): the whole id list and the count of
    filters mixing tags with score / rating / size / aspect terms in SQL, then off both built indexes (with and
    without the rare-tag rule), then with 5,000 images changed from another connection, every result checked
    identical to SQL; both builds started together (the longest GIL wait of a ticker thread) and their memory
  * --sql-parts ...,filtered,figures (a version with services/live_image_index.py): the first statistics view
    of a broad filter (builds both indexes), the figures index's build, the view off the indexes checked
    against the same view in SQL for every filter size, and again with 5,000 images changed from another
    connection
  * sorts: tag_stats_service.sorted_ids for every grid order
  * opening: the first page (200 ids + their rows + badges) and the full id list with the count
  * memory: what the full id list costs as Python ints + the {id: row} dict vs array('q')
  * import: 300 new files into the big project vs into an empty one (the added rows are deleted afterwards)
  * --real-import N: N generated small images on disk imported into a fresh project (throughput of the
    first and last 10%, peak RSS), then the same folder again (nothing to import)
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from machine import load  # noqa: E402  (bench/ on the path above)
from scale_filters import KINDS, PER_KIND, percentiles  # noqa: E402
from scale_indexes import figures_index, filtered_views, mixed_ids, tag_index, term_ids  # noqa: E402

SAMPLE = 3000


# --- reference evaluation (plain Python over a sample of images) ------------------------------------------


def _sample_data(db_path: Path, ids: list[int]) -> dict[int, dict[str, Any]]:
    conn = sqlite3.connect(db_path)
    marks = ",".join(str(i) for i in ids)
    data: dict[int, dict[str, Any]] = {
        i: {"keys": set(), "scores": [], "rating": m, "width": w, "height": h, "model_ratings": []}
        for i, w, h, m in conn.execute(f"SELECT id, width, height, manual_rating FROM images WHERE id IN ({marks})")
    }
    for i, key in conn.execute(f"SELECT image_id, tag_key FROM tags WHERE is_rejected = 0 AND image_id IN ({marks})"):
        data[i]["keys"].add(key)
    for i, value in conn.execute(f"SELECT image_id, value FROM quality_scores WHERE image_id IN ({marks})"):
        data[i]["scores"].append(value)
    for i, label in conn.execute(f"SELECT image_id, label FROM ratings WHERE image_id IN ({marks})"):
        data[i]["model_ratings"].append(label)
    conn.close()
    return data


def _reference(f: Any, image: dict[str, Any], key_of: Any) -> bool:
    """The filter's meaning for the terms the benchmark uses, evaluated plainly."""

    def has(tag: str) -> bool:
        pattern = key_of(tag)
        return (
            any(fnmatch.fnmatchcase(k, pattern) for k in image["keys"]) if "*" in pattern else pattern in image["keys"]
        )

    if not all(has(t) for t in f.tags_all) or not all(any(has(t) for t in g) for g in f.tags_any):
        return False
    if any(has(t) for t in f.tags_none):
        return False
    if f.score_min is not None and not any(v >= f.score_min for v in image["scores"]):
        return False
    if f.ratings:
        labels = [image["rating"]] if image["rating"] is not None else image["model_ratings"]
        if not any(label in f.ratings for label in labels):
            return False
    return f.min_width is None or image["width"] >= f.min_width


# --- child: SQL-level figures with the version on PYTHONPATH -----------------------------------------------


def child_sql(db_path: Path, parts: set[str]) -> dict[str, Any]:
    from lorairo.database.engine import Database
    from lorairo.services.filter_language import tag_match_key
    from lorairo.services.image_query_service import ImageQueryService, parse_filter
    from lorairo.services.statistics_service import dataset_statistics
    from lorairo.services.tag_stats_service import SORTS, TagStatsService, grid_badges, sorted_ids

    out: dict[str, Any] = {"load_at_start": load()}
    db = Database(db_path)
    query = ImageQueryService(db)
    total = query.count()
    out["images"] = total
    rng = random.Random(11)
    sample_ids = sorted(rng.sample(range(1, total + 1), SAMPLE))
    sample = _sample_data(db_path, sample_ids)
    filters = [(kind, make(rng)) for kind, make in KINDS.items() for _ in range(PER_KIND)]
    query.query_ids(parse_filter('"tag 3"'))  # warm the connection pool and the page cache once
    # The query API (first_page / ids_array / count) where this version has it; the "before" code had only
    # query_ids + count, and the grid waited for the whole list before showing its first page.
    api = hasattr(query, "first_page")
    timings: dict[str, list[float]] = {}
    first_timings: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    mismatches = []
    for kind, text in filters if "nofilters" not in parts else ():
        f = parse_filter(text)
        if api:
            c0, t0 = time.process_time(), time.perf_counter()
            page = query.first_page(f)
            first_timings.setdefault(kind, []).append(time.perf_counter() - t0)
            cpu.setdefault(f"{kind} first page", []).append(time.process_time() - c0)
        c0, t0 = time.process_time(), time.perf_counter()
        ids = [int(i) for i in query.ids_array(f)] if api else query.query_ids(f)
        n = query.count(f)
        timings.setdefault(kind, []).append(time.perf_counter() - t0)
        cpu.setdefault(f"{kind} full", []).append(time.process_time() - c0)
        if api and (page != ids[:200] or n != len(ids)):
            mismatches.append(f"{text}: first page / count differ from the full list")
        got = set(ids).intersection(sample_ids)
        expected = {i for i in sample_ids if _reference(f, sample[i], tag_match_key)}
        if got != expected:
            mismatches.append(text)
    out["filters_full_list_and_count"] = {kind: percentiles(values) for kind, values in timings.items()}
    out["filters_full_list_and_count"]["all"] = percentiles(
        [v for values in timings.values() or [[0.0]] for v in values]
    )
    if api and first_timings:
        out["filters_first_page"] = {kind: percentiles(values) for kind, values in first_timings.items()}
        out["filters_first_page"]["all"] = percentiles([v for values in first_timings.values() for v in values])
    out["filters_cpu_p50_ms"] = {k: round(statistics.median(v) * 1000, 1) for k, v in cpu.items()}
    out["filters_checked"] = {"filters": len(filters), "sample": SAMPLE, "mismatches": mismatches}

    c0, t0 = time.process_time(), time.perf_counter()
    tags = TagStatsService(db).project_tags() if "counts" in parts else []
    out["tags_panel_s"] = round(time.perf_counter() - t0, 3)
    out["tags_panel_cpu_s"] = round(time.process_time() - c0, 3)
    out["tags_panel_tags"] = len(tags)
    if "counts" in parts:  # the panel over a filter (one aggregated query): a common tag, a rare one
        for text in ('"tag 2000"', '"tag 40"', '"tag 0"'):
            t0 = time.perf_counter()
            TagStatsService(db).project_tags(parse_filter(text))
            out[f"tags_panel_filter {text}_s"] = round(time.perf_counter() - t0, 3)
    c0, t0 = time.process_time(), time.perf_counter()
    if "statistics" in parts:
        whole = dataset_statistics(db)
        out["statistics_ratings"] = whole.ratings
        out["statistics_score_rows"] = {k: sum(v) for k, v in whole.score_bins.items()}
    out["statistics_s"] = round(time.perf_counter() - t0, 3)
    out["statistics_cpu_s"] = round(time.process_time() - c0, 3)
    if "filtered" in parts:  # the statistics view and the tags panel over filters of several sizes
        if "tagindex" in parts and importlib.util.find_spec("lorairo.services.live_tag_index"):
            out["tag_index"] = tag_index(db, query)
        if "figures" in parts and importlib.util.find_spec("lorairo.services.live_image_index"):
            out["figures_index"] = figures_index(db, query)
    if "mixedids" in parts:
        out["mixed_ids"] = mixed_ids(db, query)
    if "termids" in parts:
        out["term_ids"] = term_ids(db, query)
        out.update(filtered_views(db))

    out["sorts_ms"] = {}
    for key in SORTS if "sorts" in parts else ():
        t0 = time.perf_counter()
        ordered = query.ids_array(None, key) if api else sorted_ids(db, None, key)
        out["sorts_ms"][key] = round((time.perf_counter() - t0) * 1000, 1)
        if api:
            t0 = time.perf_counter()
            page = query.first_page(None, key)
            out["sorts_ms"][f"{key} first page"] = round((time.perf_counter() - t0) * 1000, 1)
            if [int(i) for i in ordered[:200]] != page or len(ordered) != total:
                mismatches.append(f"sort {key}: first page differs from the full order")

    t0 = time.perf_counter()
    first = [int(v) for v in query._scalars("SELECT id FROM images ORDER BY id LIMIT 200", {})]
    query.fetch_rows(first, details=False)
    grid_badges(db, first)
    out["open_first_page_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    all_ids = query.query_ids()
    out["open_all_ids_s"] = round(time.perf_counter() - t0, 3)
    out["load_at_end"] = load()
    del all_ids
    db.dispose()
    return out


def child_memory(db_path: Path) -> dict[str, Any]:
    """RSS of what the grid holds for the whole project: ids as a list + {id: row}, vs one array('q')."""
    from array import array

    import psutil

    proc = psutil.Process()
    conn = sqlite3.connect(db_path)
    base = proc.memory_info().rss
    ids = [r[0] for r in conn.execute("SELECT id FROM images ORDER BY id")]
    row_of = {image_id: row for row, image_id in enumerate(ids)}
    as_list = proc.memory_info().rss - base
    del ids, row_of
    base = proc.memory_info().rss
    packed = array("q", (r[0] for r in conn.execute("SELECT id FROM images ORDER BY id")))
    as_array = proc.memory_info().rss - base
    return {"ids_list_and_row_dict_mb": round(as_list / 2**20, 1), "ids_array_mb": round(as_array / 2**20, 1),
            "images": len(packed)}  # fmt: skip


def child_import(project_root: Path, folder: Path, empty_root: Path, rounds: int = 1) -> dict[str, Any]:
    """Import `folder` into a fresh empty project and into the big one (rows added there are removed again),
    `rounds` times, the order alternating (empty first, then big first, ...) so that warming up and the
    load moving during the run fall on both alike. The ratio is of the medians."""
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.image_processing_service import ImageProcessingService
    from lorairo.services.project_service import ProjectService

    out: dict[str, Any] = {"load_at_start": load()}
    times: dict[str, list[float]] = {"empty": [], "big": []}
    for number in range(rounds):
        order = [("empty", empty_root), ("big", project_root)]
        for label, root in order if number % 2 == 0 else order[::-1]:
            os.environ["LORAIRO_DATABASE_DIR"] = str(root.parent)
            config = ConfigurationService()
            project = ProjectService(config).open(root.name)
            conn = sqlite3.connect(root / "database.db")
            before_max = conn.execute("SELECT coalesce(max(id), 0) FROM images").fetchone()[0]
            conn.close()
            t0 = time.perf_counter()
            summary = ImageProcessingService(config, project).import_paths([folder], jobs=2)
            times[label].append(round(time.perf_counter() - t0, 2))
            out[f"{label}_added"] = summary.added
            project.close()
            conn = sqlite3.connect(root / "database.db")
            conn.execute("PRAGMA foreign_keys = ON")
            rows = conn.execute("SELECT file_path, hash_value FROM images WHERE id > ?", (before_max,)).fetchall()
            conn.execute("DELETE FROM images WHERE id > ?", (before_max,))
            conn.execute("DELETE FROM import_outcomes")
            conn.commit()
            conn.close()
            for rel, hash_value in rows:
                (root / rel).unlink(missing_ok=True)
                for thumb in (root / "thumbnails").glob(f"{hash_value[:2]}/{hash_value}.*"):
                    thumb.unlink(missing_ok=True)  # the next round imports the same files as new again
    for label, values in times.items():
        out[f"{label}_s"] = values
        out[f"{label}_median_s"] = statistics.median(values)
    out["big_over_empty"] = round(out["big_median_s"] / out["empty_median_s"], 2)
    out["load_at_end"] = load()
    return out


def child_real_import(root: Path, folder: Path) -> dict[str, Any]:
    """A real import of every file in `folder` into `root` (fresh project), then the same folder again.

    Throughput per tenth of the files (the first and last tenth are the issue's "first / last 10k" at 100k),
    and resident memory of the importing process and of its worker processes sampled every 0.5 s and at each
    tenth (memory must stay flat: nothing may grow with the number of images imported so far)."""
    import threading

    import psutil

    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.image_processing_service import ImageProcessingService
    from lorairo.services.project_service import ProjectService

    config = ConfigurationService()
    project = ProjectService(config).open(root.name)
    proc = psutil.Process()
    marks: list[tuple[float, int]] = []
    stop = threading.Event()

    def cpu() -> tuple[float, float]:
        """CPU seconds used so far by this process (the writer) and by its live worker processes."""
        own = proc.cpu_times()
        workers = 0.0
        for child in proc.children(recursive=True):
            try:
                times = child.cpu_times()
                workers += times.user + times.system
            except psutil.Error:
                continue
        return own.user + own.system, workers

    def rss() -> tuple[int, int]:
        children = 0
        for child in proc.children(recursive=True):
            try:
                children += child.memory_info().rss
            except psutil.Error:
                continue
        return proc.memory_info().rss, children

    peak = [rss()]

    def watch() -> None:
        while not stop.wait(0.5):
            now = rss()
            peak[0] = (max(peak[0][0], now[0]), max(peak[0][1], now[1]))

    threading.Thread(target=watch, daemon=True).start()
    by_tenth: list[tuple[int, float, int, int]] = []  # (done, seconds, parent rss, workers rss)
    cpu_marks: list[tuple[int, float, float]] = []  # (done, parent cpu s, workers cpu s) at each tenth
    t0 = time.perf_counter()
    expected = [0]

    def progress(done: int, total: int, _message: str) -> None:
        if total:
            now = time.perf_counter()
            marks.append((now, done))
            expected[0] = total
            if done >= (len(by_tenth) + 1) * total // 10:
                parent, workers = rss()
                by_tenth.append((done, round(now - t0, 1), round(parent / 2**20), round(workers / 2**20)))
                cpu_marks.append((done, *cpu()))

    service = ImageProcessingService(config, project)
    rss_start = proc.memory_info().rss
    cpu_start = cpu()
    summary = service.import_paths([folder], jobs=2, progress=progress)
    elapsed = time.perf_counter() - t0
    rss_after_first = proc.memory_info().rss
    t1 = time.perf_counter()
    again = service.import_paths([folder], jobs=2)
    reimport = time.perf_counter() - t1
    stop.set()
    project.close()
    total = summary.added
    tenth = max(1, total // 10)

    def rate(lo: int, hi: int) -> float:
        inside = [(t, d) for t, d in marks if lo <= d <= hi]
        if len(inside) < 2 or inside[-1][0] == inside[0][0]:
            return 0.0
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    first, last = rate(0, tenth), rate(total - tenth, total)
    return {
        "files": total,
        "seconds": round(elapsed, 1),
        "first_10pct_per_s": round(first, 1),
        "last_10pct_per_s": round(last, 1),
        "last_over_first": round(last / first, 2) if first else None,
        "per_tenth_per_s": [round(rate(k * tenth, (k + 1) * tenth), 1) for k in range(10)],
        # CPU milliseconds per file in each tenth: the writer (this process) and the decoding workers. Wall
        # throughput moves with the other jobs on the machine; CPU per file moves only with our own work.
        "cpu_ms_per_file_writer_workers": [
            (round(1000 * (b[1] - a[1]) / max(1, b[0] - a[0]), 3), round(1000 * (b[2] - a[2]) / max(1, b[0] - a[0]), 3))
            for a, b in zip([(0, *cpu_start), *cpu_marks], cpu_marks, strict=False)
        ],
        "tenths_done_s_rss_parent_workers_mb": by_tenth,
        "rss_start_mb": round(rss_start / 2**20),
        "rss_after_mb": round(rss_after_first / 2**20),
        "rss_peak_parent_mb": round(peak[0][0] / 2**20),
        "rss_peak_workers_mb": round(peak[0][1] / 2**20),
        "reimport_s": round(reimport, 1),
        "reimport_added": again.added,
        "reimport_skipped": again.skipped,
        "load": load(),
    }


# --- parent ------------------------------------------------------------------------------------------------


def _env(workdir: Path, src: Path | None) -> dict[str, str]:
    import gui

    env = gui._env(workdir)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def _child(kind: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, f"--child-{kind}", *args], env=env, capture_output=True, text=True, timeout=3000
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-6000:])
        raise SystemExit(f"child {kind} failed")
    return json.loads(next(line for line in out.stdout.splitlines()[::-1] if line.startswith("{")))


def _before_src(workdir: Path, ref: str) -> Path:
    target = workdir / f"before-src-{ref}"
    if not target.is_dir():
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", ref, "src", "config", "alembic", "alembic.ini"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


def _after_project(workdir: Path) -> Path:
    """A copy of the generated project migrated by this checkout (thumbnails and images shared by links)."""
    source = workdir / "projects" / "bench"
    target_dir = workdir / "after" / "projects"
    target = target_dir / "bench"
    if not (target / "database.db").exists():
        target.mkdir(parents=True, exist_ok=True)
        for name in ("database.db", "database.db-wal"):
            if (source / name).exists():
                shutil.copyfile(source / name, target / name)
        for folder in ("thumbnails", "images"):
            if not (target / folder).exists():
                (target / folder).symlink_to(source / folder)
        env = _env(workdir, None) | {"LORAIRO_DATABASE_DIR": str(target_dir)}
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "from lorairo.services.configuration_service import ConfigurationService\n"
             "from lorairo.services.project_service import ProjectService\n"
             "ProjectService(ConfigurationService()).open('bench').close()"],
            env=env, check=True,
        )  # fmt: skip
        print(f"migrated the copy in {time.perf_counter() - t0:.1f} s (one-time upgrade of a 1M project)")
    return target


def _empty_project(workdir: Path, label: str, env: dict[str, str]) -> Path:
    projects = workdir / f"empty-{label}"
    shutil.rmtree(projects, ignore_errors=True)
    projects.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-c", "from lorairo.services.configuration_service import ConfigurationService\n"
         "from lorairo.services.project_service import ProjectService\n"
         "ProjectService(ConfigurationService()).create('bench').close()"],
        env=env | {"LORAIRO_DATABASE_DIR": str(projects)}, check=True,
    )  # fmt: skip
    return projects / "bench"


def make_real_folder(workdir: Path, count: int, kind: str = "distinct") -> Path:
    """`count` small JPEGs in sub-folders of 1,000.

    ``distinct``: each file its own random 12x12 colour pattern scaled to 96 px (pHashes as spread as photos';
    a few near-duplicates by chance). ``bursts``: 16 noise images with a per-file brightness offset (the first
    version of this generator): 99 % of the files are near-duplicates of earlier ones, like video frames or
    burst shots, the worst case for the pHash band index."""
    import numpy as np
    from PIL import Image

    folder = workdir / (f"real-{count}" if kind == "bursts" else f"real-{count}-{kind}")
    done = folder / ".complete"
    if done.exists():
        return folder
    rng = random.Random(5)
    base = [Image.effect_noise((96, 96), 40 + k).convert("RGB") for k in range(16)] if kind == "bursts" else []
    for i in range(count):
        sub = folder / f"{i // 1000:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        if kind == "bursts":
            image = base[i % 16].point(lambda v, o=rng.randint(0, 255): (v + o) % 256)
            image.putpixel((i % 96, (i // 96) % 96), (i % 256, (i >> 8) % 256, (i >> 16) % 256))
        else:
            pattern = np.random.default_rng(i).integers(0, 256, (12, 12, 3), dtype=np.uint8)
            image = Image.fromarray(pattern).resize((96, 96), Image.Resampling.BILINEAR)
        image.save(sub / f"r_{i:06d}.jpg", quality=80)
    done.touch()
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/scale1m"))
    parser.add_argument("--before-ref", default="")
    parser.add_argument("--import-files", type=int, default=300)
    parser.add_argument("--import-rounds", type=int, default=1, help="imports into each project, alternating")
    parser.add_argument("--real-import", type=int, default=0)
    parser.add_argument("--real-kind", choices=("distinct", "bursts"), default="distinct")
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument(
        "--before-db", type=Path, help="measure 'before' on this project folder (read only) instead of WORKDIR's"
    )
    parser.add_argument("--after-db", type=Path, help="measure 'after' on this project folder (already migrated)")
    parser.add_argument(
        "--sql-parts", default="counts,statistics,sorts", help="besides filters, opening: counts (tags panel), ..."
    )
    parser.add_argument("--only", default="sql,memory,import,real")
    for hidden in ("sql", "memory", "import", "real"):
        parser.add_argument(f"--child-{hidden}", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_sql is not None:
        print(json.dumps(child_sql(Path(args.child_sql[0]), set(args.child_sql[1].split(",")))))
        return
    if args.child_memory is not None:
        print(json.dumps(child_memory(Path(args.child_memory[0]))))
        return
    if args.child_import is not None:
        paths = [Path(p) for p in args.child_import[:3]]
        print(json.dumps(child_import(*paths, rounds=int(args.child_import[3]) if len(args.child_import) > 3 else 1)))
        return
    if args.child_real is not None:
        print(json.dumps(child_real_import(*(Path(p) for p in args.child_real))))
        return

    import gui

    workdir = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    ref = (
        args.before_ref
        or subprocess.run(
            ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()[:12]
    )
    before_src = _before_src(workdir, ref)
    if not args.after_db and not (workdir / "projects" / "bench" / "database.db").exists():
        # Generated by the "before" version (its schema); afterwards never opened by this checkout's LoRAIro,
        # which would migrate it.
        subprocess.run(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import gui; "
             f"from pathlib import Path; gui.build_project(Path({str(workdir)!r}), {args.images})"],
            env=_env(workdir, before_src), check=True,
        )  # fmt: skip
    after_root = args.after_db or _after_project(workdir)
    versions = {"after": (after_root, None)}
    if not args.skip_before:
        versions = {"before": (args.before_db or workdir / "projects" / "bench", before_src), **versions}
    print(f"machine load (1/5/15 min) at start: {load()}; before = {ref}, after = this checkout")
    results: dict[str, dict[str, Any]] = {}
    only = set(args.only.split(","))
    for label, (root, src) in versions.items():
        env = _env(workdir, src) | {"LORAIRO_DATABASE_DIR": str(root.parent)}
        figures: dict[str, Any] = {}
        if "sql" in only:
            figures["sql"] = _child("sql", [str(root / "database.db"), args.sql_parts], env)
        if "memory" in only and label == "after":
            figures["memory"] = _child("memory", [str(root / "database.db")], env)
        if "import" in only:
            folder = gui.make_import_folder(workdir, args.import_files)
            empty = _empty_project(workdir, label, env)
            figures["import"] = _child("import", [str(root), str(folder), str(empty), str(args.import_rounds)], env)
        results[label] = figures
        print(f"--- {label}\n{json.dumps(figures, indent=1)}", flush=True)
    if "real" in only and args.real_import:
        folder = make_real_folder(workdir, args.real_import, args.real_kind)
        env = _env(workdir, None)
        empty = _empty_project(workdir, "real", env)
        results["real_import"] = _child(
            "real", [str(empty), str(folder)], env | {"LORAIRO_DATABASE_DIR": str(empty.parent)}
        )
        print(f"--- real import\n{json.dumps(results['real_import'], indent=1)}")
    print(f"machine load (1/5/15 min) at end: {load()}")


if __name__ == "__main__":
    main()
