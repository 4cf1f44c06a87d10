"""`ModelStatus` for local models: is the optional extra importable, are the files on disk, which device."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from image_annotator_lib.core.hints import download_command, extra_install_command
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


def _missing_text(spec: ModelSpec, missing: list[str]) -> str:
    """What is missing and where it was looked for (a local folder), or how to download it (a Hub repo)."""
    listed = ", ".join(missing)
    if spec.source.local_dir:
        folder = Path(spec.source.local_dir)
        if not folder.is_dir():
            return f"files: folder {folder} does not exist (it should hold {listed})"
        return f"files: {listed} not found in {folder}"
    if spec.source.repo_id:
        return f"files: {listed} (run: {download_command(spec.name)})"
    return f"files: {listed}"


def local_status(spec: ModelSpec, device: str = "cpu", required: tuple[str, ...] = ()) -> ModelStatus:
    """Status of a local model without loading it (no network: the Hub cache is only looked at).

    `required`: files the back-end loads from a local folder even when the entry does not list them.
    """
    needs: list[str] = []
    has_extra = extra_installed(spec.requires_extra)
    if not has_extra and spec.requires_extra:
        needs.append(f"extra: {spec.requires_extra} ({extra_install_command(spec.requires_extra)})")
    try:
        missing = missing_files(spec, required)
    except Exception as exc:  # a broken cache folder must not break the listing
        missing = [f"? ({exc})"]
    if missing:
        needs.append(_missing_text(spec, missing))
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
