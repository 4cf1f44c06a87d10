"""The model registry: model entries from TOML files, and the framework -> back-end class table.

Entries come, in this order (a later entry with the same name is deep-merged over the earlier one, so a user file
can override a single field such as `source.local_dir`):

1. the package's `config/annotator_config.toml` (local models),
2. the package's `config/available_api_models.toml` (cloud models),
3. the files named in the `IMAGE_ANNOTATOR_CONFIG` environment variable (`os.pathsep`-separated),
4. files passed to `register_model_file()`, then specs passed to `register_model()`.

Entry format (one table per model, under `[models."<name>"]`)::

    [models."wd-vit-tagger-v3"]
    kind = "tagger"                 # tagger | scorer | rating | captioner | embedding | cloud | matte
    framework = "wd-onnx"           # selects the back-end class (see BACKENDS)
    batch_size = 8
    device = "auto"                 # auto | cpu | cuda
    requires_extra = "captioners"   # optional dependency group, if any
    provider = "openai"             # cloud models only
    [models."wd-vit-tagger-v3".source]
    repo_id = "SmilingWolf/wd-vit-tagger-v3"
    revision = "main"
    files = ["model.onnx", "selected_tags.csv"]
    local_dir = "/path/to/folder"   # wins over repo_id; relative paths are relative to the TOML file
    [models."wd-vit-tagger-v3".options]
    general_threshold = 0.35

Other top-level tables (e.g. the cloud `[providers.*]` defaults) are left to the back-ends that read them.
Thread-safety: the registry is read from any thread; mutations take a lock.
"""

from __future__ import annotations

import copy
import importlib
import os
import threading
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from image_annotator_lib.core.base import BaseAnnotator
from image_annotator_lib.core.errors import AnnotatorLoadError, ModelNotFoundError, RegistryError
from image_annotator_lib.core.types import ModelKind, ModelSource, ModelSpec

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_CONFIG_FILES = (CONFIG_DIR / "annotator_config.toml", CONFIG_DIR / "available_api_models.toml")
ENV_CONFIG = "IMAGE_ANNOTATOR_CONFIG"

_CLOUD = "image_annotator_lib.cloud.annotator:CloudAnnotator"
# framework -> "module:Class". Import strings keep onnxruntime/transformers/SDKs unimported until a model is used.
BACKENDS: dict[str, str] = {
    "wd-onnx": "image_annotator_lib.local.wd_tagger:WDTagger",
    "aesthetic-onnx": "image_annotator_lib.local.aesthetic:AestheticScorer",
    "open-nsfw": "image_annotator_lib.local.nsfw:OpenNSFWAnnotator",
    "clip-onnx": "image_annotator_lib.local.embedding:ClipEmbedder",
    "transformers-blip": "image_annotator_lib.local.captioner:BlipCaptioner",
    "transformers-florence2": "image_annotator_lib.local.captioner:Florence2Captioner",
    "matte-onnx": "image_annotator_lib.local.matte:BackgroundRemover",
    "openai": _CLOUD,
    "anthropic": _CLOUD,
    "google": _CLOUD,
    "openai-compatible": _CLOUD,
}

# Optional-dependency group -> modules that must be importable for it to count as installed.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {"captioners": ("torch", "transformers")}

_ENTRY_KEYS = {"kind", "framework", "provider", "batch_size", "device", "requires_extra", "source", "options"}
_SOURCE_KEYS = {"repo_id", "revision", "files", "local_dir", "package", "extra_sources"}
_DEVICES = ("auto", "cpu", "cuda")


def register_backend(framework: str, target: str) -> None:
    """Map `framework` to a back-end class given as "package.module:ClassName" (imported on first use)."""
    if ":" not in target:
        raise ValueError(f"back-end target {target!r} must look like 'package.module:ClassName'")
    BACKENDS[framework] = target


