"""A loopback HTTP server that speaks the OpenAI, Anthropic and Gemini APIs the cloud back-end uses.

Start it, point the real SDKs at it by base URL, script faults, read the request log::

    server = start_fake_provider_server(latency=0.2)
    server.script("openai", [Fault("rate_limit", retry_after="1"), Fault("ok")])
    server.fault_when("refuse_me.png", Fault("refusal"))   # any request whose body mentions this text
    ... base_url=server.openai_base_url / server.anthropic_base_url / server.google_base_url ...
    server.count("openai"); server.requests; server.stop()

Endpoints: GET /_fake/requests (the request log as JSON); POST /v1/chat/completions; POST /v1/messages;
POST /{v1,v1beta}/models/<m>:generateContent;
OpenAI files (POST /v1/files, GET /v1/files/<id>[/content]) and batches (POST /v1/batches, GET /v1/batches/<id>);
Anthropic message batches (POST /v1/messages/batches, GET /v1/messages/batches/<id>[/results]).
Used by this package's tests and benchmark and by LoRAIro's end-to-end tests; stdlib only.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from image_annotator_lib.testing import fake_batches
from image_annotator_lib.testing.fake_replies import (
    DEFAULT_ANSWER,
    GARBAGE_BODY,
    Fault,
    anthropic_message,
    error_body,
    google_response,
    openai_completion,
)

_GOOGLE = re.compile(r"^/v1(?:beta|alpha)?/models/(?P<model>[^/:]+):generateContent$")
TOOL_NAME = "record_annotation"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server saw. `provider` is "openai" / "anthropic" / "google" / "openai-batch" / ..."""

    started: float  # time.monotonic() when the request arrived
    method: str
    path: str
    provider: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _State:
    latency: float = 0.0
    required_key: str | None = None
    answer: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_ANSWER))
    scripts: dict[str, deque[Fault]] = field(default_factory=dict)
    rules: list[tuple[str, Fault]] = field(default_factory=list)
    log: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    batches: fake_batches.BatchStore = field(default_factory=fake_batches.BatchStore)
    released: threading.Event = field(default_factory=threading.Event)


class FakeProviderServer:
    """The running server; thread-safe accessors for scripting and the request log."""

    def __init__(self, httpd: ThreadingHTTPServer, state: _State) -> None:
        self._httpd = httpd
        self._state = state
        self._thread = threading.Thread(target=httpd.serve_forever, name="fake-providers", daemon=True)
        self._thread.start()
        host, port = httpd.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"

    openai_base_url = property(lambda self: self.base_url + "/v1")
    anthropic_base_url = property(lambda self: self.base_url)
    google_base_url = property(lambda self: self.base_url)

    def script(self, provider: str, faults: list[Fault]) -> None:
        """Queue faults for the next requests to `provider` ("openai", "anthropic", "google"); then normal."""
        with self._state.lock:
            self._state.scripts.setdefault(provider, deque()).extend(faults)

    def fault_when(self, text: str, fault: Fault) -> None:
        """Apply `fault` to every request (live or batch line) whose body contains `text` (e.g. a file name)."""
        with self._state.lock:
            self._state.rules.append((text, fault))

    def set_answer(self, answer: dict[str, Any]) -> None:
        with self._state.lock:
            self._state.answer = dict(answer)

    def set_latency(self, seconds: float) -> None:
        self._state.latency = seconds

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.log)

    def count(self, provider: str | None = None) -> int:
        return sum(1 for r in self.requests if provider is None or r.provider == provider)

    def max_in_window(self, seconds: float, provider: str | None = None) -> int:
        """The most requests that arrived within any `seconds`-long window (server-side rate measurement)."""
        return max_in_window([r.started for r in self.requests if provider is None or r.provider == provider], seconds)

    def answered(self, provider: str | None = None) -> int:
        """Requests that got a successful (2xx) answer: what a paid provider would have charged for."""
        return sum(1 for r in self.requests if (provider is None or r.provider == provider) and 200 <= r.status < 300)

    def release(self) -> None:
        """Let every "hang" request end (without an answer)."""
        self._state.released.set()

    def stop(self) -> None:
        self._state.released.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeProviderServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def max_in_window(times: list[float], seconds: float) -> int:
    """The most of `times` that fall within any half-open window of `seconds` (0 for no times)."""
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] >= seconds:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def start_fake_provider_server(
    *, latency: float = 0.0, required_key: str | None = None, answer: dict[str, Any] | None = None
) -> FakeProviderServer:
    """Start the server on 127.0.0.1 (free port). `required_key`: other keys get 401 (echoing the key)."""
    state = _State(latency=latency, required_key=required_key)
    if answer is not None:
        state.answer = dict(answer)
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    return FakeProviderServer(httpd, state)


