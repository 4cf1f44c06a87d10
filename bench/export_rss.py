"""Peak memory of a real export over a large selection of a 1M project, before and after (issue 20).

    uv run python bench/export_rss.py --project-dir /tmp/exportmem/p1m/projects/bench --sizes 50000,200000 \
        [--before-src /tmp/exportmem/old/src] [--ref main=/tmp/main/src ...] [--filter '"tag 1"|"tag 4"']

The 1M bench project (bench/scale.py) has database rows but no image files. For the first N ids the filter
selects, this script hard-links one small PNG at each image's stored path (cheap: no image data per image),
then exports those N images in a child process per run with `ExportService.export` (what `lorairo export
--filter` runs), kohya-jsonl (a metadata file of N rows), original sizes (images copied byte for byte), the
configured worker pool. Printed per run: the export dialog's preview of those N images (cold, then again with
another option), the export's wall time, images exported, peak resident memory of the exporting
process during the export (VmRSS sampled every 50 ms; the workers are separate processes), CPU seconds of the
exporting process and of its workers (which other jobs on a shared machine do not change, unlike wall time),
and the load average. `--before-src` (label "before") and each `--ref LABEL=SRC` run the same on another
checkout's src/ (PYTHONPATH) for comparison, right after this checkout's run of the same size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from machine import load, rss_mb  # bench/machine.py (the script's folder is on the path)
from PIL import Image


def child(project_dir: Path, filter_text: str, count: int, target: Path) -> dict[str, Any]:
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.export_service import ExportService
    from lorairo.services.filter_language import parse_filter
    from lorairo.services.image_query_service import ImageQueryService
    from lorairo.services.project_service import ProjectService
    from lorairo.services.quality_rules import QualityThresholds

    config = ConfigurationService()
    project = ProjectService(config).open(project_dir.name)
    ids = ImageQueryService(project.db, QualityThresholds.from_config(config.get)).query_ids(parse_filter(filter_text))
    ids = sorted(ids)[:count]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    service = ExportService(config, project)
    opts = service.default_options(
        target, format="kohya-jsonl", image_ids=tuple(ids), resolution=None, trigger_words=("sks",), force=True
    )
    peak = [0]
    done = threading.Event()
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)

    def sample() -> None:  # resident memory during the export itself (the id query before it peaks apart)
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    result = service.export(opts)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    own_end, workers_end = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb, after_mb = max(peak[0], rss_mb()), rss_mb()
    # The export dialog's preview over the same ids, after the export's figures are taken (`load` then `preview`,
    # as its worker runs them), cold and again with another option.
    t0 = time.perf_counter()
    service.load(opts.image_ids)
    service.preview(opts, ids[0])
    preview_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    service.preview(opts.with_changes(underscores_to_spaces=False), ids[0])
    preview_again_s = time.perf_counter() - t0
    out = {
        "images": len(ids),
        "exported": result.exported,
        "failed": len(result.failures),
        "preview_s": round(preview_s, 2),
        "preview_again_s": round(preview_again_s, 2),
        "export_s": round(wall, 1),
        # the exporting process (its sampler thread included, ~1 %) and its worker pool, which has ended
        "cpu_s": round(own_end.ru_utime + own_end.ru_stime - own.ru_utime - own.ru_stime, 1),
        "workers_cpu_s": round(workers_end.ru_utime + workers_end.ru_stime - workers.ru_utime - workers.ru_stime, 1),
        "rss_before_export_mb": rss_before,
        "rss_peak_during_export_mb": peak_mb,
        "rss_after_export_mb": after_mb,
    }
    project.close()
    return out


def link_images(project_dir: Path, filter_ids: list[int]) -> None:
    """One tiny PNG, hard-linked at each selected image's stored path (skips those already there)."""
    linked = 0
    db = sqlite3.connect(project_dir / "database.db")
    try:
        for start in range(0, len(filter_ids), 900):
            chunk = filter_ids[start : start + 900]
            rows = db.execute(
                f"SELECT file_path FROM images WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            for (file_path,) in rows:
                path = project_dir / file_path
                if not path.exists():
                    seed = project_dir.parent / f"bench-seed-{linked // 60_000}.png"  # ext4: 65,000 links a file
                    if not seed.exists():
                        Image.new("RGB", (8, 8), (120, 60, 30)).save(seed)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.link(seed, path)
                    linked += 1
    finally:
        db.close()


def selected_ids(project_dir: Path, filter_text: str, env: dict[str, str]) -> list[int]:
    code = (
        "import json,sys;from lorairo.services.configuration_service import ConfigurationService as C;"
        "from lorairo.services.project_service import ProjectService as P;"
        "from lorairo.services.filter_language import parse_filter as f;"
        "from lorairo.services.image_query_service import ImageQueryService as Q;"
        "from lorairo.services.quality_rules import QualityThresholds as T;c=C();p=P(c).open(sys.argv[1]);"
        "print(json.dumps(sorted(Q(p.db,T.from_config(c.get)).query_ids(f(sys.argv[2])))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, project_dir.name, filter_text], env=env, capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout.splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project-dir", type=Path, default=Path("/tmp/exportmem/p1m/projects/bench"))
    parser.add_argument("--filter", default='"tag 1"|"tag 4"')
    parser.add_argument("--sizes", default="50000,200000")
    parser.add_argument("--before-src", type=Path)
    parser.add_argument("--before-max", type=int, default=50_000, help="run the other sources up to this size only")
    parser.add_argument("--ref", action="append", default=[], help="LABEL=SRC: another checkout's src/ to run too")
    parser.add_argument("--out", type=Path, default=Path("/tmp/exportmem/export-rss-out"))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        root, text, count, target = args.child
        print(json.dumps(child(Path(root), text, int(count), Path(target))))
        return

    project_dir = args.project_dir.resolve()
    home = args.out / "home"
    env = os.environ | {
        "LORAIRO_DATABASE_DIR": str(project_dir.parent),
        "LORAIRO_CONFIG_PATH": str(home / "lorairo.toml"),
        "LORAIRO_LOG_LEVEL": "WARNING",
    }
    sizes = [int(n) for n in args.sizes.split(",")]
    print(f"load at start: {load()}; filter {args.filter}", flush=True)
    ids = selected_ids(project_dir, args.filter, env)
    t0 = time.perf_counter()
    link_images(project_dir, ids[: max(sizes)])
    print(f"selected {len(ids)}; image files linked for the first {max(sizes)} in {time.perf_counter() - t0:.0f} s")
    runs: list[tuple[str, Path | None]] = [("after", None)]
    runs += [("before", args.before_src)] if args.before_src else []
    runs += [(label, Path(src)) for label, src in (ref.split("=", 1) for ref in args.ref)]
    for count in sizes:
        for label, src in runs:
            if label != "after" and count > args.before_max:
                continue
            target = args.out / f"{label}-{count}"
            shutil.rmtree(target, ignore_errors=True)
            run_env = env | ({"PYTHONPATH": str(src)} if src else {})
            started = load()
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(project_dir), args.filter, str(count), str(target)],
                env=run_env,
                capture_output=True,
                text=True,
                timeout=3600,
            )
            if out.returncode != 0:
                sys.stderr.write(out.stderr[-3000:])
                raise SystemExit(f"{label} {count} failed")
            figures = json.loads(out.stdout.splitlines()[-1])
            print(json.dumps({"run": label, "load_start": started, **figures, "load_end": load()}), flush=True)
            shutil.rmtree(target, ignore_errors=True)
    print(f"load at end: {load()}")


if __name__ == "__main__":
    main()