def backend_class(framework: str) -> type[BaseAnnotator]:
    """Import and return the back-end class for `framework`.

    Raises:
        AnnotatorLoadError: unknown framework, or its module cannot be imported (the message says which).
    """
    target = BACKENDS.get(framework)
    if target is None:
        raise AnnotatorLoadError(f"no back-end for framework {framework!r} (known: {', '.join(sorted(BACKENDS))})")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AnnotatorLoadError(
            f"back-end for framework {framework!r} is not available: cannot import {module_name} ({exc})"
        ) from exc
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseAnnotator)):
        raise AnnotatorLoadError(f"back-end {target!r} is not a BaseAnnotator subclass")
    return cls


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _normalise_entry(name: str, raw: Any, origin: Path) -> dict[str, Any]:
    """Validate the shape of one raw entry; move shorthand source keys into `source`; resolve local_dir."""
    where = f"{origin}: [models.{name!r}]"
    if not isinstance(raw, dict):
        raise RegistryError(f"{where} must be a table")
    entry = dict(raw)
    source = dict(entry.pop("source", {}) or {})
    if not isinstance(source, dict):
        raise RegistryError(f"{where}: 'source' must be a table")
    for key in _SOURCE_KEYS & entry.keys():  # shorthand: repo_id = ... directly in the model table
        source[key] = entry.pop(key)
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise RegistryError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    local_dir = source.get("local_dir")
    if isinstance(local_dir, str) and local_dir:
        path = Path(os.path.expandvars(local_dir)).expanduser()
        source["local_dir"] = str(path if path.is_absolute() else (origin.parent / path).resolve())
    if source:
        entry["source"] = source
    if "options" in entry and not isinstance(entry["options"], dict):
        raise RegistryError(f"{where}: 'options' must be a table")
    return entry


