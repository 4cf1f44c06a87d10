"""Cloud commands of `python -m image_annotator_lib`: run, estimate, batch.

    python -m image_annotator_lib run --model gpt-4o-mini photo.png
    python -m image_annotator_lib run --model llava --base-url http://localhost:11434/v1 photo.png
    python -m image_annotator_lib estimate --model gpt-4o-mini --images 500
    python -m image_annotator_lib batch submit --model gpt-4o-mini --results-dir out/ *.png

Keys come from OPENAI_API_KEY / ANTHROPIC_API_KEY / GOOGLE_API_KEY / OPENROUTER_API_KEY or `--api-key-env`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from PIL import Image

from image_annotator_lib.core.types import AnnotationResult, ModelKind, ModelSpec


def _api_keys(args: argparse.Namespace, provider: str | None = None) -> dict[str, str]:
    from image_annotator_lib.cli.models_cmd import api_keys_from_env

    keys = api_keys_from_env()
    if getattr(args, "api_key_env", None):
        value = os.environ.get(args.api_key_env)
        if not value:
            raise SystemExit(f"error: environment variable {args.api_key_env} is not set")
        keys[provider or "openai-compatible"] = value
    return keys


def _spec_for(args: argparse.Namespace, name: str) -> ModelSpec:
    """The registry entry (with --base-url / --model-id applied), or an ad-hoc OpenAI-compatible one."""
    from image_annotator_lib.core.registry import get_registry, register_model

    registry = get_registry()
    if name in registry:
        spec = registry.get(name)
        if args.base_url or args.model_id:
            options = dict(spec.options)
            if args.base_url:
                options["base_url"] = args.base_url
            if args.model_id:
                options["model_id"] = args.model_id
            spec = dataclasses.replace(spec, options=options)
            register_model(spec)
        return spec
    if not args.base_url:
        raise SystemExit(f"error: model {name!r} is not registered; give --base-url to use an OpenAI-compatible server")
    spec = ModelSpec(
        name=name,
        kind=ModelKind.CLOUD,
        framework="openai-compatible",
        provider=args.provider or "openai-compatible",
        batch_size=256,
        options={
            "model_id": args.model_id or name,
            "base_url": args.base_url,
            "api_key_required": bool(args.api_key_env),
            "structured_output": args.structured_output,
        },
    )
    register_model(spec)
    return spec


def _open_images(paths: list[str]) -> tuple[list[Image.Image], list[str], int]:
    images, names, failed = [], [], 0
    for p in paths:
        try:
            with Image.open(p) as im:
                im.load()
                image = im.copy()
            image.info["image_annotator_lib.prompt_context"] = {"file_name": Path(p).name}
            images.append(image)
            names.append(p)
        except (OSError, ValueError) as exc:
            print(f"{p}: cannot open image: {exc}", file=sys.stderr)
            failed += 1
    return images, names, failed


def _print_result(path: str, result: AnnotationResult) -> None:
    print(f"{path}  [{result.model_name}]")
    if result.error is not None:
        print(f"  error ({result.error.code.value}): {result.error.message}")
        return
    print(f"  tags: {', '.join(t.name for t in result.tags)}")
    print(f"  caption: {result.caption}")
    for name, score in result.scores.items():
        print(f"  score ({name}): {score.value:g} on {score.scale_min:g}-{score.scale_max:g}")
    if result.rating is not None:
        print(f"  rating: {result.rating.label}")


def cmd_run(args: argparse.Namespace) -> int:
    from image_annotator_lib.api import annotate
    from image_annotator_lib.cloud.prompt import prompt_defaults

    specs = [_spec_for(args, name) for name in args.model]
    images, paths, failed = _open_images(args.images)
    if not images:
        return 1
    keys = _api_keys(args, specs[0].provider)
    phashes = [f"img{i}" for i in range(len(images))]  # the command reports by file, pHashes are not needed
    with prompt_defaults(**({"trigger_word": args.trigger_word} if args.trigger_word else {})):
        results = annotate(images, [s.name for s in specs], phashes, api_keys=keys)
    payload: list[dict[str, Any]] = []
    for path, key in zip(paths, phashes, strict=True):
        for spec in specs:
            result = results[key][spec.name]
            failed += result.error is not None
            if args.json:
                item = asdict(result)
                item["image"] = path
                payload.append(item)
            else:
                _print_result(path, result)
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    return 1 if failed else 0


def cmd_estimate(args: argparse.Namespace) -> int:
    from image_annotator_lib.cloud.estimate import estimate

    est = estimate(args.model, args.images, image_size=(args.width, args.height), batch=args.batch)
    for m in est.models:
        usd = "unknown" if m.usd is None else f"${m.usd:.4f}"
        print(
            f"{m.model_name}: {m.n_images} images, ~{m.input_tokens} input + ~{m.output_tokens} output tokens, "
            f"{usd}, ~{m.seconds:.0f} s{' (' + m.note + ')' if m.note else ''}"
        )
    total = "unknown" if est.usd is None else f"${est.usd:.4f}"
    print(f"total: {total}, ~{est.seconds:.0f} s")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from image_annotator_lib.cloud import batch as b

    if args.batch_command == "submit":
        images, _, failed = _open_images(args.images)
        from image_annotator_lib.core.phash import phash

        job = b.submit_batch(args.model, images, [phash(i) for i in images], args.results_dir, _api_keys(args))
        print(f"submitted {job.provider} batch {job.id} ({job.n_requests} requests); manifest in {args.results_dir}")
        return 1 if failed else 0
    if args.batch_command == "import":
        results = b.parse_batch_results_file(args.file, model_name=args.model)
        print(json.dumps({k: {m: asdict(r) for m, r in v.items()} for k, v in results.items()}, indent=2, default=str))
        return 0
    job = b.load_batch_job(args.manifest)
    results_dir = Path(args.manifest).parent
    if args.batch_command == "status":
        job = b.batch_status(job, _api_keys(args), results_dir=results_dir)
        print(f"{job.id}: {job.status} ({job.provider_status}) {job.request_counts}")
        return 0
    out = b.fetch_batch_results(job, results_dir, _api_keys(args))
    ok = sum(1 for v in out.values() for r in v.values() if r.ok)
    print(f"{job.id}: {ok} of {len(out)} images annotated; files: {', '.join(job.result_files)}")
    return 0


def register(subparsers: Any) -> None:
    """Add the cloud commands to the library's CLI."""
    run = subparsers.add_parser("run", help="annotate image files with one or more models (cloud or local)")
    run.add_argument("images", nargs="+", help="image files")
    run.add_argument("--model", "-m", action="append", required=True, help="registry name (repeatable)")
    run.add_argument("--base-url", help="endpoint URL (OpenAI-compatible server for unregistered names)")
    run.add_argument("--model-id", help="model id sent to the server (default: the --model name)")
    run.add_argument("--provider", help="provider name for an ad-hoc model (key lookup), e.g. ollama")
    run.add_argument("--api-key-env", help="environment variable holding the key for this endpoint")
    run.add_argument("--structured-output", choices=["json_schema", "json_object", "prompt"], default="json_schema")
    run.add_argument("--trigger-word", help="filled into the prompt's {trigger_word}")
    run.add_argument("--json", action="store_true", help="print results as JSON")
    run.set_defaults(func=cmd_run)

    est = subparsers.add_parser("estimate", help="estimate tokens, cost and time of a cloud run")
    est.add_argument("--model", "-m", action="append", required=True)
    est.add_argument("--images", "-n", type=int, required=True, help="number of images")
    est.add_argument("--width", type=int, default=1024)
    est.add_argument("--height", type=int, default=1024)
    est.add_argument("--batch", action="store_true", help="estimate a Batch API run")
    est.set_defaults(func=cmd_estimate)

    bat = subparsers.add_parser("batch", help="OpenAI / Anthropic Batch API: submit, status, fetch, import")
    bat.add_argument("--api-key-env", help="environment variable holding the key")
    sub = bat.add_subparsers(dest="batch_command", required=True)
    s = sub.add_parser("submit")
    s.add_argument("images", nargs="+")
    s.add_argument("--model", "-m", required=True)
    s.add_argument("--results-dir", required=True)
    for name in ("status", "fetch"):
        p = sub.add_parser(name)
        p.add_argument("manifest", help="<results_dir>/<batch id>.job.json")
    i = sub.add_parser("import")
    i.add_argument("file", help="a batch results JSONL file")
    i.add_argument("--model", help="model name to file the results under")
    bat.set_defaults(func=cmd_batch)
