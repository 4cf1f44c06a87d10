"""Google Gemini through google-genai (`client.aio.models.generate_content`, i.e. POST
`/{api_version}/models/<model>:generateContent` on the base URL). Structured output with
response_mime_type application/json + response_schema.
"""

from __future__ import annotations

import json
from typing import Any

from image_annotator_lib.cloud.errors import (
    CloudError,
    MalformedResponseError,
    PolicyViolationError,
    ProviderError,
    RequestTimeoutError,
    scrub,
)
from image_annotator_lib.cloud.imaging import EncodedImage
from image_annotator_lib.cloud.limited_http import limited_async_client
from image_annotator_lib.cloud.providers.base import (
    ProviderAdapter,
    Reply,
    classify_http_status,
    connection_error,
    parse_text_answer,
    reply_meta,
)
from image_annotator_lib.cloud.schema import DEFAULT_LIMITS, AnswerLimits, annotation_schema
from image_annotator_lib.cloud.settings import CloudSettings


def _async_client_class() -> Any:
    """httpx2's AsyncClient when installed (google-genai prefers it), else httpx's."""
    try:
        import httpx2

        return httpx2.AsyncClient
    except ImportError:
        import httpx

        return httpx.AsyncClient


# finishReason values that mean "the provider blocked the answer" rather than "the answer is broken".
_BLOCK_FINISH = {"SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "RECITATION"}


class GoogleAdapter(ProviderAdapter):
    """generate_content with a JSON response schema."""

    framework = "google"

    def __init__(self, settings: CloudSettings, api_key: str | None) -> None:
        super().__init__(settings, api_key)
        self._http_clients: dict[int, Any] = {}  # id(genai client) -> the httpx client we gave it

    def make_client(self) -> Any:
        from google import genai  # lazy
        from google.genai import types

        # Our own httpx client (google-genai accepts one) carries the response size limit; genai leaves closing
        # it to us. With aiohttp installed genai uses that instead, and the size is checked after reading.
        http = limited_async_client(_async_client_class(), self.settings.max_response_bytes)
        options = types.HttpOptions(
            base_url=self.settings.base_url,
            api_version=self.settings.api_version,
            timeout=int(self.settings.timeout * 1000),  # google-genai takes milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),  # our policy retries, not the SDK's
            httpx_async_client=http,
        )
        client = genai.Client(api_key=self._api_key, http_options=options)
        self._http_clients[id(client)] = http
        return client

    async def close_client(self, client: Any) -> None:
        await client.aio.aclose()
        client.close()
        http = self._http_clients.pop(id(client), None)
        if http is not None:
            await http.aclose()

    async def request(self, client: Any, prompt: str, system_prompt: str, image: EncodedImage) -> Reply:
        from google.genai import types

        s = self.settings
        config = types.GenerateContentConfig(
            system_instruction=system_prompt,
            response_mime_type="application/json",
            response_schema=annotation_schema(strict_objects=False),
            max_output_tokens=s.max_output_tokens,
            temperature=s.temperature,
        )
        contents = [types.Part.from_bytes(data=image.data, mime_type=image.mime_type), prompt]
        try:
            response = await client.aio.models.generate_content(model=s.model_id, contents=contents, config=config)
        except Exception as exc:
            raise self.classify(exc) from None
        # google-genai reads the body itself: the answer's size is checked after (parse_answer_text refuses an
        # oversized text before decoding it).
        return parse_generate_content(response.model_dump(mode="json", exclude_none=True), s.answer_limits)

    def classify(self, exc: BaseException) -> CloudError:
        if isinstance(exc, CloudError):
            return exc
        names = {cls.__name__ for cls in type(exc).__mro__}
        if "APIError" in names and hasattr(exc, "code"):
            status = int(getattr(exc, "code", 0) or 0)
            headers = getattr(getattr(exc, "response", None), "headers", None)
            message = str(getattr(exc, "message", "") or exc)
            code_text = str(getattr(exc, "status", "") or "").lower()
            return classify_http_status(status, message, code_text, headers, self.secrets)
        if "TimeoutException" in names or isinstance(exc, TimeoutError):
            return RequestTimeoutError("no answer within the configured timeout")
        if "ConnectError" in names or isinstance(exc, ConnectionError):
            return connection_error(self.endpoint, str(exc), self.secrets)
        return ProviderError(scrub(f"{type(exc).__name__}: {exc}", self.secrets))


def parse_generate_content(data: dict[str, Any], limits: AnswerLimits = DEFAULT_LIMITS) -> Reply:
    """Validate a GenerateContentResponse (SDK model dumped to a dict, snake_case keys)."""
    feedback = data.get("prompt_feedback") or {}
    block = feedback.get("block_reason")
    if block and block != "BLOCKED_REASON_UNSPECIFIED":
        detail = feedback.get("block_reason_message") or ""
        raise PolicyViolationError(f"prompt blocked ({block}) {detail}".strip())
    candidates = data.get("candidates") or []
    if not candidates:
        raise MalformedResponseError("response has no candidates", raw_text=json.dumps(data))
    candidate = candidates[0]
    finish = str(candidate.get("finish_reason") or "")
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(p.get("text", "") for p in parts if isinstance(p, dict) and not p.get("thought"))
    if finish in _BLOCK_FINISH:
        raise PolicyViolationError(f"answer blocked (finishReason={finish})", raw_text=text or None)
    if not text.strip():
        raise MalformedResponseError(f"response has no text (finishReason={finish or 'none'})", raw_text=text)
    annotation = parse_text_answer(text, cut_off=finish == "MAX_TOKENS", limits=limits)
    usage = data.get("usage_metadata") or {}
    meta = reply_meta(
        data.get("response_id"),
        data.get("model_version"),
        finish,
        usage.get("prompt_token_count"),
        usage.get("candidates_token_count"),
    )
    return Reply(annotation=annotation, meta=meta)
