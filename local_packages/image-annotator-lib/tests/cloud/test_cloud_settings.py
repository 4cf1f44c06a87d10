"""Model entries, settings validation, keys and status ("needs API key"), key scrubbing."""

from __future__ import annotations

import pytest
from image_annotator_lib.cloud.annotator import CloudAnnotator
from image_annotator_lib.cloud.errors import CloudConfigError, MissingAPIKeyError, scrub
from image_annotator_lib.cloud.settings import BUNDLED_TOML, find_api_key, settings_from_spec
from image_annotator_lib.core.registry import ModelRegistry
from image_annotator_lib.core.types import ErrorCode, ModelKind, ModelSpec


def cloud_specs() -> list[ModelSpec]:
    """The bundled cloud entries, read into a registry of their own (other tests change the global one)."""
    registry = ModelRegistry()
    registry.add_file(BUNDLED_TOML)
    return [s for s in registry.specs() if s.kind is ModelKind.CLOUD]


def test_bundled_cloud_models_are_valid_and_cover_every_provider():
    specs = cloud_specs()
    assert {s.framework for s in specs} >= {"openai", "anthropic", "google", "openai-compatible"}
    for spec in specs:
        settings = settings_from_spec(spec)
        assert settings.timeout > 0 and settings.retry_attempts >= 0 and settings.max_concurrency >= 1
        if spec.framework != "openai-compatible":
            assert settings.price_input_per_1m is not None and settings.rate_limit_requests_per_minute


def test_provider_defaults_and_model_overrides():
    spec = ModelSpec("x", ModelKind.CLOUD, "anthropic", provider="anthropic", options={"timeout": 7})
    settings = settings_from_spec(spec)
    assert settings.timeout == 7.0  # model option wins
    assert settings.retry_attempts == 2 and settings.rate_limit_requests_per_minute == 50  # [providers.anthropic]
    assert settings.model_id == "x"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout": "slow"}, "timeout"),
        ({"retry_attempts": -1}, "retry_attempts"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"image_format": "gif"}, "image_format"),
        ({"structured_output": "xml"}, "structured_output"),
        ({"image_quality": 101}, "image_quality"),
        ({"api_key_required": "no"}, "api_key_required"),
    ],
)
def test_bad_option_names_model_and_field(options, field):
    spec = ModelSpec("bad-model", ModelKind.CLOUD, "openai", options=options)
    with pytest.raises(CloudConfigError, match=rf"'bad-model'.*'{field}'"):
        settings_from_spec(spec)


def test_openai_compatible_needs_base_url_but_no_key():
    with pytest.raises(CloudConfigError, match="base_url"):
        settings_from_spec(ModelSpec("local", ModelKind.CLOUD, "openai-compatible"))
    spec = ModelSpec(
        "ollama-llava",
        ModelKind.CLOUD,
        "openai-compatible",
        provider="ollama",
        options={"base_url": "http://localhost:11434/v1", "model_id": "llava:13b"},
    )
    status = CloudAnnotator.status(spec, {})
    assert status.available and status.needs == () and status.device == "cloud"


def test_missing_key_makes_model_unavailable_not_broken():
    spec = ModelSpec("gpt", ModelKind.CLOUD, "openai", provider="openai")
    status = CloudAnnotator.status(spec, {})
    assert not status.available and status.installed
    assert status.needs == ("API key: openai",)
    assert CloudAnnotator.status(spec, {"openai": "sk-x"}).available
    with pytest.raises(MissingAPIKeyError, match="needs API key: openai") as info:
        CloudAnnotator(spec, api_keys={}).load()
    assert info.value.code is ErrorCode.NEEDS_API_KEY


def test_key_aliases_used_by_the_app():
    settings = settings_from_spec(ModelSpec("c", ModelKind.CLOUD, "anthropic", provider="anthropic"))
    assert find_api_key(settings, {"claude": " sk-ant-1 "}) == "sk-ant-1"
    assert find_api_key(settings, {"anthropic": ""}) is None


def test_scrub_removes_given_keys_and_key_shapes():
    text = (
        "Incorrect API key provided: sk-proj-abcdef123456. Also AIzaSyA1234567890123456789012 and Bearer abc.def.ghi1"
    )
    cleaned = scrub(text, ["sk-proj-abcdef123456"])
    assert "abcdef123456" not in cleaned and "AIzaSyA123" not in cleaned and "abc.def.ghi1" not in cleaned
    assert scrub("api_key=supersecretvalue", []) == "api_key=***"


def test_repr_never_shows_keys():
    spec = ModelSpec("gpt", ModelKind.CLOUD, "openai", provider="openai")
    annotator = CloudAnnotator(spec, api_keys={"openai": "sk-very-secret-123456"})
    annotator.load()
    assert "secret" not in repr(annotator) and "secret" not in repr(annotator._adapter)
