"""OpenAI chat completions (also every OpenAI-compatible server: Ollama, LM Studio, vLLM, OpenRouter).

The request body is built as a plain dict so the same body goes to the live endpoint and into Batch API JSONL,
and answers are parsed from plain dicts so live responses and batch output lines share one parser.
"""

from __future__ import annotations

import json
from typing import Any

from image_annotator_lib.cloud.errors import CloudError, MalformedResponseError, PolicyViolationError
from image_annotator_lib.cloud.imaging import EncodedImage
from image_annotator_lib.cloud.providers.base import ProviderAdapter, Reply, parse_text_answer, reply_meta
from image_annotator_lib.cloud.schema import DEFAULT_LIMITS, AnswerLimits, annotation_schema

_JSON_INSTRUCTION = (
    '\nAnswer with only a JSON object: {"tags": [{"name": str, "category": "general"|"character"|"copyright"'
    '|"artist"|"meta"}], "caption": str, "score": number 1-10, "rating": "general"|"sensitive"|"questionable"'
    '|"explicit"}.'
)


class OpenAIAdapter(ProviderAdapter):
    """Chat completions with a strict JSON-schema response format."""

    framework = "openai"

    def make_client(self) -> Any:
        import openai  # lazy: only when a cloud model of this provider actually runs

        return openai.AsyncOpenAI(
            # OpenAI-compatible servers that need no key still need a non-empty string for the SDK.
            api_key=self._api_key or "no-key-needed",
            base_url=self.settings.base_url,
            timeout=self.settings.timeout,
            max_retries=0,
            http_client=self.http_client(),
        )

    def sdk_http_client_class(self) -> Any:
        import openai

        return openai.DefaultAsyncHttpxClient

    def request_body(self, prompt: str, system_prompt: str, image: EncodedImage) -> dict[str, Any]:
        """The /v1/chat/completions body for one image (used live and in Batch JSONL)."""
        s = self.settings
        mode = s.structured_output
        text = prompt + (_JSON_INSTRUCTION if mode != "json_schema" else "")
        body: dict[str, Any] = {
            "model": s.model_id,
            "messages": [
                {"role": "system", "content": system_prompt},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": text},
                        {"type": "image_url", "image_url": {"url": image.data_url, "detail": s.image_detail}},
                    ],
                },
            ],
        }
        # OpenAI's own API wants max_completion_tokens; most compatible servers only know max_tokens.
        body["max_completion_tokens" if s.framework == "openai" else "max_tokens"] = s.max_output_tokens
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "image_annotation", "strict": True, "schema": annotation_schema()},
            }
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        if s.temperature is not None:
            body["temperature"] = s.temperature
        return body

    async def request(self, client: Any, prompt: str, system_prompt: str, image: EncodedImage) -> Reply:
        body = self.request_body(prompt, system_prompt, image)
        data = await self.post_json(client, "/chat/completions", body)
        return parse_chat_completion(data, self.settings.answer_limits)


def parse_chat_completion(data: dict[str, Any], limits: AnswerLimits = DEFAULT_LIMITS) -> Reply:
    """Validate a chat completion (as a dict): refusal / content_filter -> policy, bad JSON -> malformed."""
    choices = data.get("choices") or []
    if not choices:
        raise MalformedResponseError("response has no choices", raw_text=json.dumps(data))
    choice = choices[0]
    message = choice.get("message") or {}
    finish = choice.get("finish_reason")
    content = message.get("content")
    if message.get("refusal"):
        raise PolicyViolationError(f"model refused: {message['refusal']}", raw_text=str(message["refusal"]))
    if finish == "content_filter":
        raise PolicyViolationError("answer blocked by the provider's content filter", raw_text=content)
    if not isinstance(content, str) or not content.strip():
        raise MalformedResponseError(f"response has no text (finish_reason={finish})", raw_text=content)
    annotation = parse_text_answer(content, cut_off=finish == "length", limits=limits)
    usage = data.get("usage") or {}
    meta = reply_meta(
        data.get("id"), data.get("model"), finish, usage.get("prompt_tokens"), usage.get("completion_tokens")
    )
    return Reply(annotation=annotation, meta=meta)


def parse_error_body(body: object) -> CloudError | None:
    """For batch error lines: an OpenAI error body with a policy code is a policy violation."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and "content_policy" in str(err.get("code") or ""):
            return PolicyViolationError(str(err.get("message") or "content policy violation"))
    return None
