"""`list` and `download` commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import Any

from image_annotator_lib.core.types import ModelKind, ModelStatus

# Environment variables the listing reads API keys from (so `list` can say "needs API key" truthfully).
_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GOOGLE_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
}


def api_keys_from_env() -> dict[str, str]:
    """provider -> key for every provider whose environment variable is set."""
    return {provider: os.environ[var] for provider, var in _KEY_ENV.items() if os.environ.get(var)}


def state_of(status: ModelStatus) -> str:
    """One word or two for the table: installed / needs files / needs extra / needs API key / unavailable."""
    if status.available:
        return "ready" if status.device == "cloud" else "installed"
    for need in status.needs:
        head = need.split(":", 1)[0].strip().lower()
        if head in ("files", "extra", "api key"):
            return f"needs {'API key' if head == 'api key' else head}"
    return "unavailable"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    from image_annotator_lib.api import list_available_models

    statuses = list_available_models(api_keys=api_keys_from_env())
    if args.kind:
        statuses = [s for s in statuses if s.kind.value == args.kind]
    if args.json:
        payload: list[dict[str, Any]] = []
        for status in statuses:
            item = asdict(status)
            item["kind"] = status.kind.value
            item["needs"] = list(status.needs)
            item["state"] = state_of(status)
            payload.append(item)
        print(json.dumps(payload, indent=2))
        return 0
    rows = [["MODEL", "KIND", "FRAMEWORK", "STATE", "DEVICE", "NEEDS"]]
    for status in statuses:
        rows.append(
            [status.name, status.kind.value, status.framework, state_of(status), status.device, "; ".join(status.needs)]
        )
    print(_table(rows))
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from image_annotator_lib.api import download_model
    from image_annotator_lib.core.errors import AnnotatorError

    failed = 0
    for name in args.models:
        try:
            paths = download_model(name)
        except AnnotatorError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        for file, path in paths.items():
            print(f"{name}: {file} -> {path}")
        if not paths:
            print(f"{name}: nothing to download")
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `list` and `download`."""
    p_list = subparsers.add_parser("list", help="list models: installed / needs files / needs extra / needs key")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_list.add_argument("--kind", choices=[k.value for k in ModelKind], help="only this kind")
    p_list.set_defaults(func=cmd_list)
    p_dl = subparsers.add_parser("download", help="download model files into the Hugging Face cache")
    p_dl.add_argument("models", nargs="+", metavar="MODEL", help="model name(s) from `list`")
    p_dl.set_defaults(func=cmd_download)
