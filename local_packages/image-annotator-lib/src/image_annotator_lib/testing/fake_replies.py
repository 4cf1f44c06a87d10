"""Response bodies in each provider's wire format, for the loopback server in `fake_providers`.

A `Fault` names what the server should do with one request instead of answering normally. The JSON here
follows the public API references of OpenAI chat completions / files / batches, Anthropic messages / message
batches and Gemini generateContent, so the real SDKs parse it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

DEFAULT_ANSWER: dict[str, Any] = {
    "tags": [
        {"name": "1girl", "category": "general"},
        {"name": "solo", "category": "general"},
        {"name": "hatsune_miku", "category": "character"},
    ],
    "caption": "A girl with long teal twin tails stands on a stage.",
    "score": 7.5,
    "rating": "general",
}
TRUNCATED_TEXT = '{"tags": [{"name": "1girl", "category": "gen'
REFUSAL_TEXT = "I can't help with annotating this image."


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do with one request: kind is one of
    "ok", "rate_limit" (429 + Retry-After), "server_error" (500), "unauthorized" (401), "forbidden" (403),
    "timeout" (sleep `delay` seconds before answering), "slow" (answer after `delay`), "refusal",
    "blocked" (Google promptFeedback block; others: same as refusal), "truncated", "not_json",
    "garbage" (HTTP 200, Content-Type application/json, a body that is not JSON), "huge" (a valid answer whose
    caption has `size` characters; sent with Content-Length, or chunked without one when `chunked`),
    "hang" (never answer: the request waits until `FakeProviderServer.release()` or `stop()`, then the
    connection closes without a response; its status stays 0).
    """

    kind: str = "ok"
    retry_after: str | None = None
    delay: float = 0.0
    status: int | None = None
    size: int = 0
    chunked: bool = False


GARBAGE_BODY = b"<html><body>502 Bad Gateway (but sent as 200)</body></html>"


def error_body(provider: str, status: int, message: str) -> dict[str, Any]:
    """An HTTP error body as the provider sends it."""
    if provider == "anthropic":
        kinds = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
        return {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": message}}
    if provider == "google":
        states = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED"}
        return {"error": {"code": status, "message": message, "status": states.get(status, "INTERNAL")}}
    codes = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
    return {"error": {"message": message, "type": "error", "code": codes.get(status), "param": None}}


def openai_completion(model: str, fault: Fault, answer: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion object with the answer, a refusal or truncated JSON."""
    content: str | None = json.dumps(answer)
    refusal = None
    finish = "stop"
    if fault.kind in ("refusal", "blocked"):
        content, refusal = None, REFUSAL_TEXT
    elif fault.kind == "truncated":
        content, finish = TRUNCATED_TEXT, "length"
    elif fault.kind == "not_json":
        content = "Sure! Here are some tags: 1girl, solo"
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 850, "completion_tokens": 120, "total_tokens": 970},
    }


def anthropic_message(model: str, fault: Fault, answer: dict[str, Any], tool_name: str) -> dict[str, Any]:
    """A Message with the forced tool call, a refusal, or text cut off at max_tokens."""
    content: list[dict[str, Any]]
    stop = "tool_use"
    if fault.kind in ("refusal", "blocked"):
        content, stop = [{"type": "text", "text": REFUSAL_TEXT}], "refusal"
    elif fault.kind == "truncated":
        content, stop = [{"type": "text", "text": TRUNCATED_TEXT}], "max_tokens"
    elif fault.kind == "not_json":
        content, stop = [{"type": "text", "text": "Sure! Here are some tags: 1girl, solo"}], "end_turn"
    else:
        content = [{"type": "tool_use", "id": f"toolu_{time.monotonic_ns()}", "name": tool_name, "input": answer}]
    return {
        "id": f"msg_{time.monotonic_ns()}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 1500, "output_tokens": 130},
    }


def google_response(model: str, fault: Fault, answer: dict[str, Any]) -> dict[str, Any]:
    """A GenerateContentResponse (camelCase, as on the wire)."""
    usage = {"promptTokenCount": 560, "candidatesTokenCount": 110, "totalTokenCount": 670}
    if fault.kind == "blocked":
        return {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage, "modelVersion": model}
    text, finish = json.dumps(answer), "STOP"
    if fault.kind == "refusal":
        text, finish = "", "SAFETY"
    elif fault.kind == "truncated":
        text, finish = TRUNCATED_TEXT, "MAX_TOKENS"
    elif fault.kind == "not_json":
        text = "Sure! Here are some tags: 1girl, solo"
    parts = [{"text": text}] if text else []
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": f"resp-{time.monotonic_ns()}",
    }
