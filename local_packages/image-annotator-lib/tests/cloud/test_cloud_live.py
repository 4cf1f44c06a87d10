"""Live requests through the real SDKs against the loopback server: answers, retries and typed errors."""

from __future__ import annotations

import pytest
from image_annotator_lib.core.types import ErrorCode
from image_annotator_lib.testing.fake_providers import Fault

from .conftest import KEY, PROVIDERS, named_images


@pytest.mark.parametrize("framework", PROVIDERS)
def test_one_request_returns_tags_caption_score_and_rating(server, make_annotator, framework):
    annotator = make_annotator(framework)
    [result] = annotator.annotate_batch(named_images("a.png"), ["p1"])

    assert result.ok, result.error
    assert [(t.name, t.category) for t in result.tags] == [
        ("1girl", "general"),
        ("solo", "general"),
        ("hatsune_miku", "character"),
    ]
    assert result.caption == "A girl with long teal twin tails stands on a stage."
    score = result.scores["cloud_aesthetic"]
    assert (score.value, score.scale_min, score.scale_max) == (7.5, 1.0, 10.0)
    assert result.rating is not None and result.rating.label == "general"
    assert (result.framework, result.device) == (framework, "cloud")
    assert result.raw is not None and result.raw["usage"]["input_tokens"] > 0
    assert server.count(framework) == 1


@pytest.mark.parametrize("framework", PROVIDERS)
def test_429_with_retry_after_is_retried(server, make_annotator, framework):
    server.script(framework, [Fault("rate_limit", retry_after="0"), Fault("rate_limit", retry_after="0")])
    [result] = make_annotator(framework, retry_attempts=3).annotate_batch(named_images("a.png"), ["p1"])
    assert result.ok, result.error
    assert server.count(framework) == 3
    assert result.raw is not None and result.raw["attempts"] == 3


def test_retry_waits_at_least_retry_after(server, make_annotator):
    server.script("openai", [Fault("rate_limit", retry_after="1")])
    [result] = make_annotator("openai").annotate_batch(named_images("a.png"), ["p1"])
    first, second = server.requests
    assert result.ok
    assert first.status == 429 and second.status == 200
    assert second.started - first.started >= 1.0  # the provider asked for 1 s: never sooner


@pytest.mark.parametrize("framework", PROVIDERS)
def test_429_beyond_retry_attempts_is_rate_limited(server, make_annotator, framework):
    server.script(framework, [Fault("rate_limit", retry_after="0")] * 5)
    [result] = make_annotator(framework, retry_attempts=2).annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.RATE_LIMITED
    assert server.count(framework) == 3  # first try + 2 retries, as configured


@pytest.mark.parametrize("framework", PROVIDERS)
def test_500_then_success(server, make_annotator, framework):
    server.script(framework, [Fault("server_error")])
    [result] = make_annotator(framework).annotate_batch(named_images("a.png"), ["p1"])
    assert result.ok, result.error
    assert server.count(framework) == 2


@pytest.mark.parametrize("framework", PROVIDERS)
def test_persistent_5xx_gives_provider_error_after_bounded_retries(server, make_annotator, framework):
    server.script(framework, [Fault("server_error", status=503)] * 10)
    [result] = make_annotator(framework, retry_attempts=1).annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.PROVIDER_ERROR
    assert "503" in result.error.message
    assert server.count(framework) == 2


@pytest.mark.parametrize("framework", PROVIDERS)
def test_timeout_is_retried_then_reported(server, make_annotator, framework):
    server.script(framework, [Fault("timeout", delay=1.5), Fault("timeout", delay=1.5)])
    annotator = make_annotator(framework, timeout=0.4, retry_attempts=1)
    [result] = annotator.annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.TIMEOUT
    assert server.count(framework) == 2

    [again] = annotator.annotate_batch(named_images("b.png"), ["p2"])  # the script is used up: answers now
    assert again.ok


@pytest.mark.parametrize("framework", PROVIDERS)
def test_401_is_not_retried_and_marks_every_image(server, make_annotator, framework):
    wrong = "sk-wrong-key-ABCDEFGHIJKLMNOP"
    annotator = make_annotator(framework, api_key=wrong, retry_attempts=3)
    results = annotator.annotate_batch(named_images("a.png", "b.png", "c.png"), ["p1", "p2", "p3"])

    assert [r.error.code for r in results if r.error] == [ErrorCode.AUTHENTICATION] * 3
    assert server.count(framework) == 1  # at once: no retry, and no further image sent with a bad key
    for r in results:
        assert r.error is not None
        assert wrong not in r.error.message and "ABCDEFGHIJ" not in r.error.message


@pytest.mark.parametrize("framework", PROVIDERS)
def test_403_is_authentication(server, make_annotator, framework):
    server.script(framework, [Fault("forbidden")])
    [result] = make_annotator(framework).annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.AUTHENTICATION
    assert server.count(framework) == 1


