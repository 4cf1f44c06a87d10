"""Typed errors of the cloud back-end and the secret scrubbing every message goes through.

Each error carries the `ErrorCode` it becomes in an `AnnotationResult`, so the annotator can turn an exception
into a per-image result without guessing. Messages are scrubbed of API keys before they are stored: provider
error bodies sometimes echo part of the key ("Incorrect API key provided: sk-abc...").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from image_annotator_lib.core.errors import AnnotatorLoadError, NeedsApiKeyError
from image_annotator_lib.core.types import AnnotationError, ErrorCode

# Shapes of provider keys, scrubbed even when the key itself was not passed to us (e.g. echoed by a proxy).
_KEY_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-*]{6,}"),  # OpenAI, Anthropic (sk-ant-...), OpenRouter (sk-or-...)
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(r"(?i)(x-api-key|x-goog-api-key|api[_-]?key)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{4,}"),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove API keys from `text`: the given secrets verbatim, then anything shaped like a key."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _KEY_PATTERNS[0].sub("sk-***", text)
    text = _KEY_PATTERNS[1].sub("AIza***", text)
    text = _KEY_PATTERNS[2].sub(r"\1***", text)
    text = _KEY_PATTERNS[3].sub(r"\1\2***", text)
    return text


# How much of a bad answer is kept for the user to look at (a hostile endpoint may send megabytes).
RAW_TEXT_KEEP = 4000


class CloudError(Exception):
    """Base of every cloud failure. `code` is what the failure becomes in an AnnotationResult."""

    code: ErrorCode = ErrorCode.PROVIDER_ERROR

    def __init__(self, message: str, *, raw_text: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if raw_text is not None and len(raw_text) > RAW_TEXT_KEEP:
            raw_text = raw_text[:RAW_TEXT_KEEP] + f"... [{len(raw_text) - RAW_TEXT_KEEP:,} more characters]"
        self.raw_text = raw_text
        self.status_code = status_code

    def to_annotation_error(self, secrets: Iterable[str] = ()) -> AnnotationError:
        """The per-image error record, scrubbed of `secrets`."""
        secrets = tuple(secrets)
        raw = scrub(self.raw_text, secrets) if self.raw_text is not None else None
        return AnnotationError(code=self.code, message=scrub(self.message, secrets), raw_text=raw)


class CloudConfigError(CloudError, AnnotatorLoadError, ValueError):
    """A cloud model entry or option is invalid (the message names the model and the field)."""

    code = ErrorCode.LOAD_FAILED


class MissingAPIKeyError(CloudError, NeedsApiKeyError):
    """The provider of a model needs an API key and none was given."""

    code = ErrorCode.NEEDS_API_KEY


class AuthenticationError(CloudError):
    """401/403 from the provider: the key is wrong, revoked or lacks access. Never retried."""

    code = ErrorCode.AUTHENTICATION


class RateLimitError(CloudError):
    """429 still returned after every retry allowed by `retry_attempts`."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float | None = None, status_code: int | None = 429) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class RequestTimeoutError(CloudError):
    """No answer within `timeout` seconds on every allowed attempt."""

    code = ErrorCode.TIMEOUT


class ProviderError(CloudError):
    """5xx, connection failures and other provider-side errors (after retries where retrying makes sense)."""

    code = ErrorCode.PROVIDER_ERROR


class PolicyViolationError(CloudError):
    """The provider refused the image or blocked the answer for safety/policy reasons."""

    code = ErrorCode.POLICY_VIOLATION


class MalformedResponseError(CloudError):
    """The answer was not the JSON object the schema asks for; `raw_text` keeps what came back."""

    code = ErrorCode.MALFORMED_RESPONSE


def is_retryable(error: CloudError) -> bool:
    """Whether our retry policy may try again after `error` (auth, policy and malformed answers are final)."""
    return isinstance(error, RateLimitError | RequestTimeoutError | ProviderError) and not (
        isinstance(error, ProviderError) and error.status_code is not None and 400 <= error.status_code < 500
    )