# The names LoRAIro's tests use; one server speaks every provider.
start_openai_server = start_fake_provider_server
start_anthropic_server = start_fake_provider_server
start_google_server = start_fake_provider_server


class _Handler(BaseHTTPRequestHandler):
    state: _State
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK
    # (~40 ms on Linux), which would add fake latency to every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        *,
        content_type: str | None = None,
        chunked: bool = False,
    ) -> None:
        body = raw if raw is not None else json.dumps(payload).encode()
        content_type = content_type or ("application/json" if raw is None else "application/octet-stream")
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if not chunked:
                self.wfile.write(body)
                return
            step = 64 * 1024
            for start in range(0, len(body), step):
                piece = body[start : start + step]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test, or a size limit hit): nothing to answer

    def _record(self, provider: str, body: bytes) -> int:
        headers = {k.lower(): v for k, v in self.headers.items()}
        rec = RecordedRequest(time.monotonic(), self.command, self.path, provider, headers, body)
        with self.state.lock:
            self.state.log.append(rec)
            return len(self.state.log) - 1

    def _key_ok(self) -> str | None:
        """None if the key is accepted, else the key that was sent (echoed like real providers do)."""
        required = self.state.required_key
        if required is None:
            return None
        auth = self.headers.get("authorization", "")
        sent = (
            auth.removeprefix("Bearer ").strip()
            or self.headers.get("x-api-key")
            or self.headers.get("x-goog-api-key", "")
        )
        return None if sent == required else sent

    def _pick_fault(self, provider: str, body: bytes) -> Fault:
        text = body.decode("utf-8", "replace")
        with self.state.lock:
            for needle, fault in self.state.rules:
                if needle in text:
                    return fault
            queue = self.state.scripts.get(provider)
            if queue:
                return queue.popleft()
        return Fault("ok")

    # -- dispatch ---------------------------------------------------------------------------------------------
    def _reject_batch_key(self, provider: str) -> bool:
        """Answer 401 to a files/batches request with a wrong key (live routes do this in `_live`)."""
        sent = self._key_ok()
        if sent is None:
            return False
        self._record(f"{provider}-batch", b"")
        self._send(401, error_body(provider, 401, f"Incorrect API key provided: {sent}"))
        return True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        path = self.path.split("?", 1)[0]
        batch_route = path in ("/v1/files", "/v1/batches", "/v1/messages/batches")
        if batch_route and self._reject_batch_key("anthropic" if "messages" in path else "openai"):
            return
        if path.endswith("/chat/completions"):
            self._live("openai", body, None)
        elif path == "/v1/messages":
            self._live("anthropic", body, None)
        elif (m := _GOOGLE.match(path)) is not None:
            self._live("google", body, m.group("model"))
        elif path == "/v1/files":
            self._record("openai-files", b"")
            self._send(200, self.state.batches.add_file(_multipart_file(self.headers.get("content-type", ""), body)))
        elif path == "/v1/batches":
            self._record("openai-batch", body)
            self._send(200, self.state.batches.create_openai(json.loads(body)))
        elif path == "/v1/messages/batches":
            self._record("anthropic-batch", body)
            self._send(200, self.state.batches.create_anthropic(json.loads(body), self.state.answer, self.state.rules))
        else:
            self._send(404, {"error": {"message": f"no route {path}"}})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/v1/") and self._reject_batch_key("anthropic" if "/messages/" in path else "openai"):
            return
        if path == "/_fake/requests":  # the request log, for callers in another process (benchmark, manual runs)
            with self.state.lock:
                log = [
                    {
                        "started": r.started,
                        "method": r.method,
                        "path": r.path,
                        "provider": r.provider,
                        "status": r.status,
                    }
                    for r in self.state.log
                ]
            self._send(200, log)
            return
        store = self.state.batches
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "files"] and len(parts) == 4 and parts[3] == "content":
            self._record("openai-files", b"")
            data = store.file_content(parts[2])
            self._send(200 if data is not None else 404, {"error": {"message": "no such file"}}, raw=data)
        elif parts[:2] == ["v1", "batches"] and len(parts) == 3:
            self._record("openai-batch", b"")
            batch = store.poll_openai(parts[2], self.state.answer, self.state.rules)
            self._send(200 if batch else 404, batch or {"error": {"message": "no such batch"}})
        elif parts[:3] == ["v1", "messages", "batches"] and len(parts) in (4, 5):
            self._record("anthropic-batch", b"")
            if len(parts) == 5:
                data = store.anthropic_results(parts[3])
                self._send(200 if data is not None else 404, {"error": {"message": "not ended"}}, raw=data)
            else:
                batch = store.poll_anthropic(parts[3], self.base_url())
                self._send(200 if batch else 404, batch or {"error": {"message": "no such batch"}})
        else:
            self._send(404, {"error": {"message": f"no route {path}"}})

    def base_url(self) -> str:
        address: Any = self.server.server_address
        return f"http://{address[0]!s}:{address[1]}"

    def _live(self, provider: str, body: bytes, google_model: str | None) -> None:
        index = self._record(provider, body)
        bad_key = self._key_ok()
        fault = Fault("unauthorized") if bad_key is not None else self._pick_fault(provider, body)
        if fault.kind == "hang":  # never answered: the client is killed or gives up meanwhile
            self.state.released.wait()
            self.close_connection = True
            return
        time.sleep(self.state.latency + (fault.delay if fault.kind in ("slow", "timeout") else 0.0))
        status, payload, headers = self._reply(provider, body, google_model, fault, bad_key or "")
        with self.state.lock:
            rec = self.state.log[index]
            self.state.log[index] = RecordedRequest(
                rec.started, rec.method, rec.path, rec.provider, rec.headers, rec.body, status
            )
        if fault.kind == "garbage":
            self._send(status, None, headers, raw=GARBAGE_BODY, content_type="application/json")
        else:
            self._send(status, payload, headers, chunked=fault.chunked)

    def _reply(
        self, provider: str, body: bytes, google_model: str | None, fault: Fault, sent_key: str
    ) -> tuple[int, Any, dict[str, str]]:
        kind = fault.kind
        if kind in ("unauthorized", "forbidden"):
            status = 401 if kind == "unauthorized" else 403
            return status, error_body(provider, status, f"Incorrect API key provided: {sent_key}"), {}
        if kind == "rate_limit":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return 429, error_body(provider, 429, "Rate limit reached"), headers
        if kind == "server_error":
            status = fault.status or 500
            return status, error_body(provider, status, "The server had an error"), {}
        request = json.loads(body or b"{}")
        answer = self.state.answer
        if fault.kind == "huge":
            answer = {**answer, "caption": "x" * fault.size}
        if provider == "openai":
            return 200, openai_completion(str(request.get("model")), fault, answer), {}
        if provider == "anthropic":
            return 200, anthropic_message(str(request.get("model")), fault, answer, TOOL_NAME), {}
        return 200, google_response(str(google_model), fault, answer), {}


def _multipart_file(content_type: str, body: bytes) -> tuple[str, bytes]:
    """(file name, bytes) of the `file` part of a multipart/form-data upload."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return str(part.get_filename() or "upload.jsonl"), payload if isinstance(payload, bytes) else b""
    raise ValueError("multipart upload without a 'file' part")


def main() -> None:
    """`python -m image_annotator_lib.testing.fake_providers [--port N] [--latency S]`: serve until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description="Loopback server speaking the OpenAI/Anthropic/Gemini APIs")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    state = _State(latency=args.latency)
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server = FakeProviderServer(httpd, state)
    print(f"OpenAI-compatible base URL: {server.openai_base_url}", flush=True)
    print(f"Anthropic / Google base URL: {server.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
