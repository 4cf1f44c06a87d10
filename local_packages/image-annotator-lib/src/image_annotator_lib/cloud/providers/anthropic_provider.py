"""Anthropic Messages API. Structured output through one tool whose input_schema is the annotation schema,
forced with tool_choice: the SDK and API support this on every vision model, and the answer arrives already
decoded as the tool's `input`.
"""

from __future__ import annotations

import json
from typing import Any

from image_annotator_lib.cloud.errors import MalformedResponseError, PolicyViolationError
from image_annotator_lib.cloud.imaging import EncodedImage
from image_annotator_lib.cloud.providers.base import ProviderAdapter, Reply, reply_meta
from image_annotator_lib.cloud.schema import (
    DEFAULT_LIMITS,
    TOOL_NAME,
    AnswerLimits,
    annotation_schema,
    parse_answer_text,
    validate_answer,
)


class AnthropicAdapter(ProviderAdapter):
    """messages.create with a forced `record_annotation` tool."""

    framework = "anthropic"

    def make_client(self) -> Any:
        import anthropic  # lazy

        return anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=self.settings.base_url,
            timeout=self.settings.timeout,
            max_retries=0,
            http_client=self.http_client(),
        )

    def sdk_http_client_class(self) -> Any:
        import anthropic

        return anthropic.DefaultAsyncHttpxClient

    def request_params(self, prompt: str, system_prompt: str, image: EncodedImage) -> dict[str, Any]:
        """The /v1/messages parameters for one image (used live and as Message Batches `params`)."""
        s = self.settings
        params: dict[str, Any] = {
            "model": s.model_id,
            "max_tokens": s.max_output_tokens,
            "system": system_prompt,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": image.mime_type, "data": image.b64},
                        },
                        {"type": "text", "text": prompt},
                    ],
                }
            ],
            "tools": [
                {
                    "name": TOOL_NAME,
                    "description": "Record the tags, caption, aesthetic score and content rating of the image.",
                    "input_schema": annotation_schema(),
                }
            ],
            "tool_choice": {"type": "tool", "name": TOOL_NAME},
        }
        if s.temperature is not None:
            params["temperature"] = s.temperature
        return params

    async def request(self, client: Any, prompt: str, system_prompt: str, image: EncodedImage) -> Reply:
        params = self.request_params(prompt, system_prompt, image)
        data = await self.post_json(client, "/v1/messages", params)
        return parse_message(data, self.settings.answer_limits)


def parse_message(data: dict[str, Any], limits: AnswerLimits = DEFAULT_LIMITS) -> Reply:
    """Validate a Message (as a dict): stop_reason refusal -> policy, missing/partial tool input -> malformed."""
    stop = data.get("stop_reason")
    content = data.get("content") or []
    texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    if stop == "refusal":
        raise PolicyViolationError("model refused (stop_reason=refusal)", raw_text="\n".join(texts) or None)
    tool_inputs = [
        b.get("input")
        for b in content
        if isinstance(b, dict) and b.get("type") == "tool_use" and b.get("name") == TOOL_NAME
    ]
    cut = " (answer cut off at max_tokens)" if stop == "max_tokens" else ""
    if tool_inputs:
        raw = json.dumps(tool_inputs[0], ensure_ascii=False)
        try:
            annotation = validate_answer(tool_inputs[0], raw_text=raw, limits=limits)
        except MalformedResponseError as exc:
            exc.message += cut
            raise
    elif texts:
        try:
            annotation = parse_answer_text("\n".join(texts), limits)
        except MalformedResponseError as exc:
            exc.message += cut
            raise
    else:
        raise MalformedResponseError(f"response has neither tool input nor text{cut}", raw_text=json.dumps(content))
    usage = data.get("usage") or {}
    meta = reply_meta(data.get("id"), data.get("model"), stop, usage.get("input_tokens"), usage.get("output_tokens"))
    return Reply(annotation=annotation, meta=meta)
