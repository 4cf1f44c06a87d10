"""Batch APIs: OpenAI Batch and Anthropic Message Batches behind four functions.

    job = submit_batch("gpt-4o-mini", images, phashes, results_dir, api_keys)   # custom_id = pHash
    job = batch_status(job, api_keys)                                           # poll (cheap)
    results = fetch_batch_results(job, results_dir, api_keys)                   # download + parse
    results = parse_batch_results_file(path)                                    # import a file on disk

A manifest `<batch id>.job.json` is written into `results_dir` at submit time (and refreshed on each status),
so a job can be picked up again after a restart (`load_batch_job`) and result files know their model name.
Result files are written atomically (temporary name, then rename): nothing half-written is left behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from image_annotator_lib.cloud import batch_providers
from image_annotator_lib.cloud.annotator import run_coroutine
from image_annotator_lib.cloud.batch_results import MANIFEST_SUFFIX, manifest_path, parse_batch_results_file
from image_annotator_lib.cloud.errors import CloudConfigError, CloudError, MissingAPIKeyError
from image_annotator_lib.cloud.resolve import resolve_spec
from image_annotator_lib.cloud.settings import KEY_ALIASES, CloudSettings, find_api_key, settings_from_spec
from image_annotator_lib.core.types import ModelSpec, PHashAnnotationResults

TERMINAL = ("completed", "failed", "expired", "cancelled")


class BatchNotReadyError(CloudError):
    """Results were asked for before the batch finished."""


@dataclass(slots=True)
class BatchJob:
    """A submitted batch. `status`: in_progress | completed | failed | expired | cancelled."""

    id: str
    provider: str  # "openai" | "anthropic"
    model_name: str
    framework: str
    status: str
    provider_status: str
    n_requests: int
    created_at: str
    base_url: str | None = None
    api_key_name: str = ""
    request_counts: dict[str, int] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    result_files: list[str] = field(default_factory=list)
    skipped_duplicates: int = 0

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchJob:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def load_batch_job(path: str | Path) -> BatchJob:
    """Read a job manifest (`<results_dir>/<batch id>.job.json`)."""
    path = Path(path)
    try:
        return BatchJob.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path}: not a batch job manifest ({exc})") from exc


def list_batch_jobs(results_dir: str | Path) -> list[BatchJob]:
    """Every job manifest in `results_dir` (oldest first); unreadable manifests are skipped."""
    jobs: list[BatchJob] = []
    for path in sorted(Path(results_dir).glob(f"*{MANIFEST_SUFFIX}")):
        try:
            jobs.append(load_batch_job(path))
        except ValueError:
            continue
    return sorted(jobs, key=lambda j: j.created_at)


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, then rename (no partial file on failure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_manifest(job: BatchJob, results_dir: Path) -> None:
    write_atomic(manifest_path(results_dir, job.id), json.dumps(job.to_dict(), indent=2).encode())


def _key_for_job(job: BatchJob, api_keys: dict[str, str] | None) -> str:
    keys = api_keys or {}
    for name in (job.api_key_name, job.provider, *KEY_ALIASES.get(job.provider, ())):
        if keys.get(name):
            return keys[name].strip()
    raise MissingAPIKeyError(f"needs API key: {job.api_key_name or job.provider} (batch {job.id})")


def _settings_for_job(job: BatchJob) -> CloudSettings:
    """Settings to reach the job's endpoint again: the registry entry if it still exists, else the manifest."""
    try:
        settings = settings_from_spec(resolve_spec(job.model_name))
    except Exception:
        from image_annotator_lib.core.types import ModelKind

        spec = ModelSpec(job.model_name, ModelKind.CLOUD, job.framework, provider=job.provider, options={})
        settings = settings_from_spec(spec)
    if settings.base_url != job.base_url:
        settings = CloudSettings(**{**_settings_dict(settings), "base_url": job.base_url})
    return settings


def _settings_dict(settings: CloudSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in CloudSettings.__dataclass_fields__}


