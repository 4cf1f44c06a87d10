"""Export and annotate over a filter that selects ~500k images of a 1M project, before and after (issue 20).

    uv run python bench/export_scale.py --workdir /tmp/scale1m [--filter '"tag 1"|"tag 4"'] [--before-limit 50000]

Uses the projects bench/scale.py keeps: WORKDIR/projects/bench ("before", run by `git archive <merge-base>` on
PYTHONPATH) and WORKDIR/after/projects/bench (this checkout). Each version runs in its own child process and
prints, with the machine's load average:
  * the selection: `ImageQueryService.query_ids(filter)` (what `lorairo export --filter` and the dialog's
    "filter" scope hand to the export)
  * the export preview as the dialog asks for it (`ExportService.load` then `preview(options, image_id)`),
    first (cold) and again with other options (cached selection)
  * planning the export (`export.plan.plan_items`: every image composed, what `export()` does before writing)
  * the annotation plan over the same ids (`AnnotationService.plan`: which images a model still has to do)
  * peak resident memory of the child (ru_maxrss) and after each step
"Before" loads every image and tag row as ORM objects; it is run on the first `--before-limit` ids of the
selection only (the full 500k would need several GB), and its figures are per that many images.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from machine import load, rss_mb  # noqa: E402  (bench/ on the path above)


def child(project_root: Path, filter_text: str, limit: int) -> dict[str, Any]:
    from lorairo.services.annotation_service import AnnotationService
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.export_service import ExportService

    try:
        from lorairo.services.export.plan import plan_items
    except ImportError:  # the "before" version: the method of the service

        def plan_items(items: Any, opts: Any) -> Any:
            return service._plan(items, opts)

    from lorairo.services.filter_language import parse_filter
    from lorairo.services.image_query_service import ImageQueryService
    from lorairo.services.project_service import ProjectService
    from lorairo.services.quality_rules import QualityThresholds

    out: dict[str, Any] = {"load_at_start": load(), "rss_start_mb": rss_mb()}
    config = ConfigurationService()
    project = ProjectService(config).open(project_root.name)
    t0 = time.perf_counter()
    ids = ImageQueryService(project.db, QualityThresholds.from_config(config.get)).query_ids(parse_filter(filter_text))
    out["query_ids_s"] = round(time.perf_counter() - t0, 2)
    out["selected"] = len(ids)
    if limit:
        ids = ids[:limit]
    out["used"] = len(ids)
    service = ExportService(config, project)
    options = service.default_options(Path("/tmp/export-scale-bench-out"), image_ids=tuple(ids))
    t0 = time.perf_counter()
    selection = service.load(options.image_ids)  # what the dialog's preview worker does first
    shown = selection.items[3 % len(selection.items)]
    preview = service.preview(options, image_id=shown.image_id)
    out["preview_first_s"] = round(time.perf_counter() - t0, 2)
    out["preview"] = {
        "images": preview.image_count,
        "excluded": preview.excluded,
        "tags": preview.tag_count,
        "buckets": len(preview.buckets),
        "sampled": getattr(preview, "sampled", 0),
        "top": preview.tag_frequency[:3],
    }
    out["rss_after_preview_mb"] = rss_mb()
    t0 = time.perf_counter()
    service.preview(options.with_changes(min_confidence=0.5), image_id=shown.image_id)
    out["preview_again_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    planned, skipped = plan_items(selection.items, options.validated())
    out["plan_export_s"] = round(time.perf_counter() - t0, 2)
    out["planned"] = len(planned) + len(skipped)
    out["rss_after_plan_mb"] = rss_mb()
    del planned, skipped
    t0 = time.perf_counter()
    plan = AnnotationService(config, project).plan(ids, ["wd-v1-4-vit-tagger-v2"])
    out["annotate_plan_s"] = round(time.perf_counter() - t0, 2)
    out["annotate_pending"] = sum(len(v) for v in plan.pending.values())
    out["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    out["load_at_end"] = load()
    project.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/scale1m"))
    parser.add_argument("--filter", default='"tag 1"|"tag 4"')
    parser.add_argument("--before-limit", type=int, default=50_000)
    parser.add_argument("--after-limits", default="50000,0", help="0 = the whole selection")
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1], int(args.child[2]))))
        return

    import gui
    import scale

    workdir = args.workdir
    ref = subprocess.run(
        ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()[:12]
    runs: list[tuple[str, Path, Path | None, int]] = []
    if not args.skip_before:
        runs.append(("before", workdir / "projects" / "bench", scale._before_src(workdir, ref), args.before_limit))
    runs += [("after", workdir / "after" / "projects" / "bench", None, int(n)) for n in args.after_limits.split(",")]
    print(f"machine load (1/5/15 min) at start: {load()}; filter {args.filter}; before = {ref}")
    for label, root, src, limit in runs:
        env = gui._env(workdir) | {"LORAIRO_DATABASE_DIR": str(root.parent)}
        if src is not None:
            env["PYTHONPATH"] = str(src)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(root), args.filter, str(limit)],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if out.returncode != 0:
            sys.stderr.write(out.stderr[-4000:])
            raise SystemExit(f"{label} child failed")
        figures = json.loads(next(line for line in out.stdout.splitlines()[::-1] if line.startswith("{")))
        print(f"--- {label} (ids used: {limit or 'all'})\n{json.dumps(figures, indent=1)}", flush=True)
    print(f"machine load (1/5/15 min) at end: {load()}")


if __name__ == "__main__":
    main()
