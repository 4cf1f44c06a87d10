"""Where local models run: this machine (`AnnotationService.run`) or a Ray cluster (`ray_engine`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ENGINES = ("local", "ray")
RAY_EXTRA_COMMAND = "uv sync --extra ray"


def ray_installed() -> bool:
    """True when the optional `ray` extra (Ray Data) is importable; checked without importing Ray.

    `find_spec("ray.data")` would import the `ray` package, and Ray reads its settings (such as
    RAY_ENABLE_UV_RUN_RUNTIME_ENV, set by the engine before its import) once, at import: so only the top-level
    spec is asked, and Ray Data's package folder looked for in it."""
    spec = importlib.util.find_spec("ray")
    if spec is None:
        return False
    return any((Path(folder) / "data" / "__init__.py").is_file() for folder in spec.submodule_search_locations or ())


def engine_needs(engine: str) -> str | None:
    """What `engine` needs before it can run ("needs extra: ray"), or None when it is ready."""
    if engine == "ray" and not ray_installed():
        return "needs extra: ray"
    return None
