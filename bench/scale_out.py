"""The Ray engine's overhead: the same images with the same model on the local engine and on a local 2-CPU Ray
cluster, in one run, each into its own freshly imported project (so both really annotate and store).

    flock /work/wt/bench.lock timeout 900 env RAY_ENABLE_UV_RUN_RUNTIME_ENV=0 \
        uv run --extra ray python bench/scale_out.py --images 1000
    ... bench/scale_out.py --images 200 --order ray-first      # quick; the other order, for the load's drift

Prints the load average at start and end, images/s of both engines end to end (model load included in both; the
Ray figure also includes starting the replica actor, not `ray.init`, which is printed apart), then a second Ray run
on the same cluster from the same process into a third project (the desktop app's next run: Ray Data's per-cluster
helper actors and this process's Ray Data import already exist; a new replica actor still starts), where the time went
(until the first batch was stored = start-up; after it = steady state, measured from the progress callbacks),
the ratio ray / local for both (target >= 0.8 end to end on one machine: the engine's overhead), the measured
per-replica rate and a projection for 8 GPU nodes from it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from annotate import make_corpus


@dataclass
class Clock:
    """Wall time of a run, and when each stored batch was reported (progress callbacks)."""

    started: float = 0.0
    ended: float = 0.0
    marks: list[tuple[float, int]] = field(default_factory=list)

    def progress(self, done: int, _total: int, _message: str) -> None:
        self.marks.append((time.perf_counter(), done))

    @property
    def total_s(self) -> float:
        return self.ended - self.started

    @property
    def first_batch_s(self) -> float:
        return self.marks[0][0] - self.started if self.marks else self.total_s

    def steady_rate(self) -> float:
        """Images per second between the first and the last stored batch (start-up excluded)."""
        if len(self.marks) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self.marks[0], self.marks[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0


def _load() -> str:
    return Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else str(os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--model", default="open-nsfw")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--rows-per-batch", type=int, default=32, help="images per Ray batch")
    parser.add_argument("--order", choices=("local-first", "ray-first"), default="local-first")
    parser.add_argument("--nodes", type=int, default=8, help="GPU nodes of the projection")
    parser.add_argument("--gpu-speedup", type=float, default=20.0, help="assumed GPU / 1-CPU replica speed")
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    print(f"load at start: {_load()}", flush=True)

    with tempfile.TemporaryDirectory(prefix="lorairo-bench-scale-") as tmp:
        root = Path(tmp)
        os.environ["LORAIRO_CONFIG_PATH"] = str(root / "config" / "lorairo.toml")
        os.environ["LORAIRO_DATABASE_DIR"] = str(root / "projects")
        from lorairo.services.annotation_engines.ray_engine import require_ray

        ray = require_ray()  # the engine's own environment settings, before Ray reads them
        from sqlalchemy import text

        from lorairo.services.annotation_engines.ray_engine import RayOptions, run_on_ray
        from lorairo.services.annotation_service import AnnotationService
        from lorairo.services.configuration_service import ConfigurationService
        from lorairo.services.image_processing_service import ImageProcessingService
        from lorairo.services.project_service import ProjectService

        src = root / "src"
        src.mkdir()
        make_corpus(src, args.images)
        config = ConfigurationService()
        projects = {}
        for name in ("local", "ray", "ray-next"):
            project = ProjectService(config).create(f"bench-{name}")
            ImageProcessingService(config, project).import_paths([src])
            with project.db.session() as s:
                ids = [r[0] for r in s.execute(text("SELECT id FROM images ORDER BY id"))]
            projects[name] = (project, ids)

        options = RayOptions(replicas=1, rows_per_batch=args.rows_per_batch)
        clocks = {"local": Clock(), "ray": Clock(), "ray-next": Clock()}
        init_s = 0.0

        def run_local() -> None:
            project, ids = projects["local"]
            clock = clocks["local"]
            clock.started = time.perf_counter()
            summary = AnnotationService(config, project).run(ids, [args.model], progress=clock.progress)
            clock.ended = time.perf_counter()
            assert summary.annotated.get(args.model) == len(ids), summary

        def run_ray() -> None:
            nonlocal init_s
            started = time.perf_counter()
            ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
            init_s = time.perf_counter() - started
            for name in ("ray", "ray-next"):
                project, ids = projects[name]
                clock = clocks[name]
                clock.started = time.perf_counter()
                summary = run_on_ray(
                    AnnotationService(config, project), ids, [args.model], options, progress=clock.progress
                )
                clock.ended = time.perf_counter()
                assert summary.annotated.get(args.model) == len(ids), summary
            ray.shutdown()

        for run in (run_local, run_ray) if args.order == "local-first" else (run_ray, run_local):
            run()
        for project, _ in projects.values():
            project.close()

    n = args.images
    local, remote, again = clocks["local"], clocks["ray"], clocks["ray-next"]
    local_rate, ray_rate, again_rate = n / local.total_s, n / remote.total_s, n / again.total_s
    print(f"load at end: {_load()}")
    print(f"images: {n}  model: {args.model}  ray cluster: {args.cpus} CPUs, 1 replica, {args.rows_per_batch}/batch")
    print(f"machine: {os.cpu_count()} cores; order: {args.order}")
    print(f"ray.init (not timed below): {init_s:.1f} s")
    rows = (("local", local, local_rate), ("ray", remote, ray_rate), ("ray next run", again, again_rate))
    for name, clock, rate in rows:
        print(
            f"{name:12} engine: {rate:6.1f} images/s end to end ({clock.total_s:.1f} s); first batch stored after "
            f"{clock.first_batch_s:.1f} s; steady state {clock.steady_rate():.1f} images/s"
        )
    steady = remote.steady_rate() / local.steady_rate() if local.steady_rate() else 0.0
    print(f"ratio ray / local: {ray_rate / local_rate:.2f} end to end (target >= 0.8), {steady:.2f} steady state")
    print(f"ratio ray next run / local: {again_rate / local_rate:.2f} end to end")
    per_replica = remote.steady_rate() or ray_rate
    projected = per_replica * args.gpu_speedup * args.nodes
    print(f"measured per replica: {per_replica:.1f} images/s (CPU, steady state)")
    print(
        f"projection, {args.nodes} GPU nodes x 1 replica at {args.gpu_speedup:.0f}x a CPU replica: "
        f"{projected:.0f} images/s = {projected * 3600 / 1e6:.2f} M images/h (the driver's writer then bounds it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
