"""`CloudAnnotator`: the BaseAnnotator for every cloud vision model.

One request per image returns tags, caption, score and rating. Requests run concurrently on an asyncio loop
(capped by `max_concurrency`), each attempt waits for the provider's shared requests-per-minute limiter, and
failures follow our retry policy. Every image gets a result; a 401/403 stops all further requests of the batch
and marks every image without an answer as ErrorCode.AUTHENTICATION.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from PIL import Image

from image_annotator_lib.cloud.errors import (
    AuthenticationError,
    CloudError,
    MissingAPIKeyError,
)
from image_annotator_lib.cloud.imaging import EncodedImage, encode_image
from image_annotator_lib.cloud.limits import RateLimiter, shared_limiter
from image_annotator_lib.cloud.loop import run_on_shared_loop
from image_annotator_lib.cloud.prompt import (
    DEFAULT_PROMPT,
    DEFAULT_SYSTEM_PROMPT,
    check_template,
    image_context,
    render_prompt,
)
from image_annotator_lib.cloud.providers import ProviderAdapter, Reply, make_adapter
from image_annotator_lib.cloud.retry import RetryPolicy, call_with_retries
from image_annotator_lib.cloud.schema import SCORE_NAME
from image_annotator_lib.cloud.settings import CloudSettings, find_api_key, settings_from_spec
from image_annotator_lib.core.base import BaseAnnotator, ChunkResultCallback, ProgressCallback
from image_annotator_lib.core.types import AnnotationError, AnnotationResult, ErrorCode, ModelSpec, ModelStatus

logger = logging.getLogger(__name__)
T = TypeVar("T")
# The SDK module each framework needs (checked with find_spec, so listing models imports no SDK).
# limiter key -> semaphore; used only on the shared loop thread (asyncio primitives are not thread-safe).
_shared_semaphores: dict[tuple[object, ...], asyncio.Semaphore] = {}
_SDK_MODULES = {"openai": "openai", "openai-compatible": "openai", "anthropic": "anthropic", "google": "google.genai"}
# Errors that mean the provider answered (a paid request): final at once, even if the key fails later.
_ANSWER_ERRORS = frozenset({ErrorCode.POLICY_VIOLATION, ErrorCode.MALFORMED_RESPONSE})


def _answered(result: AnnotationResult) -> bool:
    return result.error is None or result.error.code in _ANSWER_ERRORS


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion from synchronous code, also when the caller is already inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=runner, name="image-annotator-cloud")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class CloudAnnotator(BaseAnnotator):
    """A cloud model (OpenAI, Anthropic, Google or an OpenAI-compatible server) behind the annotator contract."""

    streams_results = True  # each answer is handed to `on_result` as it arrives (paid work is stored at once)

    def __init__(self, spec: ModelSpec, *, api_keys: dict[str, str] | None = None) -> None:
        super().__init__(spec, api_keys=api_keys)
        self._settings: CloudSettings | None = None
        self._adapter: ProviderAdapter | None = None
        self._limiter: RateLimiter | None = None
        self._client: Any = None  # SDK client living on the shared loop, reused across annotate_batch calls

    def __repr__(self) -> str:  # never show the keys dict
        return f"CloudAnnotator({self.spec.name!r})"

    # -- registry hooks ---------------------------------------------------------------------------------------
    @classmethod
    def status(cls, spec: ModelSpec, api_keys: dict[str, str] | None = None) -> ModelStatus:
        """Ready when the SDK is importable, the options are valid and the key is present (or not needed)."""
        needs: list[str] = []
        provider = spec.provider or spec.framework
        try:
            settings = settings_from_spec(spec)
        except CloudError as exc:
            settings = None
            needs.append(f"config: {exc.message}")
        sdk = _SDK_MODULES.get(spec.framework, "")
        installed = bool(sdk) and importlib.util.find_spec(sdk) is not None
        if not installed:
            needs.append(f"package: {sdk or spec.framework}")
        if settings is not None:
            provider = settings.provider
            if settings.api_key_required and find_api_key(settings, api_keys) is None:
                needs.append(f"API key: {settings.api_key_name}")
        return ModelStatus(
            name=spec.name,
            kind=spec.kind,
            framework=spec.framework,
            installed=installed,
            available=installed and not needs,
            needs=tuple(needs),
            device="cloud",
            provider=provider,
        )

    @classmethod
    def would_run_on(cls, spec: ModelSpec) -> str:
        return "cloud"

    # -- lifecycle --------------------------------------------------------------------------------------------
    @property
    def settings(self) -> CloudSettings:
        if self._settings is None:
            self._settings = settings_from_spec(self.spec)
        return self._settings

    def load(self) -> None:
        """Validate the settings and key and prepare the provider adapter (no network; clients are per run).

        Raises:
            CloudConfigError: a bad option (names the model and field).
            MissingAPIKeyError: the provider needs a key and none was given.
        """
        settings = self.settings
        key = find_api_key(settings, self._api_keys)
        if settings.api_key_required and key is None:
            raise MissingAPIKeyError(f"needs API key: {settings.api_key_name} (model {settings.model_name!r})")
        check_template(settings.prompt or DEFAULT_PROMPT, settings.model_name)
        self._adapter = make_adapter(settings, key)
        self._limiter = shared_limiter(
            settings.limiter_key,
            settings.rate_limit_requests_per_minute,
            settings.rate_limit_burst or settings.max_concurrency,
        )

    def unload(self) -> None:
        if self._client is not None and self._adapter is not None:
            try:
                run_on_shared_loop(self._adapter.close_client(self._client))
            except Exception as exc:  # closing is best effort: the connections die with the process anyway
                logger.debug("closing %s client failed: %s", self.spec.name, exc)
        self._client = None
        self._adapter = None

    @property
    def device(self) -> str:
        return "cloud"

    # -- annotation -------------------------------------------------------------------------------------------
    def annotate_batch(
        self,
        images: Sequence[Image.Image],
        phashes: Sequence[str],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        on_result: ChunkResultCallback | None = None,
    ) -> list[AnnotationResult]:
        """One result per image, in order (never raises for a single image's failure).

        `on_result(index, result)` is called (on the shared loop thread) for each answer as it arrives, and
        for every other result once the batch ends; each index exactly once.
        """
        if self._adapter is None:
            self.load()
        return run_on_shared_loop(self._annotate_on_shared_loop(images, phashes, progress, cancel, on_result))

    async def _annotate_on_shared_loop(
        self,
        images: Sequence[Image.Image],
        phashes: Sequence[str],
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        on_result: ChunkResultCallback | None = None,
    ) -> list[AnnotationResult]:
        assert self._adapter is not None
        if self._client is None:
            self._client = self._adapter.make_client()
        # On the shared loop the concurrency cap is shared too: two models (or two threads calling annotate)
        # of one provider endpoint never have more than max_concurrency requests in flight together.
        semaphore = _shared_semaphores.setdefault(
            self.settings.limiter_key, asyncio.Semaphore(self.settings.max_concurrency)
        )
        return await self.annotate_batch_async(
            images,
            phashes,
            progress=progress,
            cancel=cancel,
            client=self._client,
            on_result=on_result,
            _semaphore=semaphore,
        )

    async def annotate_batch_async(
        self,
        images: Sequence[Image.Image],
        phashes: Sequence[str],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        client: Any = None,
        on_result: ChunkResultCallback | None = None,
        _semaphore: asyncio.Semaphore | None = None,
    ) -> list[AnnotationResult]:
        """The async form of `annotate_batch` for callers that already run an event loop.

        Without `client` a fresh SDK client is made for this call and closed afterwards; the concurrency cap
        then applies to this call only.
        """
        if len(images) != len(phashes):
            raise ValueError(f"{len(images)} images but {len(phashes)} pHashes")
        if self._adapter is None:
            self.load()
        adapter = self._adapter
        assert adapter is not None
        settings = self.settings
        own_client = client is None
        if own_client:
            client = adapter.make_client()
        semaphore = _semaphore or asyncio.Semaphore(settings.max_concurrency)
        auth_failed = asyncio.Event()
        total = len(images)
        done = 0
        handed: set[int] = set()

        def hand_over(index: int, result: AnnotationResult) -> None:
            handed.add(index)
            if on_result is not None:
                try:
                    on_result(index, result)
                except Exception:  # a broken callback must not lose the other answers
                    logger.exception("on_result callback failed")

        async def one(index: int, image: Image.Image) -> AnnotationResult:
            nonlocal done
            result = await self._annotate_one(client, adapter, image, semaphore, auth_failed, cancel)
            done += 1
            if _answered(result):
                hand_over(index, result)  # paid for: the caller may store it now
            if progress is not None:
                progress(done, total, f"{settings.model_name}: {done}/{total}")
            return result

        try:
            results = list(await asyncio.gather(*(one(i, image) for i, image in enumerate(images))))
        finally:
            if own_client:
                await adapter.close_client(client)
        if auth_failed.is_set():
            # The key is bad for the whole provider: every image without an answer says so, not "cancelled".
            message = f"authentication failed for provider {settings.provider} (HTTP 401/403); check the API key"
            for i, result in enumerate(results):
                error = result.error
                if not _answered(result) and error is not None and error.code is not ErrorCode.AUTHENTICATION:
                    results[i] = self._error_result(AnnotationError(ErrorCode.AUTHENTICATION, message), 0.0)
        for i, result in enumerate(results):
            if i not in handed:
                hand_over(i, result)
        return results

    async def _annotate_one(
        self,
        client: Any,
        adapter: ProviderAdapter,
        image: Image.Image,
        semaphore: asyncio.Semaphore,
        auth_failed: asyncio.Event,
        cancel: threading.Event | None,
    ) -> AnnotationResult:
        settings = self.settings
        started = time.perf_counter()
        try:
            encoded: EncodedImage = await asyncio.to_thread(
                encode_image,
                image,
                max_side=settings.image_max_side,
                fmt=settings.image_format,
                quality=settings.image_quality,
            )
        except Exception as exc:
            return self._error_result(AnnotationError(ErrorCode.INVALID_IMAGE, f"cannot encode image: {exc}"), 0.0)
        prompt = render_prompt(settings.prompt or DEFAULT_PROMPT, image_context(image), max_tags=settings.max_tags)
        system_prompt = settings.system_prompt or DEFAULT_SYSTEM_PROMPT
        attempts = 0

        async def attempt() -> Reply:
            nonlocal attempts
            if auth_failed.is_set():
                raise AuthenticationError("not sent: the provider rejected the API key for an earlier image")
            if cancel is not None and cancel.is_set():
                raise _Cancelled
            async with semaphore:
                if self._limiter is not None:
                    await self._limiter.acquire()
                if auth_failed.is_set():
                    raise AuthenticationError("not sent: the provider rejected the API key for an earlier image")
                if cancel is not None and cancel.is_set():  # cancelled while waiting for a slot: do not send
                    raise _Cancelled
                attempts += 1
                return await adapter.request(client, prompt, system_prompt, encoded)

        policy = RetryPolicy(
            retry_attempts=settings.retry_attempts,
            backoff_base=settings.retry_backoff_base,
            backoff_max=settings.retry_backoff_max,
            retry_after_max=settings.retry_after_max,
        )
        try:
            reply = await call_with_retries(attempt, policy)
        except _Cancelled:
            return self._error_result(AnnotationError(ErrorCode.CANCELLED, "cancelled before sending"), 0.0)
        except CloudError as error:
            if isinstance(error, AuthenticationError):
                auth_failed.set()
            logger.info("%s: %s after %d attempt(s)", settings.model_name, type(error).__name__, attempts)
            result = self._error_result(error.to_annotation_error(adapter.secrets), time.perf_counter() - started)
            result.raw = {"attempts": attempts}
            return result
        ann = reply.annotation
        return AnnotationResult(
            model_name=settings.model_name,
            tags=list(ann.tags),
            caption=ann.caption,
            scores={SCORE_NAME: ann.score},
            rating=ann.rating,
            processing_time=time.perf_counter() - started,
            framework=settings.framework,
            device="cloud",
            raw={**reply.meta, "attempts": attempts, "provider": settings.provider},
        )

    def _error_result(self, error: AnnotationError, elapsed: float) -> AnnotationResult:
        settings = self.settings
        return AnnotationResult(
            model_name=settings.model_name,
            processing_time=elapsed,
            framework=settings.framework,
            device="cloud",
            error=error,
        )


class _Cancelled(Exception):
    """Internal: the caller's cancel event was set before a request went out."""
