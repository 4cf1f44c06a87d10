"""Settings of one cloud model: provider defaults from available_api_models.toml merged with the model's options.

The registry hands us a `ModelSpec` whose `options` hold whatever the TOML entry said. Provider-wide values
(timeout, retry_attempts, rate_limit_requests_per_minute, max_concurrency, ...) live once per provider in the
`[providers.<name>]` tables of the bundled `available_api_models.toml`; a model's own options override them.
Every value is validated here so a typo fails at load time with the model and field named.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from image_annotator_lib.cloud.errors import CloudConfigError
from image_annotator_lib.cloud.schema import (
    DEFAULT_MAX_ANSWER_TAGS,
    DEFAULT_MAX_CAPTION_CHARS,
    DEFAULT_MAX_RESPONSE_BYTES,
    AnswerLimits,
)
from image_annotator_lib.core.types import ModelSpec

FRAMEWORKS = ("openai", "anthropic", "google", "openai-compatible")
BUNDLED_TOML = Path(__file__).resolve().parent.parent / "config" / "available_api_models.toml"
# Other names callers use for the same key (the app's config says `claude_key`; Google keys are "Gemini keys").
KEY_ALIASES: dict[str, tuple[str, ...]] = {"anthropic": ("claude",), "google": ("gemini",)}
STRUCTURED_MODES = ("json_schema", "json_object", "prompt")
IMAGE_FORMATS = ("jpeg", "webp", "png")


@cache
def provider_defaults() -> dict[str, dict[str, Any]]:
    """The `[providers.*]` tables of the bundled TOML (cached: the file ships with the package)."""
    with BUNDLED_TOML.open("rb") as fh:
        data = tomllib.load(fh)
    providers = data.get("providers", {})
    if not isinstance(providers, dict):
        raise CloudConfigError(f"{BUNDLED_TOML}: [providers] must be a table")
    return {str(k): dict(v) for k, v in providers.items()}


@dataclass(frozen=True, slots=True)
class CloudSettings:
    """Everything a cloud request needs except the key. Times are seconds, prices USD per 1M tokens."""

    model_name: str
    framework: str
    provider: str
    model_id: str
    base_url: str | None = None
    api_version: str | None = None  # Google only: "v1" (the SDK's default) or "v1beta"
    api_key_name: str = ""
    api_key_required: bool = True
    timeout: float = 60.0
    retry_attempts: int = 3  # retries after the first attempt
    retry_backoff_base: float = 1.0
    retry_backoff_max: float = 60.0
    retry_after_max: float = 300.0  # a Retry-After longer than this is not waited for
    rate_limit_requests_per_minute: int | None = None
    rate_limit_burst: int | None = None
    max_concurrency: int = 4
    image_max_side: int = 1024
    image_format: str = "jpeg"
    image_quality: int = 90
    image_detail: str = "auto"
    max_output_tokens: int = 1024
    temperature: float | None = None
    structured_output: str = "json_schema"
    prompt: str | None = None
    system_prompt: str | None = None
    max_tags: int = 40
    price_input_per_1m: float | None = None
    price_output_per_1m: float | None = None
    batch_discount: float = 0.5
    supports_batch: bool = False
    typical_latency_s: float = 5.0
    expected_output_tokens: int = 350
    capabilities: tuple[str, ...] = ("vision", "structured_output")
    max_caption_chars: int = DEFAULT_MAX_CAPTION_CHARS
    max_answer_tags: int = DEFAULT_MAX_ANSWER_TAGS
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def answer_limits(self) -> AnswerLimits:
        return AnswerLimits(self.max_caption_chars, self.max_answer_tags, self.max_response_bytes)

    @property
    def limiter_key(self) -> tuple[object, ...]:
        """Models that share provider, endpoint and limits share one rate limiter."""
        return (self.provider, self.base_url, self.rate_limit_requests_per_minute, self.max_concurrency)


_FLOAT_FIELDS = ("timeout", "retry_backoff_base", "retry_backoff_max", "retry_after_max", "typical_latency_s")
_POS_INT_FIELDS = (
    "max_concurrency",
    "image_max_side",
    "max_output_tokens",
    "max_tags",
    "expected_output_tokens",
    "max_caption_chars",
    "max_answer_tags",
    "max_response_bytes",
)
_KNOWN = set(CloudSettings.__slots__) - {"model_name", "framework", "provider", "extra"}


def _fail(spec: ModelSpec, key: str, why: str, value: object) -> CloudConfigError:
    return CloudConfigError(f"cloud model {spec.name!r}: option {key!r} {why}, got {value!r}")


def _number(spec: ModelSpec, key: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(spec, key, "must be a number", value)
    if value < 0 or (value == 0 and not allow_zero):
        raise _fail(spec, key, "must be positive", value)
    return float(value)


def _int(spec: ModelSpec, key: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(spec, key, f"must be an integer >= {minimum}", value)
    return value


def settings_from_spec(spec: ModelSpec) -> CloudSettings:
    """Merge provider defaults and the spec's options into validated `CloudSettings`.

    Raises:
        CloudConfigError: unknown framework, or an option of the wrong type or range (message names it).
    """
    if spec.framework not in FRAMEWORKS:
        raise CloudConfigError(
            f"cloud model {spec.name!r}: framework {spec.framework!r} is not one of {', '.join(FRAMEWORKS)}"
        )
    provider = spec.provider or spec.framework
    merged: dict[str, Any] = {}
    defaults = provider_defaults()
    merged.update(defaults.get(spec.framework, {}))
    if provider != spec.framework:
        merged.update(defaults.get(provider, {}))
    merged.update(spec.options)

    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in merged.items():
        if key not in _KNOWN:
            extra[key] = value  # informational keys (context_window, notes, ...) are kept, not rejected
            continue
        if key in _FLOAT_FIELDS:
            values[key] = _number(spec, key, value)
        elif key in _POS_INT_FIELDS:
            values[key] = _int(spec, key, value, minimum=1)
        elif key in ("retry_attempts",):
            values[key] = _int(spec, key, value, minimum=0)
        elif key in ("rate_limit_requests_per_minute", "rate_limit_burst"):
            values[key] = None if value in (None, 0) else _int(spec, key, value, minimum=1)
        elif key in ("price_input_per_1m", "price_output_per_1m"):
            values[key] = None if value is None else _number(spec, key, value, allow_zero=True)
        elif key == "batch_discount":
            if _number(spec, key, value, allow_zero=True) > 1:
                raise _fail(spec, key, "must be between 0 and 1", value)
            values[key] = float(value)
        elif key == "temperature":
            values[key] = None if value is None else _number(spec, key, value, allow_zero=True)
        elif key == "image_quality":
            values[key] = _int(spec, key, value, minimum=1)
            if value > 100:
                raise _fail(spec, key, "must be <= 100", value)
        elif key in ("api_key_required", "supports_batch"):
            if not isinstance(value, bool):
                raise _fail(spec, key, "must be true or false", value)
            values[key] = value
        elif key == "capabilities":
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise _fail(spec, key, "must be a list of strings", value)
            values[key] = tuple(value)
        elif key == "structured_output" and value not in STRUCTURED_MODES:
            raise _fail(spec, key, f"must be one of {', '.join(STRUCTURED_MODES)}", value)
        elif key == "image_format" and str(value).lower() not in IMAGE_FORMATS:
            raise _fail(spec, key, f"must be one of {', '.join(IMAGE_FORMATS)}", value)
        elif value is not None and not isinstance(value, str):
            raise _fail(spec, key, "must be a string", value)
        else:
            values[key] = str(value).lower() if key == "image_format" else value

    values.setdefault("model_id", spec.name)
    values.setdefault("api_key_name", provider)
    if spec.framework == "openai-compatible":
        values.setdefault("api_key_required", False)
        if not values.get("base_url"):
            raise CloudConfigError(f"cloud model {spec.name!r}: option 'base_url' is required for openai-compatible")
    return CloudSettings(model_name=spec.name, framework=spec.framework, provider=provider, extra=extra, **values)


def find_api_key(settings: CloudSettings, api_keys: dict[str, str] | None) -> str | None:
    """The key for `settings` from `api_keys` (by api_key_name, then provider, then aliases); None if absent."""
    keys = api_keys or {}
    names = (settings.api_key_name, settings.provider, *KEY_ALIASES.get(settings.provider, ()))
    for name in names:
        value = keys.get(name)
        if value and value.strip():
            return value.strip()
    return None
