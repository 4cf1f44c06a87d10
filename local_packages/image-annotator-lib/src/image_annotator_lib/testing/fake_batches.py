"""Batch state of the loopback server: OpenAI files + batches and Anthropic message batches.

A batch is "in progress" on the first `polls_until_done` retrievals and then completes; its output is made
line by line with the same reply builders as live requests, so faults (`fault_when`) apply to batch lines too:
refusal / truncated lines land in the output, error faults (server_error, rate_limit, ...) in the error file.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from image_annotator_lib.testing.fake_replies import Fault, anthropic_message, error_body, openai_completion

_ERROR_KINDS = ("server_error", "rate_limit", "unauthorized", "forbidden", "timeout")


def _fault_for(text: str, rules: list[tuple[str, Fault]]) -> Fault:
    for needle, fault in list(rules):
        if needle in text:
            return fault
    return Fault("ok")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class BatchStore:
    """All files and batches the server knows about."""

    polls_until_done: int = 1
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    openai: dict[str, dict[str, Any]] = field(default_factory=dict)
    anthropic: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    anthropic_lines: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{time.monotonic_ns()}"

    # -- OpenAI files ---------------------------------------------------------------------------------------
    def add_file(self, upload: tuple[str, bytes], purpose: str = "batch") -> dict[str, Any]:
        name, data = upload
        with self.lock:
            file_id = self._new_id("file-")
            self.files[file_id] = (name, data)
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": name,
            "purpose": purpose,
            "status": "processed",
        }

    def file_content(self, file_id: str) -> bytes | None:
        with self.lock:
            entry = self.files.get(file_id)
        return entry[1] if entry else None

    # -- OpenAI batches ---------------------------------------------------------------------------------------
    def create_openai(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            batch_id = self._new_id("batch_")
            n = len(self.files.get(request["input_file_id"], ("", b""))[1].splitlines())
            batch = {
                "id": batch_id,
                "object": "batch",
                "endpoint": request["endpoint"],
                "errors": None,
                "input_file_id": request["input_file_id"],
                "completion_window": request["completion_window"],
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": int(time.time()),
                "metadata": request.get("metadata"),
                "request_counts": {"total": n, "completed": 0, "failed": 0},
            }
            self.openai[batch_id] = batch
            self.polls[batch_id] = 0
            return dict(batch)

    def poll_openai(self, batch_id: str, answer: dict[str, Any], rules: list[tuple[str, Fault]]) -> dict | None:
        with self.lock:
            batch = self.openai.get(batch_id)
            if batch is None:
                return None
            self.polls[batch_id] += 1
            if batch["status"] != "completed" and self.polls[batch_id] <= self.polls_until_done:
                batch["status"] = "in_progress"
                return dict(batch)
            if batch["status"] != "completed":
                self._complete_openai(batch, answer, rules)
            return dict(batch)

    def _complete_openai(self, batch: dict[str, Any], answer: dict[str, Any], rules: list[tuple[str, Fault]]) -> None:
        out: list[str] = []
        err: list[str] = []
        for line in self.files[batch["input_file_id"]][1].decode().splitlines():
            if not line.strip():
                continue
            req = json.loads(line)
            fault = _fault_for(line, rules)
            row_id = self._new_id("batch_req_")
            if fault.kind in _ERROR_KINDS:
                status = {"rate_limit": 429, "unauthorized": 401, "forbidden": 403}.get(fault.kind, 500)
                body = error_body("openai", status, "The server had an error processing this request")
                err.append(
                    json.dumps(
                        {
                            "id": row_id,
                            "custom_id": req["custom_id"],
                            "response": {"status_code": status, "request_id": row_id, "body": body},
                            "error": None,
                        }
                    )
                )
            else:
                completion = openai_completion(req["body"]["model"], fault, answer)
                out.append(
                    json.dumps(
                        {
                            "id": row_id,
                            "custom_id": req["custom_id"],
                            "response": {"status_code": 200, "request_id": row_id, "body": completion},
                            "error": None,
                        }
                    )
                )
        batch["status"] = "completed"
        batch["request_counts"] = {"total": len(out) + len(err), "completed": len(out), "failed": len(err)}
        batch["completed_at"] = int(time.time())
        if out:
            batch["output_file_id"] = self._store_locked("batch_output.jsonl", "\n".join(out) + "\n")
        if err:
            batch["error_file_id"] = self._store_locked("batch_errors.jsonl", "\n".join(err) + "\n")

    def _store_locked(self, name: str, text: str) -> str:
        file_id = self._new_id("file-")
        self.files[file_id] = (name, text.encode())
        return file_id

    # -- Anthropic message batches ----------------------------------------------------------------------------
    def create_anthropic(
        self, request: dict[str, Any], answer: dict[str, Any], rules: list[tuple[str, Fault]]
    ) -> dict[str, Any]:
        lines: list[str] = []
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for item in request["requests"]:
            fault = _fault_for(json.dumps(item), rules)
            if fault.kind in _ERROR_KINDS:
                result: dict[str, Any] = {"type": "errored", "error": error_body("anthropic", 500, "Internal error")}
                counts["errored"] += 1
            else:
                tool = item["params"]["tools"][0]["name"] if item["params"].get("tools") else "record_annotation"
                message = anthropic_message(item["params"]["model"], fault, answer, tool)
                result = {"type": "succeeded", "message": message}
                counts["succeeded"] += 1
            lines.append(json.dumps({"custom_id": item["custom_id"], "result": result}))
        with self.lock:
            batch_id = self._new_id("msgbatch_")
            now = time.time()
            self.anthropic[batch_id] = {
                "id": batch_id,
                "type": "message_batch",
                "processing_status": "in_progress",
                "request_counts": {"processing": len(lines), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
                "created_at": _iso(now),
                "expires_at": _iso(now + 86400),
                "ended_at": None,
                "archived_at": None,
                "cancel_initiated_at": None,
                "results_url": None,
                "_final_counts": counts,
            }
            self.anthropic_lines[batch_id] = ("\n".join(lines) + "\n").encode()
            self.polls[batch_id] = 0
            return {k: v for k, v in self.anthropic[batch_id].items() if not k.startswith("_")}

    def poll_anthropic(self, batch_id: str, base_url: str) -> dict[str, Any] | None:
        with self.lock:
            batch = self.anthropic.get(batch_id)
            if batch is None:
                return None
            self.polls[batch_id] += 1
            if self.polls[batch_id] > self.polls_until_done and batch["processing_status"] != "ended":
                batch["processing_status"] = "ended"
                batch["ended_at"] = _iso(time.time())
                batch["request_counts"] = batch["_final_counts"]
                batch["results_url"] = f"{base_url}/v1/messages/batches/{batch_id}/results"
            return {k: v for k, v in batch.items() if not k.startswith("_")}

    def anthropic_results(self, batch_id: str) -> bytes | None:
        with self.lock:
            batch = self.anthropic.get(batch_id)
            if batch is None or batch["processing_status"] != "ended":
                return None
            return self.anthropic_lines[batch_id]
