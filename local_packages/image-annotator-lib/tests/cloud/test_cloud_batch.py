"""Batch APIs through the real SDKs: OpenAI files + batches, Anthropic message batches, result files on disk."""

from __future__ import annotations

import json

import pytest
from image_annotator_lib.cloud.batch import (
    BatchNotReadyError,
    batch_status,
    fetch_batch_results,
    list_batch_jobs,
    load_batch_job,
    parse_batch_results_file,
    submit_batch,
    wait_for_batch,
)
from image_annotator_lib.cloud.errors import CloudConfigError, MissingAPIKeyError
from image_annotator_lib.core.types import ErrorCode
from image_annotator_lib.testing.fake_providers import Fault

from .conftest import KEY, named_images

BATCH = ("openai", "anthropic")


@pytest.mark.parametrize("framework", BATCH)
def test_submit_poll_fetch_keyed_by_phash(server, make_spec, tmp_path, framework):
    server.fault_when("refuse_me.png", Fault("refusal"))
    server.fault_when("broken.png", Fault("server_error"))
    spec = make_spec(framework, supports_batch=True)
    keys = {framework: KEY}
    images = named_images("a.png", "refuse_me.png", "broken.png", "a_again.png")
    phashes = ["aaaa0001", "bbbb0002", "cccc0003", "aaaa0001"]  # last one is a duplicate image

    job = submit_batch(spec, images, phashes, tmp_path, keys)
    assert job.n_requests == 3 and job.skipped_duplicates == 1 and not job.done
    assert (tmp_path / f"{job.id}.job.json").is_file()
    with pytest.raises(BatchNotReadyError, match="not finished"):
        fetch_batch_results(load_batch_job(tmp_path / f"{job.id}.job.json"), tmp_path, keys)

    job = wait_for_batch(job, keys, poll_interval=0.01, timeout=30)
    assert job.status == "completed"
    results = fetch_batch_results(job, tmp_path, keys)

    assert set(results) == {"aaaa0001", "bbbb0002", "cccc0003"}
    ok = results["aaaa0001"][spec.name]
    assert ok.ok and ok.caption and [t.name for t in ok.tags][:2] == ["1girl", "solo"]
    assert ok.raw is not None and ok.raw["batch_id"] == job.id
    refused = results["bbbb0002"][spec.name]
    assert refused.error is not None and refused.error.code is ErrorCode.POLICY_VIOLATION
    failed = results["cccc0003"][spec.name]
    assert failed.error is not None and failed.error.code is ErrorCode.PROVIDER_ERROR
    # Result files are in results_dir, complete (no temporary leftovers), and re-importable offline.
    assert job.result_files and all((tmp_path / p.split("/")[-1]).is_file() for p in job.result_files)
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("batch-input-*"))
    reimported: dict = {}
    for path in job.result_files:
        for k, v in parse_batch_results_file(path).items():
            reimported.setdefault(k, {}).update(v)
    assert reimported["aaaa0001"][spec.name].caption == ok.caption
    assert [j.id for j in list_batch_jobs(tmp_path)] == [job.id]


def test_openai_batch_jsonl_lines_carry_custom_id_and_chat_body(server, make_spec, tmp_path):
    job = submit_batch(
        make_spec("openai", supports_batch=True), named_images("a.png"), ["ff00"], tmp_path, {"openai": KEY}
    )
    create = next(r for r in server.requests if r.provider == "openai-batch" and r.method == "POST").json()
    assert create["endpoint"] == "/v1/chat/completions" and create["completion_window"] == "24h"
    batch = server._state.batches.openai[job.id]
    line = json.loads(server._state.batches.files[batch["input_file_id"]][1].decode().splitlines()[0])
    assert line["custom_id"] == "ff00" and line["url"] == "/v1/chat/completions" and line["method"] == "POST"
    assert line["body"]["response_format"]["type"] == "json_schema"


def test_batch_status_polls_until_done(server, make_spec, tmp_path):
    keys = {"anthropic": KEY}
    job = submit_batch(make_spec("anthropic", supports_batch=True), named_images("a.png"), ["p1"], tmp_path, keys)
    first = batch_status(job, keys, results_dir=tmp_path)
    assert first.status == "in_progress" and first.provider_status == "in_progress"
    second = batch_status(first, keys, results_dir=tmp_path)
    assert second.done and second.request_counts["succeeded"] == 1
    assert load_batch_job(tmp_path / f"{job.id}.job.json").status == "completed"  # manifest refreshed


def test_google_has_no_batch_here_and_keys_are_required(make_spec, tmp_path):
    with pytest.raises(CloudConfigError, match="no Batch API"):
        submit_batch(make_spec("google"), named_images("a.png"), ["p1"], tmp_path, {"google": KEY})
    with pytest.raises(MissingAPIKeyError, match="needs API key: openai"):
        submit_batch(make_spec("openai", supports_batch=True), named_images("a.png"), ["p1"], tmp_path, {})


def test_anthropic_rejects_phash_that_cannot_be_custom_id(make_spec, tmp_path):
    with pytest.raises(ValueError, match="custom_id"):
        submit_batch(
            make_spec("anthropic", supports_batch=True), named_images("a.png"), ["not/ok"], tmp_path, {"anthropic": KEY}
        )


def test_parse_file_without_manifest_uses_provider_model_and_skips_garbage(tmp_path):
    path = tmp_path / "downloaded.jsonl"
    good = {
        "custom_id": "abcd",
        "response": {
            "status_code": 200,
            "body": {
                "id": "x",
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": json.dumps(
                                {
                                    "tags": [{"name": "cat", "category": "general"}],
                                    "caption": "A cat.",
                                    "score": 6,
                                    "rating": "general",
                                }
                            ),
                        },
                    }
                ],
            },
        },
        "error": None,
    }
    expired = {"custom_id": "ef01", "response": None, "error": {"code": "batch_expired", "message": "expired"}}
    path.write_text(json.dumps(good) + "\nnot json\n" + json.dumps(expired) + "\n", encoding="utf-8")
    results = parse_batch_results_file(path)
    assert results["abcd"]["gpt-4o-mini"].caption == "A cat."
    assert results["ef01"]["unknown-model"].error.code is ErrorCode.TIMEOUT
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.jsonl"):
        parse_batch_results_file(empty)


@pytest.mark.parametrize("framework", BATCH)
def test_wrong_key_on_submit_raises_authentication_error_at_once(server, make_spec, tmp_path, framework):
    from image_annotator_lib.cloud.errors import AuthenticationError

    wrong = "sk-wrong-BATCHKEY-0000000000"
    with pytest.raises(AuthenticationError) as info:
        submit_batch(
            make_spec(framework, supports_batch=True, retry_attempts=3),
            named_images("a.png"),
            ["p1"],
            tmp_path,
            {framework: wrong},
        )
    assert wrong not in str(info.value) and "BATCHKEY" not in str(info.value)
    assert server.count(f"{framework}-batch") + server.count("openai-files") == 1  # not retried
    assert not list(tmp_path.glob("*.job.json"))  # nothing half-written
