"""Provider adapters: request shape, SDK call and answer parsing for each cloud API."""

from __future__ import annotations

from image_annotator_lib.cloud.providers.base import ProviderAdapter, Reply
from image_annotator_lib.cloud.settings import CloudSettings


def make_adapter(settings: CloudSettings, api_key: str | None) -> ProviderAdapter:
    """The adapter for `settings.framework` (openai-compatible servers use the OpenAI adapter)."""
    if settings.framework in ("openai", "openai-compatible"):
        from image_annotator_lib.cloud.providers.openai_provider import OpenAIAdapter

        return OpenAIAdapter(settings, api_key)
    if settings.framework == "anthropic":
        from image_annotator_lib.cloud.providers.anthropic_provider import AnthropicAdapter

        return AnthropicAdapter(settings, api_key)
    if settings.framework == "google":
        from image_annotator_lib.cloud.providers.google_provider import GoogleAdapter

        return GoogleAdapter(settings, api_key)
    raise ValueError(f"no cloud adapter for framework {settings.framework!r}")


__all__ = ["ProviderAdapter", "Reply", "make_adapter"]
