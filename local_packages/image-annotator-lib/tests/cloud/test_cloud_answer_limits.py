"""Hostile or broken answers: junk bodies, oversized answers, connection failures, and answers handed over as
they arrive (so a caller can store paid work before a batch ends)."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from image_annotator_lib import annotate
from image_annotator_lib.cloud.annotator import CloudAnnotator
from image_annotator_lib.cloud.providers.base import connection_hint, is_local_endpoint
from image_annotator_lib.core.registry import register_model, reload_registry
from image_annotator_lib.core.types import AnnotationResult, ErrorCode
from image_annotator_lib.testing.fake_providers import Fault

from .conftest import KEY, PROVIDERS, named_images


@pytest.mark.parametrize("framework", ["openai", "anthropic"])
def test_200_with_a_junk_body_is_malformed_and_not_retried(server, make_annotator, framework):
    server.script(framework, [Fault("garbage")])
    [result] = make_annotator(framework, retry_attempts=3).annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.MALFORMED_RESPONSE
    assert "not JSON" in result.error.message
    assert server.count(framework) == 1  # junk is final: retrying would pay again for the same junk


@pytest.mark.parametrize("framework", PROVIDERS)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_ten_megabyte_answer_is_refused_while_reading(server, make_annotator, framework, chunked):
    server.script(framework, [Fault("huge", size=10 * 1024 * 1024, chunked=chunked)])
    annotator = make_annotator(framework, retry_attempts=3)
    [result] = annotator.annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.MALFORMED_RESPONSE
    assert "too large" in result.error.message and "max_response_bytes" in result.error.message
    assert server.count(framework) == 1  # refused once, never asked again
    [after] = annotator.annotate_batch(named_images("b.png"), ["p2"])  # the client still works
    assert after.ok, after.error


@pytest.mark.parametrize("framework", PROVIDERS)
def test_caption_over_the_limit_is_malformed(server, make_annotator, framework):
    server.script(framework, [Fault("huge", size=300)])
    [result] = make_annotator(framework, max_caption_chars=200).annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.MALFORMED_RESPONSE
    assert "caption" in result.error.message and "200" in result.error.message
    assert result.error.raw_text is not None and len(result.error.raw_text) < 5000  # kept short, not the body
    assert server.count(framework) == 1


def test_default_limit_refuses_a_100k_caption_but_not_a_normal_one(server, make_annotator):
    server.fault_when("big.png", Fault("huge", size=100 * 1024))
    server.fault_when("normal.png", Fault("huge", size=2000))
    big, normal = make_annotator("openai").annotate_batch(named_images("big.png", "normal.png"), ["p1", "p2"])
    assert big.error is not None and big.error.code is ErrorCode.MALFORMED_RESPONSE
    assert normal.ok and len(normal.caption or "") == 2000


def test_too_many_tags_is_malformed(server, make_annotator):
    server.set_answer({"tags": [f"tag{i}" for i in range(11)], "caption": "x", "score": 5, "rating": "general"})
    [result] = make_annotator("openai", max_answer_tags=10).annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.MALFORMED_RESPONSE
    assert "11 tags" in result.error.message


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:11434/v1", True),
        ("http://127.0.0.1:1234/v1", True),
        ("http://192.168.1.20:8000/v1", True),
        ("http://[::1]:8080/v1", True),
        ("http://ollama:11434/v1", True),
        ("http://gpu-box.local:8000/v1", True),
        ("https://api.openai.com/v1", False),
        ("https://api.anthropic.com", False),
        ("https://generativelanguage.googleapis.com", False),
        ("https://openrouter.ai/api/v1", False),
        (None, False),
    ],
)
def test_endpoint_locality(url, local):
    assert is_local_endpoint(url) is local
    assert ("running?" in connection_hint(url)) is local


@pytest.mark.parametrize(
    ("framework", "base_url", "running_hint"),
    [
        ("openai-compatible", "http://127.0.0.1:9/v1", True),  # a local server that is not running
        ("openai", None, False),  # api.openai.com itself: the network is the likely cause
    ],
)
def test_connection_error_hint_fits_the_endpoint(make_spec, framework, base_url, running_hint, monkeypatch):
    if base_url is None:
        # Unreachable through a proxy nobody listens on, so no test ever talks to the real provider.
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    spec = make_spec(framework, base_url=base_url, retry_attempts=0, timeout=5)
    if base_url is None:
        spec = dataclasses.replace(spec, options={k: v for k, v in spec.options.items() if k != "base_url"})
    annotator = CloudAnnotator(spec, api_keys={"openai": KEY})
    [result] = annotator.annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.PROVIDER_ERROR
    assert ("is the server" in result.error.message) is running_hint
    if not running_hint:
        assert "internet connection" in result.error.message


def test_each_answer_is_handed_over_as_it_arrives(server, make_spec):
    """on_result sees answer k before the batch (and the next requests) finish: a run killed mid-batch has
    already stored every answer it paid for."""
    reload_registry()
    register_model(make_spec("openai", name="stream-me", max_concurrency=1))
    seen: list[tuple[str, str, bool]] = []
    answered_when_handed: list[int] = []

    def on_result(key: str, model: str, result: AnnotationResult) -> None:
        seen.append((key, model, result.ok))
        answered_when_handed.append(server.answered("openai"))

    try:
        results = annotate(
            named_images("a.png", "b.png", "c.png"),
            ["stream-me"],
            ["k1", "k2", "k3"],
            api_keys={"openai": KEY},
            on_result=on_result,
        )
    finally:
        reload_registry()
    assert sorted(seen) == [("k1", "stream-me", True), ("k2", "stream-me", True), ("k3", "stream-me", True)]
    # One request at a time: each answer was handed over before the next request was even answered.
    assert answered_when_handed == [1, 2, 3]
    assert all(results[k]["stream-me"].ok for k in ("k1", "k2", "k3"))


def test_cancel_stops_requests_waiting_for_a_concurrency_slot(server, make_annotator):
    """A cancel (Ctrl+C) while a request waits for a free slot must not send it once the slot frees."""
    server.script("openai", [Fault("hang")])
    annotator = make_annotator("openai", max_concurrency=1, retry_attempts=0)
    cancel = threading.Event()
    box: dict[str, list[AnnotationResult]] = {}
    worker = threading.Thread(
        target=lambda: box.setdefault(
            "results", annotator.annotate_batch(named_images("a.png", "b.png"), ["p1", "p2"], cancel=cancel)
        )
    )
    worker.start()
    deadline = time.monotonic() + 30
    while server.count("openai") < 1 and time.monotonic() < deadline:  # the first request is held by the server
        time.sleep(0.01)
    cancel.set()
    server.release()  # the held request ends without an answer; the slot frees
    worker.join(timeout=30)
    results = box["results"]
    # Which image's request got the slot first is up to the event loop. That one was held and ends without an
    # answer (a provider error, or cancelled if the client notices the cancel first); the other waited for the
    # slot and must never be sent.
    errors = sorted((r.error.code.value, r.error.message) for r in results if r.error is not None)
    assert len(errors) == 2
    assert ("cancelled", "cancelled before sending") in errors
    assert {code for code, _message in errors} <= {"cancelled", "provider_error"}
    assert server.count("openai") == 1  # the waiting request was never sent
