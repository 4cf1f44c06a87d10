"""Where local models run: this machine (`AnnotationService.run`) or a Ray cluster (`ray_engine`)."""

from __future__ import annotations

import importlib.util

ENGINES = ("local", "ray")
RAY_EXTRA_COMMAND = "uv sync --extra ray"


def ray_installed() -> bool:
    """True when the optional `ray` extra (Ray Data) is importable; checked without importing Ray (slow)."""
    return importlib.util.find_spec("ray") is not None and importlib.util.find_spec("ray.data") is not None


def engine_needs(engine: str) -> str | None:
    """What `engine` needs before it can run ("needs extra: ray"), or None when it is ready."""
    if engine == "ray" and not ray_installed():
        return "needs extra: ray"
    return None
