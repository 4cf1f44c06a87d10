"""Provider calls behind batch.py: OpenAI files + batches, Anthropic message batches (async SDK clients,
our retry policy, the SDKs' own retries off). Request bodies come from the same adapters as live requests.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from PIL import Image

from image_annotator_lib.cloud.errors import CloudError
from image_annotator_lib.cloud.imaging import encode_image
from image_annotator_lib.cloud.prompt import DEFAULT_PROMPT, DEFAULT_SYSTEM_PROMPT, image_context, render_prompt
from image_annotator_lib.cloud.providers.anthropic_provider import AnthropicAdapter
from image_annotator_lib.cloud.providers.base import ProviderAdapter
from image_annotator_lib.cloud.providers.openai_provider import OpenAIAdapter
from image_annotator_lib.cloud.retry import RetryPolicy, call_with_retries
from image_annotator_lib.cloud.settings import CloudSettings

if TYPE_CHECKING:
    from image_annotator_lib.cloud.batch import BatchJob

T = TypeVar("T")
OPENAI_MAX_REQUESTS, OPENAI_MAX_BYTES = 50_000, 200 * 2**20
ANTHROPIC_MAX_REQUESTS, ANTHROPIC_MAX_BYTES = 100_000, 256 * 2**20
_ANTHROPIC_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_OPENAI_STATUS = {
    "validating": "in_progress",
    "in_progress": "in_progress",
    "finalizing": "in_progress",
    "cancelling": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}


def _adapter(settings: CloudSettings, key: str) -> ProviderAdapter:
    return AnthropicAdapter(settings, key) if settings.framework == "anthropic" else OpenAIAdapter(settings, key)


async def _call(adapter: ProviderAdapter, settings: CloudSettings, fn: Callable[[], Awaitable[T]]) -> T:
    async def attempt() -> T:
        try:
            return await fn()
        except CloudError:
            raise
        except Exception as exc:
            raise adapter.classify(exc) from None

    policy = RetryPolicy(
        retry_attempts=settings.retry_attempts,
        backoff_base=settings.retry_backoff_base,
        backoff_max=settings.retry_backoff_max,
        retry_after_max=settings.retry_after_max,
    )
    return await call_with_retries(attempt, policy)


def _requests(
    settings: CloudSettings, adapter: ProviderAdapter, images: dict[str, Image.Image]
) -> list[dict[str, Any]]:
    """One batch request per pHash: {"custom_id": pHash, ...provider body...}."""
    out: list[dict[str, Any]] = []
    template = settings.prompt or DEFAULT_PROMPT
    system = settings.system_prompt or DEFAULT_SYSTEM_PROMPT
    for phash, image in images.items():
        encoded = encode_image(
            image, max_side=settings.image_max_side, fmt=settings.image_format, quality=settings.image_quality
        )
        prompt = render_prompt(template, image_context(image), max_tags=settings.max_tags)
        if isinstance(adapter, AnthropicAdapter):
            if not _ANTHROPIC_ID.match(phash):
                raise ValueError(f"pHash {phash!r} cannot be an Anthropic custom_id (1-64 of A-Z a-z 0-9 _ -)")
            out.append({"custom_id": phash, "params": adapter.request_params(prompt, system, encoded)})
        else:
            assert isinstance(adapter, OpenAIAdapter)
            body = adapter.request_body(prompt, system, encoded)
            out.append({"custom_id": phash, "method": "POST", "url": "/v1/chat/completions", "body": body})
    return out


async def submit(
    settings: CloudSettings, key: str, images: dict[str, Image.Image], results_dir: Path
) -> dict[str, Any]:
    """Create the batch; returns {"id", "status", "provider_status"}."""
    adapter = _adapter(settings, key)
    requests = _requests(settings, adapter, images)
    client = adapter.make_client()
    try:
        if settings.framework == "anthropic":
            size = sum(len(json.dumps(r)) for r in requests)
            if len(requests) > ANTHROPIC_MAX_REQUESTS or size > ANTHROPIC_MAX_BYTES:
                raise ValueError(f"batch too large ({len(requests)} requests, {size / 2**20:.0f} MiB): split it")
            batch = await _call(adapter, settings, lambda: client.messages.batches.create(requests=requests))
            return {"id": batch.id, "status": "in_progress", "provider_status": batch.processing_status}
        lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in requests).encode()
        if len(requests) > OPENAI_MAX_REQUESTS or len(lines) > OPENAI_MAX_BYTES:
            raise ValueError(f"batch too large ({len(requests)} requests, {len(lines) / 2**20:.0f} MiB): split it")
        # The JSONL goes through a temporary file (deleted afterwards): it holds every image as base64.
        with tempfile.NamedTemporaryFile(prefix="batch-input-", suffix=".jsonl", dir=results_dir) as fh:
            fh.write(lines)
            fh.flush()
            upload_path = Path(fh.name)
            uploaded = await _call(adapter, settings, lambda: client.files.create(file=upload_path, purpose="batch"))
        batch = await _call(
            adapter,
            settings,
            lambda: client.batches.create(
                input_file_id=uploaded.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata={"model_name": settings.model_name[:500], "source": "image-annotator-lib"},
            ),
        )
        return {
            "id": batch.id,
            "status": _OPENAI_STATUS.get(batch.status, "in_progress"),
            "provider_status": batch.status,
        }
    finally:
        await adapter.close_client(client)


async def status(settings: CloudSettings, key: str, batch_id: str) -> dict[str, Any]:
    """{"status", "provider_status", "request_counts", "output_file_id", "error_file_id"}."""
    adapter = _adapter(settings, key)
    client = adapter.make_client()
    try:
        if settings.framework == "anthropic":
            batch = await _call(adapter, settings, lambda: client.messages.batches.retrieve(batch_id))
            counts = batch.request_counts.model_dump() if batch.request_counts else {}
            done = batch.processing_status == "ended"
            return {
                "status": "completed" if done else "in_progress",
                "provider_status": batch.processing_status,
                "request_counts": counts,
            }
        batch = await _call(adapter, settings, lambda: client.batches.retrieve(batch_id))
        counts = batch.request_counts.model_dump() if batch.request_counts else {}
        return {
            "status": _OPENAI_STATUS.get(batch.status, "in_progress"),
            "provider_status": batch.status,
            "request_counts": counts,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
        }
    finally:
        await adapter.close_client(client)


async def download(settings: CloudSettings, key: str, job: BatchJob, results_dir: Path) -> list[Path]:
    """Save the batch's result files into `results_dir` (atomically); returns their paths."""
    from image_annotator_lib.cloud.batch import write_atomic

    adapter = _adapter(settings, key)
    client = adapter.make_client()
    paths: list[Path] = []
    try:
        if settings.framework == "anthropic":

            async def lines() -> bytes:
                decoder = await client.messages.batches.results(job.id)
                rows = [json.dumps(item.model_dump(mode="json")) async for item in decoder]
                return ("\n".join(rows) + "\n").encode()

            data = await _call(adapter, settings, lines)
            path = results_dir / f"{job.id}_results.jsonl"
            write_atomic(path, data)
            return [path]
        for file_id, suffix in ((job.output_file_id, "output"), (job.error_file_id, "errors")):
            if not file_id:
                continue

            async def content(fid: str = file_id) -> bytes:
                response = await client.files.content(fid)
                return bytes(response.content)

            data = await _call(adapter, settings, content)
            path = results_dir / f"{job.id}_{suffix}.jsonl"
            write_atomic(path, data)
            paths.append(path)
        return paths
    finally:
        await adapter.close_client(client)
