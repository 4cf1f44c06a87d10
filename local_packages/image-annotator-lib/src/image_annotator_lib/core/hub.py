"""Model files: from a local folder, from a Python package, or from the Hugging Face Hub (its cache).

Hub settings are read from the environment at call time, not at import time of huggingface_hub, so a process
can switch them: `HF_ENDPOINT` (mirror or test server), `HF_HUB_OFFLINE` / `TRANSFORMERS_OFFLINE` (never touch
the network; a missing file is an error that says how to get it), `HF_HUB_CACHE` / `HF_HOME` (cache folder).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from image_annotator_lib.core.errors import MissingFilesError
from image_annotator_lib.core.hints import download_command
from image_annotator_lib.core.types import ModelSource, ModelSpec

_TRUE = {"1", "on", "yes", "true"}


def is_offline() -> bool:
    """Whether Hugging Face offline mode is on (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE), read now."""
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_cache_dir() -> str | None:
    """The cache folder the environment asks for now, or None for huggingface_hub's default."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def hub_endpoint() -> str | None:
    """HF_ENDPOINT as set now (None: huggingface_hub's default)."""
    value = os.environ.get("HF_ENDPOINT", "").strip()
    return value.rstrip("/") or None


_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_PROBE_TTL_S = 60.0
_probe_lock = threading.Lock()
_probe_cache: dict[tuple[str, int], tuple[float, str | None]] = {}


def hub_unreachable_reason() -> str | None:
    """Why the Hub cannot be reached right now, or None if it can (or we cannot tell).

    huggingface_hub retries connection errors with backoff for about 25 seconds; a quick TCP connect first
    lets an offline user get the "how to get the files" message at once. Behind a proxy the direct connect
    says nothing, so the probe is skipped there. Results are cached for a minute.
    """
    if any(os.environ.get(var) for var in _PROXY_VARS):
        return None
    url = urlsplit(hub_endpoint() or "https://huggingface.co")
    host = url.hostname
    if not host:
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    now = time.monotonic()
    with _probe_lock:
        cached = _probe_cache.get((host, port))
        if cached is not None and now - cached[0] < _PROBE_TTL_S:
            return cached[1]
    try:
        socket.create_connection((host, port), timeout=3.0).close()
        reason = None
    except OSError as exc:
        reason = f"{host}:{port} could not be reached ({exc.strerror or exc})"
    with _probe_lock:
        _probe_cache[(host, port)] = (now, reason)
    return reason