def _build_source(raw: Any, where: str, *, allow_extra: bool) -> ModelSource:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where} must be a table")
    allowed = _SOURCE_KEYS if allow_extra else _SOURCE_KEYS - {"extra_sources", "local_dir"}
    unknown = set(raw) - allowed
    if unknown:
        raise RegistryError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    files = raw.get("files", [])
    if isinstance(files, str) or not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise RegistryError(f"{where}: 'files' must be a list of file names, got {files!r}")
    for key in ("repo_id", "revision", "local_dir", "package"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise RegistryError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    extras_raw = raw.get("extra_sources", [])
    if not isinstance(extras_raw, list):
        raise RegistryError(f"{where}: 'extra_sources' must be an array of tables")
    extras = tuple(
        _build_source(item, f"{where}.extra_sources[{i}]", allow_extra=False) for i, item in enumerate(extras_raw)
    )
    return ModelSource(
        repo_id=raw.get("repo_id"),
        revision=raw.get("revision"),
        files=tuple(files),
        local_dir=raw.get("local_dir"),
        package=raw.get("package"),
        extra_sources=extras,
    )


def _build_spec(name: str, entry: dict[str, Any], origin: str) -> ModelSpec:
    where = f"{origin}: [models.{name!r}]"

    def text(key: str, required: bool = False) -> str | None:
        value = entry.get(key)
        if value is None:
            if required:
                raise RegistryError(f"{where}: missing required key {key!r}")
            return None
        if not isinstance(value, str) or not value:
            raise RegistryError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
        return value

    kind_text = text("kind", required=True)
    try:
        kind = ModelKind(str(kind_text))
    except ValueError:
        kinds = ", ".join(k.value for k in ModelKind)
        raise RegistryError(f"{where}: kind {kind_text!r} is not one of {kinds}") from None
    framework = text("framework", required=True)
    batch_size = entry.get("batch_size", 8)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise RegistryError(f"{where}: 'batch_size' must be an integer >= 1, got {batch_size!r}")
    device = entry.get("device", "auto")
    if device not in _DEVICES:
        raise RegistryError(f"{where}: 'device' must be one of {', '.join(_DEVICES)}, got {device!r}")
    source = _build_source(entry.get("source", {}), f"{where}.source", allow_extra=True)
    return ModelSpec(
        name=name,
        kind=kind,
        framework=str(framework),
        source=source,
        batch_size=batch_size,
        device=device,
        requires_extra=text("requires_extra"),
        provider=text("provider"),
        options=copy.deepcopy(entry.get("options", {})),
    )


class ModelRegistry:
    """Model specs by name, built from TOML files (see module docstring). Lookups are cheap and thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._raw: dict[str, dict[str, Any]] = {}
        self._origin: dict[str, str] = {}
        self._specs: dict[str, ModelSpec] = {}

    def add_file(self, path: str | os.PathLike[str]) -> list[str]:
        """Read `[models.*]` entries from a TOML file; returns the names it defined.

        Raises:
            RegistryError: the file is missing, not TOML, or an entry is invalid (message names file and field).
        """
        file = Path(path).expanduser()
        try:
            with file.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise RegistryError(f"model config file not found: {file}") from None
        except tomllib.TOMLDecodeError as exc:
            raise RegistryError(f"{file}: not valid TOML: {exc}") from None
        models = data.get("models", {})
        if not isinstance(models, dict):
            raise RegistryError(f"{file}: [models] must be a table of model entries")
        entries = {str(name): _normalise_entry(str(name), raw, file.resolve()) for name, raw in models.items()}
        with self._lock:
            built: dict[str, ModelSpec] = {}
            merged: dict[str, dict[str, Any]] = {}
            for name, entry in entries.items():
                merged[name] = _deep_merge(self._raw.get(name, {}), entry)
                built[name] = _build_spec(name, merged[name], str(file))  # validate before committing anything
            for name in entries:
                self._raw[name] = merged[name]
                self._origin[name] = str(file)
                self._specs[name] = built[name]
        return list(entries)

    def add_spec(self, spec: ModelSpec) -> None:
        """Register (or replace) a spec built in code, e.g. a test model or an app-defined folder."""
        with self._lock:
            self._specs[spec.name] = spec
            self._raw.pop(spec.name, None)
            self._origin[spec.name] = "<code>"

    def remove(self, name: str) -> None:
        """Forget a model (no error if unknown)."""
        with self._lock:
            self._specs.pop(name, None)
            self._raw.pop(name, None)
            self._origin.pop(name, None)

    def get(self, name: str) -> ModelSpec:
        """The spec for `name`. Raises ModelNotFoundError (with close matches) if unknown."""
        spec = self._specs.get(name)
        if spec is None:
            import difflib

            close = difflib.get_close_matches(name, list(self._specs), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ModelNotFoundError(f"model {name!r} is not registered{hint}")
        return spec

    def origin(self, name: str) -> str:
        """The file (or '<code>') the model's last definition came from."""
        return self._origin.get(name, "")

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self) -> list[ModelSpec]:
        return list(self._specs.values())


_registry: ModelRegistry | None = None
_registry_lock = threading.Lock()
_user_files: list[Path] = []


def _env_files() -> Iterable[Path]:
    value = os.environ.get(ENV_CONFIG, "")
    return [Path(p) for p in value.split(os.pathsep) if p.strip()]


def get_registry() -> ModelRegistry:
    """The process-wide registry, built on first use from the default, environment and registered files."""
    global _registry
    with _registry_lock:
        if _registry is None:
            registry = ModelRegistry()
            for file in DEFAULT_CONFIG_FILES:
                if file.is_file():
                    registry.add_file(file)
            for file in [*_env_files(), *_user_files]:
                registry.add_file(file)
            _registry = registry
        return _registry


def reload_registry() -> ModelRegistry:
    """Rebuild the registry (re-reads the files and IMAGE_ANNOTATOR_CONFIG); code-registered specs are dropped."""
    global _registry
    with _registry_lock:
        _registry = None
    return get_registry()


def register_model_file(path: str | os.PathLike[str]) -> list[str]:
    """Add a user TOML file of model entries (overrides same-named models); returns the names it defined."""
    names = get_registry().add_file(path)
    _user_files.append(Path(path))
    return names


def register_model(spec: ModelSpec) -> None:
    """Register a model spec built in code (kept until `reload_registry()`)."""
    get_registry().add_spec(spec)
