"""What every provider adapter provides, and the exception mapping shared by the openai and anthropic SDKs.

Both of those SDKs raise the same family of exceptions (APIStatusError with `status_code` and `response`,
APITimeoutError, APIConnectionError), so one mapping serves both; Google maps its own in google_provider.
"""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from image_annotator_lib.cloud.errors import (
    AuthenticationError,
    CloudError,
    MalformedResponseError,
    PolicyViolationError,
    ProviderError,
    RateLimitError,
    RequestTimeoutError,
    scrub,
)
from image_annotator_lib.cloud.imaging import EncodedImage
from image_annotator_lib.cloud.retry import parse_retry_after
from image_annotator_lib.cloud.schema import DEFAULT_LIMITS, AnswerLimits, ParsedAnnotation, parse_answer_text
from image_annotator_lib.cloud.settings import CloudSettings

_POLICY_CODES = ("content_policy_violation", "content_filter", "safety", "policy")


@dataclass(slots=True)
class Reply:
    """A validated answer and the response metadata worth keeping (id, model, usage; never secrets)."""

    annotation: ParsedAnnotation
    meta: dict[str, Any] = field(default_factory=dict)


class ProviderAdapter(ABC):
    """One provider's request shape, SDK call and answer parsing. Holds the key; never prints it."""

    framework: str = ""

    def __init__(self, settings: CloudSettings, api_key: str | None) -> None:
        self.settings = settings
        self._api_key = api_key

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._api_key,) if self._api_key else ()

    def __repr__(self) -> str:  # the default repr is harmless, but make sure no future field leaks the key
        return f"{type(self).__name__}(model={self.settings.model_id!r})"

    @abstractmethod
    def make_client(self) -> Any:
        """A new async SDK client (one per event loop), with the SDK's own retries disabled."""

    async def close_client(self, client: Any) -> None:
        """Release the client's connections."""
        close = getattr(client, "close", None)
        if close is not None:
            await close()

    @abstractmethod
    async def request(self, client: Any, prompt: str, system_prompt: str, image: EncodedImage) -> Reply:
        """One annotation request; raises a CloudError subclass on any failure."""

    async def post_json(self, client: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` through the SDK's documented raw-request path and return the decoded JSON object.

        `client.post(..., cast_to=object)` keeps the SDK's auth, timeout and error classes but skips re-walking
        our already-plain JSON body through its typed-params transform (~35 ms CPU per request, which capped
        concurrency) and building pydantic models only to dump them again.
        """
        try:
            data = await client.post(path, body=body, cast_to=object)
        except ValueError as exc:  # a 200 whose body is not JSON: the SDK's json() failed. Final, never retried.
            raise MalformedResponseError(f"response body is not JSON ({exc})") from None
        except Exception as exc:
            raise self.classify(exc) from None  # `from None`: the SDK exception may carry request headers
        if not isinstance(data, dict):
            raise MalformedResponseError("response is not a JSON object", raw_text=str(data))
        return data

    def http_client(self) -> Any:
        """The SDK's own async httpx client, reading at most `max_response_bytes` of any response body."""
        from image_annotator_lib.cloud.limited_http import limited_async_client

        return limited_async_client(self.sdk_http_client_class(), self.settings.max_response_bytes)

    def sdk_http_client_class(self) -> Any:
        """The SDK's default async httpx client class (openai / anthropic override)."""
        raise NotImplementedError

    def classify(self, exc: BaseException) -> CloudError:
        """Map an SDK exception to our typed error (message scrubbed of the key)."""
        return classify_stainless_error(exc, self.secrets, endpoint=self.endpoint)

    @property
    def endpoint(self) -> str:
        """Where requests go, for error messages ("the provider's default" when no base_url is set)."""
        return self.settings.base_url or f"{self.settings.provider}'s default endpoint"


def parse_text_answer(text: str, *, cut_off: bool, limits: AnswerLimits = DEFAULT_LIMITS) -> ParsedAnnotation:
    """`parse_answer_text`, saying so when the answer was cut off at the output-token limit."""
    try:
        return parse_answer_text(text, limits)
    except MalformedResponseError as exc:
        if cut_off:
            exc.message = f"answer cut off at max_output_tokens; {exc.message}"
        raise


def reply_meta(response_id: object, model: object, finish: object, tokens_in: object, tokens_out: object) -> dict:
    """The response metadata kept in `AnnotationResult.raw` (same keys for every provider)."""
    return {
        "id": response_id,
        "model": model,
        "finish_reason": finish,
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
    }


def _error_text(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(exc) or type(exc).__name__


def _error_code(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return f"{inner.get('code') or ''} {inner.get('type') or ''}".lower()
    return ""


def retry_after_from_headers(headers: Any) -> float | None:
    """Retry-After (seconds or HTTP date), or the retry-after-ms header OpenAI also sends."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


def classify_http_status(
    status: int, message: str, code_text: str, headers: Any, secrets: tuple[str, ...]
) -> CloudError:
    """Typed error for an HTTP error status (shared by all providers)."""
    text = scrub(f"HTTP {status}: {message}", secrets)
    if status in (401, 403):
        return AuthenticationError(text, status_code=status)
    if status == 429:
        return RateLimitError(text, retry_after=retry_after_from_headers(headers), status_code=status)
    if status == 408:
        return RequestTimeoutError(text, status_code=status)
    if status == 400 and any(c in code_text for c in _POLICY_CODES):
        return PolicyViolationError(text, status_code=status)
    return ProviderError(text, status_code=status)


def classify_stainless_error(exc: BaseException, secrets: tuple[str, ...], *, endpoint: str = "") -> CloudError:
    """Mapping for the openai and anthropic SDK exceptions (matched by class name: no SDK import needed)."""
    cause: BaseException | None = exc
    for _ in range(8):  # our own error raised inside the SDK's send (the size-limited body read)
        if cause is None:
            break
        if isinstance(cause, CloudError):
            return cause
        cause = cause.__cause__ or cause.__context__
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "APITimeoutError" in names or isinstance(exc, TimeoutError):
        return RequestTimeoutError("no answer within the configured timeout")
    if "APIStatusError" in names:
        status = int(getattr(exc, "status_code", 0) or 0)
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        return classify_http_status(status, _error_text(exc), _error_code(exc), headers, secrets)
    if "APIConnectionError" in names:
        return connection_error(endpoint, _error_text(exc), secrets)
    return ProviderError(scrub(f"{type(exc).__name__}: {exc}", secrets))


_LOCAL_SUFFIXES = (".local", ".lan", ".home", ".internal", ".localdomain", ".home.arpa")


def is_local_endpoint(base_url: str | None) -> bool:
    """Whether `base_url` points at this machine or the local network (Ollama, LM Studio, vLLM on a LAN box).

    None (the provider's default endpoint) and public host names are not local. A bare host name without a
    dot ("ollama" in a compose file) and private, loopback and link-local addresses are.
    """
    if not base_url:
        return False
    host = (urlsplit(base_url if "//" in base_url else f"//{base_url}").hostname or "").lower()
    if not host:
        return False
    if host == "localhost" or ("." not in host and ":" not in host) or host.endswith(_LOCAL_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


def connection_hint(base_url: str | None) -> str:
    """What to check after a connection failure, fitting the endpoint: a local server may simply not be
    running; a provider's public API is up, so the network (or a proxy / firewall) is the likely cause."""
    if is_local_endpoint(base_url):
        return f"is the server at {base_url} running?"
    return "check the internet connection, proxy and firewall; the provider's status page says if it is down"


def connection_error(endpoint: str | None, detail: str, secrets: tuple[str, ...]) -> ProviderError:
    """The error for a request that never reached the provider (retried like other transient failures)."""
    where = f" to {endpoint}" if endpoint else ""
    hint = connection_hint(endpoint if endpoint and "://" in endpoint else None)
    return ProviderError(scrub(f"connection{where} failed: {detail} ({hint})", secrets))