def submit_batch(
    model_name: str | ModelSpec,
    images: Sequence[Image.Image],
    phashes: Sequence[str],
    results_dir: str | Path,
    api_keys: dict[str, str] | None = None,
) -> BatchJob:
    """Send one request per distinct pHash as a provider batch; returns the job (manifest saved in results_dir).

    Raises:
        ValueError: lengths differ, no images, or a pHash is not a valid custom_id.
        CloudConfigError: the model's provider has no Batch API. MissingAPIKeyError: no key.
        AuthenticationError / ProviderError / RateLimitError: the provider refused the upload or the batch.
    """
    if len(images) != len(phashes):
        raise ValueError(f"{len(images)} images but {len(phashes)} pHashes")
    if not images:
        raise ValueError("submit_batch needs at least one image")
    spec = resolve_spec(model_name)
    settings = settings_from_spec(spec)
    if settings.framework not in ("openai", "anthropic") or not settings.supports_batch:
        raise CloudConfigError(
            f"cloud model {spec.name!r}: provider {settings.provider!r} has no Batch API here "
            "(OpenAI and Anthropic models only); annotate it live instead"
        )
    key = find_api_key(settings, api_keys)
    if key is None:
        raise MissingAPIKeyError(f"needs API key: {settings.api_key_name} (model {spec.name!r})")
    unique: dict[str, Image.Image] = {}
    for image, phash in zip(images, phashes, strict=True):
        unique.setdefault(phash, image)  # one request per distinct image: results are keyed by pHash anyway
    results_path = Path(results_dir)
    results_path.mkdir(parents=True, exist_ok=True)
    info = run_coroutine(batch_providers.submit(settings, key, unique, results_path))
    now = datetime.now(UTC).isoformat()
    job = BatchJob(
        id=info["id"],
        provider=settings.framework,
        model_name=spec.name,
        framework=settings.framework,
        status=info["status"],
        provider_status=info["provider_status"],
        n_requests=len(unique),
        created_at=now,
        base_url=settings.base_url,
        api_key_name=settings.api_key_name,
        skipped_duplicates=len(images) - len(unique),
    )
    _save_manifest(job, results_path)
    return job


def batch_status(
    job: BatchJob, api_keys: dict[str, str] | None = None, *, results_dir: str | Path | None = None
) -> BatchJob:
    """Ask the provider how the batch is doing; returns the updated job (and refreshes its manifest)."""
    settings = _settings_for_job(job)
    info = run_coroutine(batch_providers.status(settings, _key_for_job(job, api_keys), job.id))
    job.status = info["status"]
    job.provider_status = info["provider_status"]
    job.request_counts = dict(info.get("request_counts") or {})
    job.output_file_id = info.get("output_file_id")
    job.error_file_id = info.get("error_file_id")
    if results_dir is not None:
        _save_manifest(job, Path(results_dir))
    return job


def wait_for_batch(
    job: BatchJob,
    api_keys: dict[str, str] | None = None,
    *,
    results_dir: str | Path | None = None,
    poll_interval: float = 30.0,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> BatchJob:
    """Poll `batch_status` every `poll_interval` seconds until the job is done, `timeout` passes or `cancel` is
    set; returns the last status (check `job.done`). Batches take minutes to hours: GUIs should poll instead."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = batch_status(job, api_keys, results_dir=results_dir)
        if job.done or (cancel is not None and cancel.is_set()):
            return job
        if deadline is not None and time.monotonic() >= deadline:
            return job
        wait = poll_interval if deadline is None else max(0.0, min(poll_interval, deadline - time.monotonic()))
        if cancel is not None:
            cancel.wait(wait)
        else:
            time.sleep(wait)


def fetch_batch_results(
    job: BatchJob, results_dir: str | Path, api_keys: dict[str, str] | None = None
) -> PHashAnnotationResults:
    """Download the batch's output (and error) files into `results_dir` and parse them.

    Raises:
        BatchNotReadyError: the batch has not finished (its status is in the message).
    """
    results_path = Path(results_dir)
    if not job.done:
        job = batch_status(job, api_keys, results_dir=results_path)
    if not job.done:
        raise BatchNotReadyError(f"batch {job.id} is not finished yet (status: {job.provider_status})")
    settings = _settings_for_job(job)
    files = run_coroutine(batch_providers.download(settings, _key_for_job(job, api_keys), job, results_path))
    job.result_files = [str(p) for p in files]
    _save_manifest(job, results_path)
    results: PHashAnnotationResults = {}
    for path in files:
        for phash, by_model in parse_batch_results_file(path, model_name=job.model_name).items():
            results.setdefault(phash, {}).update(by_model)
    return results


__all__ = [
    "BatchJob",
    "BatchNotReadyError",
    "batch_status",
    "fetch_batch_results",
    "list_batch_jobs",
    "load_batch_job",
    "parse_batch_results_file",
    "submit_batch",
    "wait_for_batch",
    "write_atomic",
]
