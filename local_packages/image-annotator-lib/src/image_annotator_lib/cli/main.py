"""The `python -m image_annotator_lib` entry point.

Commands live in modules listed in `COMMAND_MODULES`; each defines `register(subparsers)` that adds its
sub-parser and sets `func` (a callable taking the parsed namespace and returning an exit code) with
`set_defaults(func=...)`. A listed module that cannot be imported (e.g. an optional part not installed) is
skipped, so adding a command is one module plus one line here, or `register_command_module()` at run time.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

COMMAND_MODULES: list[str] = [
    "image_annotator_lib.cli.models_cmd",
    "image_annotator_lib.cloud.cli",
]


def register_command_module(module: str) -> None:
    """Add a module whose `register(subparsers)` adds commands."""
    if module not in COMMAND_MODULES:
        COMMAND_MODULES.append(module)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m image_annotator_lib",
        description="Annotate images with local and cloud vision models; list and download models.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the library does")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # optional command module not present
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
