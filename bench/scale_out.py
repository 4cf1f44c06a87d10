"""The Ray engine's overhead: the same images with the same model on the local engine and on a local 2-CPU Ray
cluster, in one run, each into its own freshly imported project (so both really annotate and store).

    RAY_ENABLE_UV_RUN_RUNTIME_ENV=0 uv run --extra ray python bench/scale_out.py --images 1000
    RAY_ENABLE_UV_RUN_RUNTIME_ENV=0 uv run --extra ray python bench/scale_out.py --images 200   # quick

Prints images/s of both, the ratio ray / local (target >= 0.8 on one machine: the engine's overhead), the
per-replica throughput measured on the cluster, and a projection for 8 GPU nodes from it. Ray's start-up and
actor/model start are outside the timed part for neither engine: both timings include loading the model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from annotate import make_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--model", default="open-nsfw")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--nodes", type=int, default=8, help="GPU nodes of the projection")
    parser.add_argument("--gpu-speedup", type=float, default=20.0, help="assumed GPU / 1-CPU replica speed")
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

    with tempfile.TemporaryDirectory(prefix="lorairo-bench-scale-") as tmp:
        root = Path(tmp)
        os.environ["LORAIRO_CONFIG_PATH"] = str(root / "config" / "lorairo.toml")
        os.environ["LORAIRO_DATABASE_DIR"] = str(root / "projects")
        import ray
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
        for name in ("local", "ray"):
            project = ProjectService(config).create(f"bench-{name}")
            ImageProcessingService(config, project).import_paths([src])
            with project.db.session() as s:
                ids = [r[0] for r in s.execute(text("SELECT id FROM images ORDER BY id"))]
            projects[name] = (project, ids)

        project, ids = projects["local"]
        started = time.perf_counter()
        local = AnnotationService(config, project).run(ids, [args.model])
        local_s = time.perf_counter() - started
        assert local.annotated.get(args.model) == len(ids), local

        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        project, ids = projects["ray"]
        options = RayOptions(replicas=1, rows_per_batch=32)
        started = time.perf_counter()
        remote = run_on_ray(AnnotationService(config, project), ids, [args.model], options)
        ray_s = time.perf_counter() - started
        ray.shutdown()
        assert remote.annotated.get(args.model) == len(ids), remote
        for project, _ in projects.values():
            project.close()

    n = len(ids)
    local_rate, ray_rate = n / local_s, n / ray_s
    per_replica = ray_rate / options.replicas
    projected = per_replica * args.gpu_speedup * args.nodes
    load = os.getloadavg()
    print(f"images: {n}  model: {args.model}  ray cluster: {args.cpus} CPUs, {options.replicas} replica")
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"local engine: {local_rate:6.1f} images/s  ({local_s:.1f} s, model load included)")
    print(f"ray engine:   {ray_rate:6.1f} images/s  ({ray_s:.1f} s, actor start and model load included)")
    print(f"ratio ray / local: {ray_rate / local_rate:.2f}  (target >= 0.8)")
    print(f"measured per replica: {per_replica:.1f} images/s (CPU)")
    print(
        f"projection, {args.nodes} GPU nodes x 1 replica at {args.gpu_speedup:.0f}x a CPU replica: "
        f"{projected:.0f} images/s = {projected * 3600 / 1e6:.2f} M images/h (the driver's writer then bounds it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
