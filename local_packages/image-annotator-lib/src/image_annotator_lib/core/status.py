"""`ModelStatus` for local models: is the optional extra importable, are the files on disk, which device."""

from __future__ import annotations

import importlib.util

from image_annotator_lib.core.hub import missing_files
from image_annotator_lib.core.registry import EXTRA_MODULES
from image_annotator_lib.core.types import ModelSpec, ModelStatus


def extra_installed(extra: str | None) -> bool:
    """Whether every module of an optional-dependency group can be imported (checked without importing)."""
    if not extra:
        return True
    modules = EXTRA_MODULES.get(extra, ())
    for module in modules:
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def local_status(spec: ModelSpec, device: str = "cpu") -> ModelStatus:
    """Status of a local model without loading it (no network: the Hub cache is only looked at)."""
    needs: list[str] = []
    has_extra = extra_installed(spec.requires_extra)
    if not has_extra:
        needs.append(f"extra: {spec.requires_extra} (pip install 'image-annotator-lib[{spec.requires_extra}]')")
    try:
        missing = missing_files(spec)
    except Exception as exc:  # a broken cache folder must not break the listing
        missing = [f"? ({exc})"]
    if missing:
        needs.append(
            f"files: {', '.join(missing)} (run: python -m image_annotator_lib download {spec.name})"
            if spec.source.repo_id and not spec.source.local_dir
            else f"files: {', '.join(missing)}"
        )
    installed = has_extra and not missing
    return ModelStatus(
        name=spec.name,
        kind=spec.kind,
        framework=spec.framework,
        installed=installed,
        available=installed,
        needs=tuple(needs),
        device=device,
        provider=spec.provider,
    )