@pytest.mark.parametrize("framework", PROVIDERS)
def test_refusal_is_policy_violation_and_other_images_are_kept(server, make_annotator, framework):
    server.fault_when("refuse_me.png", Fault("refusal"))
    results = make_annotator(framework, max_concurrency=3).annotate_batch(
        named_images("a.png", "refuse_me.png", "c.png"), ["p1", "p2", "p3"]
    )
    assert results[0].ok and results[2].ok
    assert results[1].error is not None and results[1].error.code is ErrorCode.POLICY_VIOLATION
    assert results[1].error.is_policy_violation
    assert server.count(framework) == 3  # a refusal is final: not retried


def test_google_prompt_block_is_policy_violation(server, make_annotator):
    server.script("google", [Fault("blocked")])
    [result] = make_annotator("google").annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.POLICY_VIOLATION
    assert "SAFETY" in result.error.message


@pytest.mark.parametrize("framework", PROVIDERS)
def test_truncated_json_is_malformed_with_raw_text(server, make_annotator, framework):
    server.fault_when("cut_off.png", Fault("truncated"))
    results = make_annotator(framework).annotate_batch(named_images("cut_off.png", "fine.png"), ["p1", "p2"])
    bad, good = results
    assert bad.error is not None and bad.error.code is ErrorCode.MALFORMED_RESPONSE
    assert bad.error.raw_text == '{"tags": [{"name": "1girl", "category": "gen'
    assert good.ok
    assert server.count(framework) == 2  # malformed answers are not retried


@pytest.mark.parametrize("framework", ["openai", "anthropic"])
def test_prose_instead_of_json_is_malformed(server, make_annotator, framework):
    server.script(framework, [Fault("not_json")])
    [result] = make_annotator(framework).annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.MALFORMED_RESPONSE
    assert result.error.raw_text is not None and "Sure!" in result.error.raw_text


@pytest.mark.parametrize("framework", PROVIDERS)
def test_slow_answers_all_arrive_with_concurrency(server, make_annotator, framework):
    server.script(framework, [Fault("slow", delay=0.3)] * 6)
    names = [f"img{i}.png" for i in range(6)]
    results = make_annotator(framework, max_concurrency=3).annotate_batch(named_images(*names), names)
    assert all(r.ok for r in results)
    assert server.count(framework) == 6


def test_answer_that_breaks_the_schema_names_the_field(server, make_annotator):
    server.set_answer({"tags": [], "caption": "x", "score": 42, "rating": "general"})
    [result] = make_annotator("openai").annotate_batch(named_images("a.png"), ["p1"])
    assert result.error is not None and result.error.code is ErrorCode.MALFORMED_RESPONSE
    assert "'score'" in result.error.message and result.error.raw_text is not None


def test_cancel_before_sending(server, make_annotator):
    import threading

    cancel = threading.Event()
    cancel.set()
    results = make_annotator("openai").annotate_batch(named_images("a.png", "b.png"), ["p1", "p2"], cancel=cancel)
    assert [r.error.code for r in results if r.error] == [ErrorCode.CANCELLED] * 2
    assert server.count("openai") == 0


def test_progress_is_reported_per_image(server, make_annotator):
    seen: list[tuple[int, int]] = []
    make_annotator("anthropic").annotate_batch(
        named_images("a.png", "b.png"), ["p1", "p2"], progress=lambda d, t, m: seen.append((d, t))
    )
    assert seen == [(1, 2), (2, 2)]


def test_key_is_sent_in_the_provider_header(server, make_annotator):
    for framework in PROVIDERS:
        make_annotator(framework).annotate_batch(named_images("a.png"), ["p1"])
    headers = {r.provider: r.headers for r in server.requests}
    assert headers["openai"]["authorization"] == f"Bearer {KEY}"
    assert KEY in (headers["anthropic"].get("x-api-key", "") + headers["anthropic"].get("authorization", ""))
    assert headers["google"]["x-goog-api-key"] == KEY


def test_concurrency_cap_is_shared_by_models_of_one_endpoint(server, make_spec):
    import threading

    from image_annotator_lib.cloud.annotator import CloudAnnotator

    server.set_latency(0.3)
    annotators = [
        CloudAnnotator(make_spec("openai", name=f"m{i}", max_concurrency=2), api_keys={"openai": KEY}) for i in (1, 2)
    ]
    outcomes: list[bool] = []

    def work(annotator: CloudAnnotator, tag: str) -> None:
        names = [f"{tag}{i}.png" for i in range(4)]
        outcomes.extend(r.ok for r in annotator.annotate_batch(named_images(*names), names))

    threads = [threading.Thread(target=work, args=(a, f"t{i}")) for i, a in enumerate(annotators)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == [True] * 8
    # Each slot holds a request for >= 0.3 s, so with a shared cap of 2 no 0.25 s window sees 3 starts.
    assert server.max_in_window(0.25, "openai") <= 2


@pytest.mark.parametrize("framework", PROVIDERS)
def test_unreachable_server_is_provider_error_naming_the_endpoint(make_annotator, framework):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}" + ("/v1" if framework == "openai" else "")
    [result] = make_annotator(framework, base_url=url, retry_attempts=1).annotate_batch(named_images("a.png"), ["p"])
    assert result.error is not None and result.error.code is ErrorCode.PROVIDER_ERROR
    assert f"127.0.0.1:{port}" in result.error.message
    assert result.raw == {"attempts": 2}  # connection failures are retried like 5xx
