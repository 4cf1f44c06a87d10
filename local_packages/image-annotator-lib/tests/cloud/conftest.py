"""Fixtures for the cloud tests: a loopback provider server per test and specs pointing at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from image_annotator_lib.cloud.annotator import CloudAnnotator
from image_annotator_lib.cloud.prompt import set_prompt_context
from image_annotator_lib.core.types import ModelKind, ModelSpec
from image_annotator_lib.testing.fake_providers import FakeProviderServer, start_fake_provider_server
from PIL import Image

KEY = "sk-test-CLOUDKEY-0123456789"
PROVIDERS = ("openai", "anthropic", "google")


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    srv = start_fake_provider_server(required_key=KEY)
    try:
        yield srv
    finally:
        srv.stop()


def base_url_for(server: FakeProviderServer, framework: str) -> str:
    return {
        "openai": server.openai_base_url,
        "openai-compatible": server.openai_base_url,
        "anthropic": server.anthropic_base_url,
        "google": server.google_base_url,
    }[framework]


@pytest.fixture
def make_spec(server: FakeProviderServer) -> Callable[..., ModelSpec]:
    """A cloud spec for `framework` aimed at the test server, with tiny retry waits and no RPM limit."""

    def factory(framework: str, name: str | None = None, **options: Any) -> ModelSpec:
        opts: dict[str, Any] = {
            "base_url": base_url_for(server, framework),
            "model_id": f"{framework}-vision-test",
            "retry_backoff_base": 0.01,
            "retry_backoff_max": 0.05,
            "timeout": 5,
            "rate_limit_requests_per_minute": 0,
            "max_concurrency": 1,  # scripted faults are consumed in request order: keep it deterministic
        }
        opts.update(options)
        return ModelSpec(
            name=name or f"test-{framework}",
            kind=ModelKind.CLOUD,
            framework=framework,
            provider=framework,
            options=opts,
        )

    return factory


@pytest.fixture
def make_annotator(make_spec: Callable[..., ModelSpec]) -> Callable[..., CloudAnnotator]:
    def factory(framework: str, *, api_key: str | None = KEY, **options: Any) -> CloudAnnotator:
        keys = {framework: api_key} if api_key else {}
        annotator = CloudAnnotator(make_spec(framework, **options), api_keys=keys)
        annotator.load()
        return annotator

    return factory


def named_images(*names: str, size: tuple[int, int] = (96, 64)) -> list[Image.Image]:
    """Small distinct images carrying a file name in their prompt context (faults can target a name)."""
    return [
        set_prompt_context(Image.new("RGB", size, (30 * i % 255, 90, 160)), file_name=name)
        for i, name in enumerate(names)
    ]


@pytest.fixture
def keyless_server() -> Iterator[FakeProviderServer]:
    """Like a local Ollama / LM Studio: no key required."""
    srv = start_fake_provider_server()
    try:
        yield srv
    finally:
        srv.stop()
