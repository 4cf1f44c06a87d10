"""Import benchmark: throughput against plain Pillow thumbnailing, memory, re-import, pHash fidelity, 100k search.

Run from the repository root:

    uv run python bench/ingest.py --count 1000

It generates a realistic mixed corpus once (70% JPEG 1024-3000 px q90 photo-like, 20% PNG with alpha
1024-2048 px, 10% WebP) under bench/_out/ (git-ignored), then in the same run:

1. reference: plain ``Image.open(p).thumbnail((512, 512))`` over every file with the same number of processes;
2. ``lorairo import`` (the real CLI, in a subprocess) into a fresh project, sampling the RSS of the import
   process and its workers; then the same import again (must import 0, in seconds); then the reference again
   (the machine is shared: the reference is the mean of the run before and after);
3. pHash fidelity: the stored (512 px thumbnail) pHash against the full-decode pHash for every image, and the
   smallest distance between distinct images;
4. JPEG draft (reduced) decode against a full decode;
5. thumbnail encoding, JPEG against WebP;
6. the near-duplicate search over 100k pHashes.

Figures go to stdout and bench/_out/ingest-results.json; record them in docs/benchmarks.md.

``--quality-ab`` instead measures what the quality checks (issue 16) add to an import: the same corpus imported
into fresh projects with ``quality.compute_at_import`` true and false, alternating (ABAB..., so drift on a shared
machine hits both), plus the in-process cost of `quality.measure` against the whole per-file work of a worker.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support.images: the corpus generator shared with the tests

from lorairo.services.importing.imaging import encode_thumbnail, full_phash, to_rgb  # noqa: E402
from lorairo.services.importing.near_duplicates import PhashIndex, popcount  # noqa: E402
from tests.support import images as gen  # noqa: E402

OUT = ROOT / "bench" / "_out"
CORPUS_VERSION = 2  # bump when tests/support/images.py changes what it draws


# --- corpus --------------------------------------------------------------------------------------------


def _make_slice(args: tuple[str, int, int, int]) -> int:
    folder, start, stop, seed = args
    rng_sides = np.random.default_rng(seed * 7919 + start)
    for index in range(start, stop):
        roll = index % 10
        kind = "png" if roll in (3, 7) else "webp" if roll == 9 else "jpg"
        low, high = (1024, 2048) if kind == "png" else (1024, 3000)
        long_side = int(rng_sides.integers(low, high + 1))
        short_side = int(long_side * rng_sides.uniform(0.6, 1.0))
        width, height = (long_side, short_side) if rng_sides.random() < 0.6 else (short_side, long_side)
        target = Path(folder) / f"{index // 100:03d}" / f"img_{index:05d}.{kind}"
        image_seed = seed * 1_000_003 + index
        if kind == "jpg":
            gen.write_jpeg(target, width, height, image_seed, quality=90)
        elif kind == "png":
            gen.write_png(target, width, height, image_seed, alpha=True)
        else:
            gen.write_webp(target, width, height, image_seed, quality=90)
    return stop - start


def ensure_corpus(count: int, seed: int, jobs: int) -> Path:
    folder = OUT / f"corpus-{count}-{seed}-v{CORPUS_VERSION}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    slices = [(str(folder), i, min(i + 20, count), seed) for i in range(0, count, 20)]
    with ProcessPoolExecutor(jobs) as pool:
        done = 0
        for made in pool.map(_make_slice, slices):
            done += made
            print(f"\rgenerating corpus: {done}/{count}", end="", flush=True)
    marker.write_text("ok")
    print(f"\ngenerated {count} images in {time.perf_counter() - started:.0f} s into {folder}")
    return folder


def corpus_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


# --- reference -----------------------------------------------------------------------------------------


def _reference_one(path: str) -> int:
    with Image.open(path) as image:
        image.thumbnail((512, 512))
        return image.width


def reference(files: list[Path], jobs: int) -> float:
    """Images/s of plain Pillow thumbnailing with `jobs` processes (forked, like the CLI's import)."""
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    started = time.perf_counter()
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        for _ in pool.map(_reference_one, [str(p) for p in files], chunksize=4):
            pass
    return len(files) / (time.perf_counter() - started)


# --- import (the real CLI) -----------------------------------------------------------------------------


def _watch_memory(proc: subprocess.Popen[bytes]) -> tuple[float, float]:
    """Peak summed RSS (sampled every 0.1 s, cheap) and PSS (every 1 s: reading smaps costs CPU the import
    would miss) of `proc` and its children, in MiB, until it exits."""
    parent = psutil.Process(proc.pid)
    peak_rss = peak_pss = 0.0
    tick = 0
    while proc.poll() is None:
        rss = pss = 0
        with_pss = tick % 10 == 0
        try:
            members = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for member in members:
            try:
                rss += member.memory_info().rss
                if with_pss:
                    pss += getattr(member.memory_full_info(), "pss", 0)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        peak_rss = max(peak_rss, rss / 2**20)
        if with_pss:
            peak_pss = max(peak_pss, pss / 2**20)
        tick += 1
        time.sleep(0.1)
    proc.wait()
    return peak_rss, peak_pss


def run_cli_import(src: Path, env: dict[str, str], jobs: int) -> tuple[dict, float, float, float]:
    """Run `lorairo import --json`; return (summary, wall seconds, peak RSS MiB, peak PSS MiB) of the tree."""
    command = [sys.executable, "-m", "lorairo", "import", str(src), "--project", "bench", "--jobs", str(jobs)]
    started = time.perf_counter()
    # Output to files, not pipes: the JSON of 1000 files is larger than a pipe buffer.
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen([*command, "--json"], env=env, stdout=out_file, stderr=err_file)
        peak_rss, peak_pss = _watch_memory(proc)
        wall = time.perf_counter() - started
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if proc.returncode != 0:
        raise SystemExit(f"import failed ({proc.returncode}): {err.decode()[-2000:]}")
    return json.loads(out), wall, peak_rss, peak_pss


# --- pHash fidelity, decode, encode, search ------------------------------------------------------------


def _full_phash(path: str) -> str:
    return full_phash(Path(path).read_bytes())


def phash_fidelity(db: Path, jobs: int) -> dict[str, float]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT original_path, phash FROM images").fetchall()
    with ProcessPoolExecutor(jobs) as pool:
        full = list(pool.map(_full_phash, [p for p, _h in rows], chunksize=4))
    distances = [bin(int(a, 16) ^ int(h, 16)).count("1") for (_p, h), a in zip(rows, full, strict=True)]
    hashes = np.array([int(h, 16) for _p, h in rows], dtype=np.uint64)
    pairwise = popcount(hashes[:, None] ^ hashes[None, :]).astype(np.int32)
    np.fill_diagonal(pairwise, 64)
    return {
        "images": len(rows),
        "max_thumb_vs_full": max(distances),
        "mean_thumb_vs_full": float(np.mean(distances)),
        "min_distinct": int(pairwise.min()),
        "distinct_pairs_below_16": int((pairwise < 16).sum() // 2),
        "distinct_pairs_at_or_below_8": int((pairwise <= 8).sum() // 2),
    }


def draft_vs_full(files: list[Path], sample: int = 60) -> dict[str, float]:
    jpegs = [p for p in files if p.suffix == ".jpg"][:sample]
    timings = {}
    for label, draft in (("full", False), ("draft", True)):
        started = time.perf_counter()
        for path in jpegs:
            with Image.open(path) as image:
                if draft:
                    scale = 512 / max(image.size)
                    image.draft(None, (math.ceil(image.width * scale), math.ceil(image.height * scale)))
                image.load()
        timings[label] = (time.perf_counter() - started) / len(jpegs) * 1000
    return {"full_ms": timings["full"], "draft_ms": timings["draft"], "speedup": timings["full"] / timings["draft"]}


def thumbnail_encoding(files: list[Path], sample: int = 60) -> dict[str, float]:
    thumbs = []
    for path in files[:sample]:
        with Image.open(path) as image:
            image.thumbnail((512, 512))
            thumbs.append(to_rgb(image))
    result = {}
    for fmt in ("jpeg", "webp"):
        started = time.perf_counter()
        sizes = [len(encode_thumbnail(t, fmt, 85)) for t in thumbs]
        result[f"{fmt}_ms"] = (time.perf_counter() - started) / len(thumbs) * 1000
        result[f"{fmt}_kb"] = float(np.mean(sizes) / 1024)
    return result


def search_at_scale(size: int = 100_000, queries: int = 1000) -> dict[str, float]:
    rng = np.random.default_rng(0)
    values = rng.integers(-(2**63), 2**63 - 1, size=size, dtype=np.int64)
    started = time.perf_counter()
    index = PhashIndex.from_rows([(i + 1, int(v)) for i, v in enumerate(values)])
    build = time.perf_counter() - started
    probes = rng.integers(-(2**63), 2**63 - 1, size=queries, dtype=np.int64)
    started = time.perf_counter()
    for probe in probes:
        index.query(int(probe), threshold=8)
        index.add(size + 1, int(probe))
    per_query = (time.perf_counter() - started) / queries * 1000
    return {"index_size": size, "build_s": build, "query_and_add_ms": per_query}


# --- main ----------------------------------------------------------------------------------------------


def quality_ab(src: Path, files: list[Path], jobs: int, rounds: int) -> dict[str, float]:
    """Import wall time with and without quality checks (median of `rounds` alternating imports each)."""
    import resource

    from lorairo.services.importing.imaging import open_checked, reduced_decode
    from lorairo.services.importing.quality import measure, quantization_of
    from lorairo.services.importing.worker import FileTask, WorkerSettings, process_file

    walls: dict[bool, list[float]] = {True: [], False: []}
    # CPU seconds of the import process and its workers (children's rusage): other engineers' jobs on the shared
    # cores stretch the wall time of both sides by different amounts, but not the work each side does.
    cpus: dict[bool, list[float]] = {True: [], False: []}
    for _round in range(rounds):
        for on in (True, False):
            home = Path(tempfile.mkdtemp(prefix="quality-ab-", dir=OUT))
            (home / "config.toml").write_text(f"[quality]\ncompute_at_import = {'true' if on else 'false'}\n")
            env = {
                **os.environ,
                "LORAIRO_CONFIG_PATH": str(home / "config.toml"),
                "LORAIRO_DATABASE_DIR": str(home / "projects"),
            }
            subprocess.run([sys.executable, "-m", "lorairo", "project", "create", "bench"], env=env, check=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            _summary, wall, _rss, _pss = run_cli_import(src, env, jobs)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            walls[on].append(wall)
            cpus[on].append(cpu)
            print(f"  import with checks {'on ' if on else 'off'}: {wall:.2f} s wall, {cpu:.2f} s CPU")
            shutil.rmtree(home, ignore_errors=True)
    on_s, off_s = statistics.median(walls[True]), statistics.median(walls[False])
    on_cpu, off_cpu = statistics.median(cpus[True]), statistics.median(cpus[False])
    # In-process, one core: the metrics' own cost against everything a worker does for a file.
    sample = files[:100]
    home = Path(tempfile.mkdtemp(prefix="quality-cost-", dir=OUT))
    settings = WorkerSettings(str(home), True, 2**31, 2**31, 512, "jpeg", 85, False, compute_quality=False)
    started = time.process_time()  # CPU time of this process: the machine's load does not stretch it
    for path in sample:
        process_file(FileTask(str(path)), settings)
    per_file = (time.process_time() - started) / len(sample)
    thumbs = []
    for path in sample:
        image = open_checked(path.read_bytes(), 2**31)
        thumbs.append((reduced_decode(image, 512), quantization_of(image)))
    started = time.process_time()
    for thumb, tables in thumbs:
        measure(thumb, tables)
    per_measure = (time.process_time() - started) / len(sample)
    shutil.rmtree(home, ignore_errors=True)
    return {
        "import_on_s": on_s,
        "import_off_s": off_s,
        "import_overhead": on_s / off_s - 1,
        "import_cpu_on_s": on_cpu,
        "import_cpu_off_s": off_cpu,
        "import_cpu_overhead": on_cpu / off_cpu - 1,
        "worker_ms_per_file": per_file * 1000,
        "measure_ms_per_file": per_measure * 1000,
        "measure_share": per_measure / per_file,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quality-ab", action="store_true", help="only the quality checks' import overhead")
    parser.add_argument("--rounds", type=int, default=3, help="alternating imports per side for --quality-ab")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--thumbnail-format", choices=("jpeg", "webp"), default="jpeg")
    args = parser.parse_args()

    src = ensure_corpus(args.count, args.seed, args.jobs)
    files = corpus_files(src)
    megabytes = sum(p.stat().st_size for p in files) / 2**20
    print(f"corpus: {len(files)} files, {megabytes:,.0f} MB, {args.jobs} processes, {os.cpu_count()} cores")
    for path in files:  # warm the page cache so neither side pays for the first read
        path.read_bytes()
    if args.quality_ab:
        ab = quality_ab(src, files, args.jobs, args.rounds)
        print(
            f"quality checks: import {ab['import_on_s']:.2f} s on vs {ab['import_off_s']:.2f} s off "
            f"(median of {args.rounds}): {ab['import_overhead']:+.1%} wall; CPU {ab['import_cpu_on_s']:.2f} s vs "
            f"{ab['import_cpu_off_s']:.2f} s: {ab['import_cpu_overhead']:+.1%}; in-process measure "
            f"{ab['measure_ms_per_file']:.2f} ms of {ab['worker_ms_per_file']:.1f} ms per file "
            f"({ab['measure_share']:.1%})"
        )
        (OUT / "quality-ab-results.json").write_text(json.dumps(ab, indent=2))
        return

    home = Path(tempfile.mkdtemp(prefix="ingest-", dir=OUT))
    env = {
        **os.environ,
        "LORAIRO_CONFIG_PATH": str(home / "config.toml"),
        "LORAIRO_DATABASE_DIR": str(home / "projects"),
    }
    subprocess.run([sys.executable, "-m", "lorairo", "project", "create", "bench"], env=env, check=True)
    if args.thumbnail_format != "jpeg":
        set_format = ["config", "set", "image_processing.thumbnail_format", args.thumbnail_format]
        subprocess.run([sys.executable, "-m", "lorairo", *set_format], env=env, check=True)

    ref_before = reference(files, args.jobs)
    print(f"reference (Pillow thumbnail, {args.jobs} processes): {ref_before:.1f} images/s")
    summary, wall, peak_rss, peak_pss = run_cli_import(src, env, args.jobs)
    rate = len(files) / wall
    print(
        f"lorairo import: {summary['imported'] + summary['near_duplicates']} added in {wall:.1f} s wall "
        f"({rate:.1f} images/s; {summary['images_per_s']:.1f} inside the service), "
        f"peak RSS {peak_rss:.0f} MiB (PSS {peak_pss:.0f} MiB), parent + workers"
    )
    again, wall_again, _rss, _pss = run_cli_import(src, env, args.jobs)
    print(f"re-import: {again['imported']} imported, {again['skipped']} skipped in {wall_again:.2f} s wall")
    ref_after = reference(files, args.jobs)
    ref = (ref_before + ref_after) / 2
    print(f"reference again: {ref_after:.1f} images/s; mean {ref:.1f}; ratio import/reference {rate / ref:.2f}")

    db = home / "projects" / "bench" / "database.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
    thumbs = sum(1 for p in (home / "projects" / "bench" / "thumbnails").rglob("*") if p.is_file())
    fidelity = phash_fidelity(db, args.jobs)
    print(f"rows {rows}, thumbnails {thumbs}; pHash: {fidelity}")
    draft = draft_vs_full(files)
    print(f"JPEG decode: full {draft['full_ms']:.1f} ms, draft {draft['draft_ms']:.1f} ms (x{draft['speedup']:.1f})")
    encoding = thumbnail_encoding(files)
    print(f"thumbnail encode: {encoding}")
    search = search_at_scale()
    print(f"near-duplicate search: {search}")

    results = {
        "command": f"uv run python bench/ingest.py --count {args.count} --jobs {args.jobs}",
        "files": len(files),
        "corpus_mb": megabytes,
        "jobs": args.jobs,
        "reference_before": ref_before,
        "reference_after": ref_after,
        "import_wall_s": wall,
        "import_images_per_s": rate,
        "ratio": rate / ref,
        "peak_rss_mib": peak_rss,
        "peak_pss_mib": peak_pss,
        "reimport_wall_s": wall_again,
        "reimport_imported": again["imported"],
        "summary": {k: v for k, v in summary.items() if k != "files"},
        "rows": rows,
        "thumbnails": thumbs,
        "phash": fidelity,
        "draft": draft,
        "encoding": encoding,
        "search": search,
    }
    (OUT / "ingest-results.json").write_text(json.dumps(results, indent=2))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