def download_hint(spec: ModelSpec) -> str:
    """How a user gets the files of `spec`."""
    return (
        f"get them with `{download_command(spec.name)}` while online, "
        f"or point the model's source.local_dir at a folder holding {', '.join(spec.source.all_files()) or 'them'}"
    )


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it (importing may pull in onnxruntime)."""
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def _folder_files(spec: ModelSpec, folder: Path, files: tuple[str, ...], what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise MissingFilesError(f"model {spec.name!r}: {what} {folder} does not exist")
    paths = {name: folder / name for name in files}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise MissingFilesError(f"model {spec.name!r}: {what} {folder} has no {', '.join(missing)}")
    return paths


def _sources(spec: ModelSpec) -> list[ModelSource]:
    return [spec.source, *spec.source.extra_sources]


def missing_files(spec: ModelSpec, required: tuple[str, ...] = ()) -> list[str]:
    """Files of `spec` not on disk now (no network). Empty when the model is ready to load.

    `required`: file names the back-end loads from a `local_dir` beyond those the entry lists (a user entry
    often names only the folder).
    """
    if spec.source.local_dir:
        folder = Path(spec.source.local_dir)
        names = dict.fromkeys([*spec.source.all_files(), *required])
        return [f for f in names if not (folder / f).is_file()]
    missing: list[str] = []
    for source in _sources(spec):
        if source.package:
            pkg = package_dir(source.package)
            if pkg is None:
                missing.append(f"package {source.package}")
            else:
                missing += [f for f in source.files if not (pkg / f).is_file()]
        elif source.repo_id:
            from huggingface_hub import try_to_load_from_cache

            for name in source.files:
                found = try_to_load_from_cache(
                    source.repo_id, name, cache_dir=hub_cache_dir(), revision=source.revision or None
                )
                if not isinstance(found, str):
                    missing.append(name)
    return missing


def resolve_model_files(spec: ModelSpec, *, allow_download: bool = True, refresh: bool = False) -> dict[str, Path]:
    """Paths of every file of `spec` (its source and extra sources), downloading from the Hub if allowed.

    Cached Hub files are used without a network round trip unless `refresh` (then the Hub is asked whether the
    revision moved, as `download` does), so loading a model that is already downloaded never waits on the network.

    Raises:
        MissingFilesError: a file is missing from the folder/package/cache and cannot be fetched; the message
            names the file and says how to get it.
    """
    if spec.source.local_dir:
        return _folder_files(spec, Path(spec.source.local_dir), spec.source.all_files(), "local folder")
    paths: dict[str, Path] = {}
    for source in _sources(spec):
        if source.package:
            folder = package_dir(source.package)
            if folder is None:
                raise MissingFilesError(
                    f"model {spec.name!r}: package {source.package!r} is not installed (pip install {source.package})"
                )
            paths.update(_folder_files(spec, folder, source.files, f"package {source.package}"))
        elif source.repo_id:
            paths.update({name: _hub_file(spec, source, name, allow_download, refresh) for name in source.files})
    return paths


def _hub_file(spec: ModelSpec, source: ModelSource, filename: str, allow_download: bool, refresh: bool) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_id = str(source.repo_id)
    revision = source.revision or None
    offline = is_offline() or not allow_download
    where = f"{filename} of {repo_id}" + (f"@{revision}" if revision else "")
    cache_dir = hub_cache_dir()
    if not offline and not refresh:
        try:
            cached = hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir, local_files_only=True)
            return Path(str(cached))
        except LocalEntryNotFoundError:
            pass  # not cached yet: download below
    if not offline and (unreachable := hub_unreachable_reason()):
        raise MissingFilesError(
            f"model {spec.name!r}: {where} is not in the Hugging Face cache and the Hub {unreachable}; "
            f"{download_hint(spec)}"
        )
    try:
        path = hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=cache_dir,
            endpoint=hub_endpoint(),
            local_files_only=offline,
        )
    except LocalEntryNotFoundError as exc:
        why = (
            "offline mode is on (HF_HUB_OFFLINE)"
            if is_offline()
            else ("downloads are not allowed here" if not allow_download else f"the Hub could not be reached ({exc})")
        )
        raise MissingFilesError(
            f"model {spec.name!r}: {where} is not in the Hugging Face cache and {why}; {download_hint(spec)}"
        ) from None
    except RepositoryNotFoundError:
        raise MissingFilesError(f"model {spec.name!r}: repository {repo_id} was not found on the Hub") from None
    except RevisionNotFoundError:
        raise MissingFilesError(f"model {spec.name!r}: revision {revision!r} of {repo_id} was not found") from None
    except EntryNotFoundError:
        raise MissingFilesError(f"model {spec.name!r}: the Hub has no {where}") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise MissingFilesError(f"model {spec.name!r}: could not download {where}: {exc}") from None
    return Path(str(path))


def download_model_files(spec: ModelSpec) -> dict[str, Path]:
    """Fetch every file of `spec` into the cache (local folders and packages are only checked).

    With `options.snapshot = true` (transformers models) the whole repo snapshot is fetched, so a later
    offline `from_pretrained` finds tokenizer and weight files that `files` does not list.
    """
    paths = resolve_model_files(spec, allow_download=True, refresh=True)
    if spec.options.get("snapshot") and spec.source.repo_id and not spec.source.local_dir:
        from huggingface_hub import snapshot_download

        try:
            folder = snapshot_download(
                spec.source.repo_id,
                revision=spec.source.revision or None,
                cache_dir=hub_cache_dir(),
                endpoint=hub_endpoint(),
            )
        except Exception as exc:
            raise MissingFilesError(f"model {spec.name!r}: could not download {spec.source.repo_id}: {exc}") from None
        paths["<snapshot>"] = Path(folder)
    return paths
