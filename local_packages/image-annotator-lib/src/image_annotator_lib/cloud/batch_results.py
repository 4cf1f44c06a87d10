"""Parse Batch API result files (OpenAI output/error JSONL, Anthropic message-batch results JSONL) into
`PHashAnnotationResults`, keyed by pHash through `custom_id`. Works on files already on disk, so results
downloaded earlier (or by another tool) can be imported without the network.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from image_annotator_lib.cloud.errors import CloudError, ProviderError
from image_annotator_lib.cloud.providers.anthropic_provider import parse_message
from image_annotator_lib.cloud.providers.base import Reply, classify_http_status
from image_annotator_lib.cloud.providers.openai_provider import parse_chat_completion, parse_error_body
from image_annotator_lib.cloud.schema import SCORE_NAME
from image_annotator_lib.core.types import AnnotationError, AnnotationResult, ErrorCode, PHashAnnotationResults

logger = logging.getLogger(__name__)
MANIFEST_SUFFIX = ".job.json"


def _ok_result(model_name: str, framework: str, reply: Reply, batch_id: str | None) -> AnnotationResult:
    ann = reply.annotation
    return AnnotationResult(
        model_name=model_name,
        tags=list(ann.tags),
        caption=ann.caption,
        scores={SCORE_NAME: ann.score},
        rating=ann.rating,
        framework=framework,
        device="cloud",
        raw={**reply.meta, "batch_id": batch_id},
    )


def _error_result(model_name: str, framework: str, error: AnnotationError) -> AnnotationResult:
    return AnnotationResult(model_name=model_name, framework=framework, device="cloud", error=error)


def _openai_line(line: dict[str, Any]) -> tuple[str, Reply | CloudError | AnnotationError]:
    """(model id, outcome) of one OpenAI batch output or error line."""
    response = line.get("response") or {}
    body = response.get("body") if isinstance(response, dict) else None
    model_id = str((body or {}).get("model") or "") if isinstance(body, dict) else ""
    error = line.get("error")
    if error:
        code = str(error.get("code") or "") if isinstance(error, dict) else ""
        message = str(error.get("message") or error) if isinstance(error, dict) else str(error)
        if code == "batch_expired":
            return model_id, AnnotationError(ErrorCode.TIMEOUT, f"batch expired before this request ran: {message}")
        if code == "batch_cancelled":
            return model_id, AnnotationError(ErrorCode.CANCELLED, f"batch cancelled: {message}")
        return model_id, ProviderError(f"batch request failed ({code or 'error'}): {message}")
    status = int(response.get("status_code") or 0) if isinstance(response, dict) else 0
    if status == 200 and isinstance(body, dict):
        try:
            return model_id, parse_chat_completion(body)
        except CloudError as exc:
            return model_id, exc
    policy = parse_error_body(body)
    if policy is not None:
        return model_id, policy
    inner = body.get("error", {}) if isinstance(body, dict) else {}
    message = str(inner.get("message") or "no body") if isinstance(inner, dict) else str(body)
    code_text = str(inner.get("code") or "") if isinstance(inner, dict) else ""
    return model_id, classify_http_status(status, message, code_text, None, ())


def _anthropic_line(line: dict[str, Any]) -> tuple[str, Reply | CloudError | AnnotationError]:
    """(model id, outcome) of one Anthropic message-batch result line."""
    result = line.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded":
        message = result.get("message") or {}
        try:
            return str(message.get("model") or ""), parse_message(message)
        except CloudError as exc:
            return str(message.get("model") or ""), exc
    if kind == "canceled":
        return "", AnnotationError(ErrorCode.CANCELLED, "batch request canceled")
    if kind == "expired":
        return "", AnnotationError(ErrorCode.TIMEOUT, "batch expired before this request ran")
    err = (result.get("error") or {}).get("error") or result.get("error") or {}
    err_type = str(err.get("type") or "error") if isinstance(err, dict) else "error"
    message = str(err.get("message") or err_type) if isinstance(err, dict) else str(err)
    status = {"authentication_error": 401, "permission_error": 403, "rate_limit_error": 429}.get(err_type, 0)
    if status:
        return "", classify_http_status(status, message, err_type, None, ())
    if err_type == "invalid_request_error":
        return "", ProviderError(f"batch request invalid: {message}", status_code=400)
    return "", ProviderError(f"batch request failed ({err_type}): {message}")


def manifest_path(results_dir: Path, batch_id: str) -> Path:
    return results_dir / f"{batch_id}{MANIFEST_SUFFIX}"


def read_manifest(results_file: Path) -> dict[str, Any] | None:
    """The job manifest beside a results file named `<batch id>_<output|errors|results>.jsonl`, if any."""
    batch_id = results_file.name.rsplit("_", 1)[0]
    candidate = manifest_path(results_file.parent, batch_id)
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def parse_batch_results_file(path: str | Path, *, model_name: str | None = None) -> PHashAnnotationResults:
    """Read one OpenAI or Anthropic batch results file into results keyed by pHash (custom_id), then model.

    The model name comes from `model_name`, else the job manifest beside the file, else the provider's model
    id in each answer. Lines that are not JSON are skipped with a warning naming the file and line.

    Raises:
        FileNotFoundError: no such file. ValueError: the file has no batch result line at all.
    """
    path = Path(path)
    manifest = read_manifest(path)
    name = model_name or (manifest or {}).get("model_name")
    framework = str((manifest or {}).get("framework") or "")
    batch_id = (manifest or {}).get("id")
    results: PHashAnnotationResults = {}
    good = 0
    with path.open(encoding="utf-8") as fh:
        for lineno, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                custom_id = str(line["custom_id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                logger.warning("%s:%d: not a batch result line, skipped", path, lineno)
                continue
            if "result" in line:
                model_id, outcome = _anthropic_line(line)
                fw = framework or "anthropic"
            else:
                model_id, outcome = _openai_line(line)
                fw = framework or "openai"
            key = name or model_id or "unknown-model"
            if isinstance(outcome, Reply):
                result = _ok_result(key, fw, outcome, batch_id)
            elif isinstance(outcome, CloudError):
                result = _error_result(key, fw, outcome.to_annotation_error())
            else:
                result = _error_result(key, fw, outcome)
            results.setdefault(custom_id, {})[key] = result
            good += 1
    if good == 0:
        raise ValueError(f"{path}: no batch result lines (expected JSONL with 'custom_id' on each line)")
    return results
