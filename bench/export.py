"""Export benchmark: N generated photos exported as a kohya dataset at 1024 buckets (figures in docs/benchmarks.md).

    uv run python bench/export.py [--images 2000] [--workers 0] [--format kohya] [--workdir DIR] [--single]

Builds a project of JPEG "photos" of mixed sizes and aspect ratios (1200-2400 px on the long side, portrait,
landscape, square, a few with EXIF rotation) with 20-40 tags each, then runs ExportService.export at resolution
1024 (max_bucket_reso 1024, the config default) into an empty folder and prints images per second. `--single`
also runs with one worker process for comparison. Generation is not timed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SIZES = [
    (1600, 2400),
    (2400, 1600),
    (1800, 1800),
    (1200, 1600),
    (1600, 1200),
    (2048, 1152),
    (1152, 2048),
    (1500, 2000),
    (2000, 1500),
    (1365, 2048),
]
VOCAB = [f"tag_{i}" for i in range(600)] + ["photo_(medium)", "^_^", "1girl", "long hair", "smile"]


def _base_jpegs() -> list[tuple[bytes, int, int, int]]:
    """One JPEG per size (and one with EXIF rotation): (bytes, upright width, upright height, orientation)."""
    out = []
    for n, (w, h) in enumerate(SIZES):
        rng = np.random.default_rng(n)
        # smooth gradients plus mild noise: compresses and resizes like a photo, unlike pure noise
        x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
        y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        base = np.stack([x * 200 + y * 40, y * 180 + 30 * np.sin(x * 9 + n), (x + y) * 100 + n * 5], axis=-1)
        pixels = np.clip(base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
        for orientation in (1, 6):
            exif = Image.Exif()
            if orientation != 1:
                exif[0x0112] = orientation
            buf = io.BytesIO()
            Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=90, exif=exif.tobytes())
            out.append((buf.getvalue(), *((h, w) if orientation == 6 else (w, h)), orientation))
    return out


def build_project(workdir: Path, count: int) -> str:
    from lorairo.database.schema import ImageRecord, TagRecord
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.project_service import ProjectService

    config = ConfigurationService()
    project = ProjectService(config).create("bench-export")
    folder = project.root / "images" / "bench"
    folder.mkdir(parents=True)
    started = time.perf_counter()
    bases = _base_jpegs()
    made = []
    for n in range(count):
        # every file distinct (its own SHA-256): a unique tail after the JPEG end marker, which decoders ignore
        data, w, h, orientation = bases[(n % len(SIZES)) * 2 + (1 if n % 25 == 0 else 0)]
        path = folder / f"photo_{n:05d}.jpg"
        path.write_bytes(data + f"lorairo-bench-{n}".encode())
        made.append((n, hashlib.sha256(path.read_bytes()).hexdigest(), w, h, orientation, str(path)))
    rng = random.Random(0)
    with project.db.session(write=True) as s:
        for n, digest, w, h, orientation, path in made:
            rec = ImageRecord(
                file_path=str(Path(path).relative_to(project.root)),
                file_name=Path(path).name,
                original_path=path,
                file_size=Path(path).stat().st_size,
                width=w,
                height=h,
                format="JPEG",
                mode="RGB",
                exif_orientation=orientation,
                hash_value=digest,
                phash=f"{n:016x}",
                phash_int=n,
            )
            s.add(rec)
            s.flush()
            for tag in rng.sample(VOCAB, rng.randint(20, 40)):
                s.add(
                    TagRecord(
                        image_id=rec.id, tag=tag, category="general", source="model", confidence=rng.uniform(0.3, 1.0)
                    )
                )
    project.close()
    print(f"generated {count} images in {time.perf_counter() - started:.1f} s (not part of the figure)")
    return "bench-export"


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the pool's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_export(name: str, out: Path, fmt: str, workers: int) -> None:
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.export_service import ExportService
    from lorairo.services.project_service import ProjectService

    config = ConfigurationService()
    config.update_setting("resources", "max_workers", workers)
    project = ProjectService(config).open(name)
    try:
        service = ExportService(config, project)
        options = service.default_options(
            out, format=fmt, trigger_words=("sks",), class_tokens="woman", resolution=1024
        )
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        result = service.export(options)
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
    finally:
        project.close()
    assert not result.failures, result.failures[:3]
    used = workers or os.cpu_count()
    print(
        f"{fmt} export, {used} worker process(es): {result.exported} images in {elapsed:.1f} s = "
        f"{result.exported / elapsed:.1f} images/s; {len(result.buckets)} buckets: "
        + ", ".join(f"{k} x{v}" for k, v in sorted(result.buckets.items(), key=lambda kv: -kv[1])[:5])
    )
    # CPU time does not depend on what else the machine runs: it gives the rate on idle cores.
    per_image = cpu / result.exported
    print(
        f"  CPU {cpu:.1f} s in all = {per_image * 1000:.0f} ms per image -> {1 / per_image:.1f} images/s per idle "
        f"core ({used / per_image:.1f} images/s on {used} idle cores)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=0, help="0 = all cores")
    parser.add_argument("--format", default="kohya")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--single", action="store_true", help="also run with one worker process")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lorairo-bench-export-"))
    os.environ["LORAIRO_CONFIG_PATH"] = str(workdir / "config" / "lorairo.toml")
    os.environ["LORAIRO_DATABASE_DIR"] = str(workdir / "projects")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, workdir {workdir}")
    try:
        name = build_project(workdir, args.images)
        run_export(name, workdir / "out", args.format, args.workers)
        if args.single:
            run_export(name, workdir / "out-single", args.format, 1)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
