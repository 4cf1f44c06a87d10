"""A loopback HTTP server that speaks the Hugging Face Hub's file-download protocol (for tests, no network).

What `huggingface_hub.hf_hub_download` does, and what this server answers:

* `HEAD {endpoint}/{repo_id}/resolve/{revision}/{path}` (redirects not followed off the Hub host):
  - regular (git) file: 200 with `X-Repo-Commit`, `ETag` (git blob sha1) and `Content-Length`;
  - LFS file: 302 to the CDN host with `Location`, `X-Repo-Commit`, `X-Linked-Etag` (sha256) and
    `X-Linked-Size` — the metadata is taken from the redirect response itself;
  - unknown repo / revision / file: 404 with `X-Error-Code` RepoNotFound / RevisionNotFound / EntryNotFound.
* `GET` of the same URL (regular files) or of the CDN URL (LFS blobs) returns the bytes (Range supported).

The CDN is the same server reached as `localhost` while the endpoint is `127.0.0.1`: a different host, as on the
real Hub, so huggingface_hub treats the redirect exactly as it treats the real CDN. Every request is logged in
`requests` as (method, path) so tests can assert e.g. that a cached file is not fetched again.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

LFS_SUFFIXES = (".onnx", ".safetensors", ".bin", ".npz", ".pt", ".pth", ".msgpack", ".h5")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_CDN = re.compile(r"^/cdn/(?P<sha>[0-9a-f]{64})$")


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass
class FakeRepo:
    """One model repo with a single commit; `revision` (e.g. "main") and the commit hash both resolve."""

    files: dict[str, bytes]
    revision: str = "main"
    commit: str = field(default="")

    def __post_init__(self) -> None:
        if not self.commit:
            content = b"".join(name.encode() + b"\0" + data for name, data in sorted(self.files.items()))
            self.commit = hashlib.sha1(content, usedforsecurity=False).hexdigest()


class FakeHub:
    """Repos by id, the request log, and the base URL once started."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str]] = []
        self.port = 0
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_repo(self, repo_id: str, files: dict[str, bytes], revision: str = "main") -> FakeRepo:
        """Publish `files` (path -> content) as `repo_id`; files with an LFS suffix are served through the CDN."""
        repo = FakeRepo(dict(files), revision)
        self.repos[repo_id] = repo
        for data in files.values():
            self._blobs[hashlib.sha256(data).hexdigest()] = data
        return repo

    def log(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def count(self, method: str, suffix: str) -> int:
        """How many requests of `method` had a path ending with `suffix`."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and p.endswith(suffix))

    def blob(self, sha: str) -> bytes | None:
        return self._blobs.get(sha)


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            return

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def _error(self, status: int, code: str, commit: str | None = None) -> None:
            body = f'{{"error": "{code}"}}'.encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", code)
            if commit:
                self.send_header("X-Repo-Commit", commit)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _body(self, data: bytes, send_body: bool, headers: dict[str, str]) -> None:
            start, end = 0, len(data)
            status = 200
            match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if match:
                start = int(match.group(1))
                end = int(match.group(2)) + 1 if match.group(2) else len(data)
                status = 206
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(end - start))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
            self.end_headers()
            if send_body:
                self.wfile.write(data[start:end])

        def _serve(self, send_body: bool) -> None:
            path = unquote(urlparse(self.path).path)
            hub.log(self.command, path)
            cdn = _CDN.match(path)
            if cdn:
                data = hub.blob(cdn.group("sha"))
                if data is None:
                    self._error(404, "EntryNotFound")
                    return
                self._body(data, send_body, {"ETag": f'"{cdn.group("sha")}"', "Content-Type": "binary/octet-stream"})
                return
            match = _RESOLVE.match(path)
            if not match:
                self._error(404, "RepoNotFound")
                return
            repo = hub.repos.get(match.group("repo"))
            if repo is None:
                self._error(404, "RepoNotFound")
                return
            if match.group("rev") not in (repo.revision, repo.commit):
                self._error(404, "RevisionNotFound")
                return
            data = repo.files.get(match.group("path"))
            if data is None:
                self._error(404, "EntryNotFound", repo.commit)
                return
            if match.group("path").endswith(LFS_SUFFIXES):
                sha = hashlib.sha256(data).hexdigest()
                self.send_response(302)
                self.send_header("Location", f"http://localhost:{hub.port}/cdn/{sha}")
                self.send_header("X-Repo-Commit", repo.commit)
                self.send_header("ETag", f'"{_git_sha1(data)}"')
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{_git_sha1(data)}"', "Content-Type": "text/plain"}
            self._body(data, send_body, headers)

    return Handler


@contextmanager
def serve_hub(hub: FakeHub | None = None) -> Iterator[FakeHub]:
    """Run a FakeHub on 127.0.0.1 (random port) for the duration of the block."""
    hub = hub or FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    server.daemon_threads = True
    hub.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="fake-hub", daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
