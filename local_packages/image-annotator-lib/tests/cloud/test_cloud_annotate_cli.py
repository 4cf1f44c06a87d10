"""Cloud models through the library's annotate(), list_available_models(), estimate() and its command line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from image_annotator_lib import annotate, list_available_models
from image_annotator_lib.cli.main import main
from image_annotator_lib.cloud.estimate import estimate
from image_annotator_lib.cloud.settings import BUNDLED_TOML
from image_annotator_lib.core.registry import ModelRegistry, register_model, reload_registry
from image_annotator_lib.core.types import ErrorCode
from image_annotator_lib.testing.fake_providers import Fault
from PIL import Image

from .conftest import KEY, named_images


@pytest.fixture(autouse=True)
def clean_registry():
    yield
    reload_registry()


def test_annotate_runs_cloud_models_and_keeps_other_results(server, make_spec):
    server.fault_when("refuse_me.png", Fault("refusal"))
    register_model(make_spec("openai", name="cloud-a"))
    register_model(make_spec("anthropic", name="cloud-b"))
    register_model(make_spec("google", name="cloud-no-key"))
    images = named_images("a.png", "refuse_me.png")
    results = annotate(
        images, ["cloud-a", "cloud-b", "cloud-no-key"], ["h1", "h2"], api_keys={"openai": KEY, "anthropic": KEY}
    )
    assert results["h1"]["cloud-a"].ok and results["h1"]["cloud-b"].ok
    assert results["h2"]["cloud-a"].error.code is ErrorCode.POLICY_VIOLATION
    assert results["h2"]["cloud-b"].error.code is ErrorCode.POLICY_VIOLATION
    for key in ("h1", "h2"):
        error = results[key]["cloud-no-key"].error
        assert error is not None and error.code is ErrorCode.NEEDS_API_KEY and "google" in error.message
    assert server.count("google") == 0


def test_list_available_models_says_needs_api_key():
    statuses = {s.name: s for s in list_available_models(api_keys={"openai": "sk-x"})}
    assert statuses["gpt-4o-mini"].available
    claude = statuses["claude-haiku-4-5"]
    assert not claude.available and claude.needs == ("API key: anthropic",) and claude.device == "cloud"


def test_estimate_prices_tokens_and_time():
    bundled = ModelRegistry()
    bundled.add_file(BUNDLED_TOML)  # the shipped prices, whatever other tests registered globally
    gpt_spec, claude_spec = bundled.get("gpt-4o-mini"), bundled.get("claude-haiku-4-5")
    est = estimate([gpt_spec, claude_spec], 100, image_size=(2048, 2048))
    gpt, claude = est.models
    assert gpt.input_tokens > 100 * 765  # 1024x1024 after downscale: 4 tiles = 765 image tokens each
    assert claude.input_tokens > 100 * 1398  # 1024 * 1024 / 750
    assert gpt.usd == pytest.approx((gpt.input_tokens * 0.15 + gpt.output_tokens * 0.60) / 1e6)
    assert est.usd == pytest.approx(gpt.usd + claude.usd)
    assert claude.seconds >= (100 - 4) * 60 / 50  # 50 requests per minute after a burst of 4
    batch = estimate([gpt_spec], 100, image_size=(2048, 2048), batch=True).models[0]
    assert batch.usd == pytest.approx(gpt.usd * 0.5)


def test_estimate_unknown_price_is_none():
    from image_annotator_lib.core.types import ModelKind, ModelSpec

    spec = ModelSpec(
        "srv", ModelKind.CLOUD, "openai-compatible", options={"base_url": "http://x/v1", "price_input_per_1m": None}
    )
    assert estimate([spec], 10).usd is None


def test_run_command_prints_tags_and_caption(keyless_server, tmp_path, capsys):
    server = keyless_server
    path = tmp_path / "photo.png"
    Image.new("RGB", (640, 480), (200, 100, 50)).save(path)
    code = main(["run", "--model", "my-llava", "--base-url", server.openai_base_url, str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "tags: 1girl, solo, hatsune_miku" in out
    assert "caption: A girl with long teal twin tails stands on a stage." in out
    body = server.requests[0].json()
    assert body["model"] == "my-llava" and "photo.png" in body["messages"][1]["content"][0]["text"]


def test_run_command_reports_refusal_with_exit_code(keyless_server, tmp_path, capsys):
    server = keyless_server
    server.fault_when("nsfw.png", Fault("refusal"))
    path = tmp_path / "nsfw.png"
    Image.new("RGB", (64, 64)).save(path)
    code = main(["run", "-m", "srv-model", "--base-url", server.openai_base_url, str(path)])
    assert code == 1 and "error (policy_violation)" in capsys.readouterr().out


def test_importing_the_library_imports_no_sdk():
    code = (
        "import sys, image_annotator_lib, image_annotator_lib.cloud.annotator; "
        "print(sorted(m for m in ('openai', 'anthropic', 'google.genai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_user_file_adds_a_keyless_openai_compatible_model(keyless_server, tmp_path):
    from image_annotator_lib.core.registry import register_model_file

    user_file = tmp_path / "my_models.toml"
    user_file.write_text(
        f"""
[models."ollama-llava"]
kind = "cloud"
framework = "openai-compatible"
provider = "ollama"
batch_size = 256
[models."ollama-llava".options]
model_id = "llava:13b"
base_url = "{keyless_server.openai_base_url}"
structured_output = "json_object"
""",
        encoding="utf-8",
    )
    assert register_model_file(user_file) == ["ollama-llava"]
    status = {s.name: s for s in list_available_models(api_keys={})}["ollama-llava"]
    assert status.available and status.provider == "ollama"
    result = annotate(named_images("a.png"), ["ollama-llava"], ["h1"], api_keys={})["h1"]["ollama-llava"]
    assert result.ok and result.framework == "openai-compatible"
    body = keyless_server.requests[0].json()
    assert body["model"] == "llava:13b" and body["response_format"] == {"type": "json_object"}
    assert '"caption"' in body["messages"][1]["content"][0]["text"]  # JSON instructions go into the prompt


def test_batch_commands_submit_status_fetch_import(server, make_spec, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    register_model(make_spec("openai", name="batch-gpt", supports_batch=True))
    image = tmp_path / "cat.png"
    Image.new("RGB", (64, 48), (1, 2, 3)).save(image)
    out_dir = tmp_path / "results"

    assert main(["batch", "submit", "-m", "batch-gpt", "--results-dir", str(out_dir), str(image)]) == 0
    [manifest] = out_dir.glob("*.job.json")
    assert main(["batch", "status", str(manifest)]) == 0
    assert main(["batch", "status", str(manifest)]) == 0
    assert main(["batch", "fetch", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "submitted openai batch" in out and ": completed" in out and "1 of 1 images annotated" in out
    [output] = out_dir.glob("*_output.jsonl")
    assert main(["batch", "import", str(output)]) == 0
    assert "A girl with long teal twin tails" in capsys.readouterr().out
