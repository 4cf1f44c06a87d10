"""Cloud throughput and rate-limit benchmark against the loopback OpenAI-compatible server.

    uv run python local_packages/image-annotator-lib/bench/bench_cloud.py [--images 200] [--latency 0.2]

1. single-request throughput (max_concurrency 1), 2. throughput at max_concurrency 8 over 200 images
(target: >= 0.8 x 8 x single), 3. with a binding limit (150 requests/minute, 200 images, burst 8): the most
requests the SERVER saw in any 60 s window must not exceed 150. Everything goes through the library's
`annotate()` and the real openai SDK. The server runs in its own process (like a real endpoint), so its CPU
work does not compete with the client for the GIL; its request log is read back over HTTP.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request

from image_annotator_lib import annotate
from image_annotator_lib.core.registry import register_model
from image_annotator_lib.core.types import ModelKind, ModelSpec
from image_annotator_lib.testing.fake_providers import max_in_window
from PIL import Image


def make_images(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (768, 512), ((i * 37) % 256, (i * 91) % 256, 120)) for i in range(n)]


def server_log(base_url: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{base_url}/_fake/requests", timeout=10) as response:
        return list(json.loads(response.read()))


def run(base_url: str, name: str, images: list[Image.Image], **options: object) -> float:
    """Annotate `images` with a fresh model entry; returns seconds (exits if any image failed)."""
    spec = ModelSpec(
        name=name,
        kind=ModelKind.CLOUD,
        framework="openai-compatible",
        provider=f"bench-{name}",  # own limiter per phase
        batch_size=256,
        options={"base_url": f"{base_url}/v1", "model_id": "bench-vlm", "timeout": 30, **options},
    )
    register_model(spec)
    phashes = [f"{name}-{i}" for i in range(len(images))]
    started = time.perf_counter()
    results = annotate(images, [name], phashes)
    elapsed = time.perf_counter() - started
    failed = [r.error for by_model in results.values() for r in by_model.values() if r.error]
    if failed:
        raise SystemExit(f"{name}: {len(failed)} images failed, first: {failed[0]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--single-images", type=int, default=25)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rpm", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-rpm", action="store_true", help="skip the ~80 s rate-limit phase")
    args = parser.parse_args()

    cmd = [sys.executable, "-m", "image_annotator_lib.testing.fake_providers", "--latency", str(args.latency)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip().rsplit(" ", 1)[-1].removesuffix("/v1")
        run(base_url, "warmup", make_images(2))  # SDK import and connection setup are not throughput
        print(f"server latency {args.latency * 1000:.0f} ms per request; {args.repeats} repeats")
        ratios: list[float] = []
        for rep in range(args.repeats):
            single_s = run(base_url, f"single{rep}", make_images(args.single_images), max_concurrency=1)
            single_tp = args.single_images / single_s
            conc_s = run(
                base_url, f"conc{rep}", make_images(args.images), max_concurrency=8, rate_limit_requests_per_minute=0
            )
            conc_tp = args.images / conc_s
            ratios.append(conc_tp / (8 * single_tp))
            print(
                f"run {rep + 1}: single {single_tp:.2f} img/s ({args.single_images} images in {single_s:.2f} s), "
                f"concurrency 8 {conc_tp:.2f} img/s ({args.images} images in {conc_s:.2f} s), "
                f"ratio {ratios[-1]:.3f}"
            )
        median = statistics.median(ratios)
        print(
            f"ratio conc8 / (8 x single): median {median:.3f}, min {min(ratios):.3f} (target >= 0.8) -> "
            f"{'PASS' if median >= 0.8 else 'FAIL'}"
        )
        if not args.skip_rpm:
            before = len(server_log(base_url))
            rpm_s = run(
                base_url, "rpm", make_images(args.images), max_concurrency=8, rate_limit_requests_per_minute=args.rpm
            )
            log = [float(str(r["started"])) for r in server_log(base_url)[before:] if r["provider"] == "openai"]
            worst = max_in_window(log, 60.0)
            print(
                f"rate limit {args.rpm}/min: {len(log)} requests in {rpm_s:.1f} s; server saw at most {worst} "
                f"in any 60 s window -> {'PASS' if worst <= args.rpm else 'FAIL'}; "
                f"at most {max_in_window(log, 1.0)} in any 1 s window"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
