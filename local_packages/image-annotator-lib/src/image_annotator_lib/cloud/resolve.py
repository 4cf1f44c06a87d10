"""Find a cloud model's spec by name in the library's registry (bundled TOML + user files)."""

from __future__ import annotations

from image_annotator_lib.cloud.errors import CloudConfigError
from image_annotator_lib.core.types import ModelKind, ModelSpec


def resolve_spec(model: str | ModelSpec) -> ModelSpec:
    """`model` itself if it is a spec, else the registry's entry; it must be a cloud model.

    Raises:
        ModelNotFoundError: no such name in the registry.
        CloudConfigError: the entry is not a cloud model.
    """
    if isinstance(model, ModelSpec):
        spec = model
    else:
        from image_annotator_lib.core.registry import get_registry

        spec = get_registry().get(model)
    if spec.kind is not ModelKind.CLOUD:
        raise CloudConfigError(f"model {spec.name!r} is a {spec.kind.value} model, not a cloud model")
    return spec
