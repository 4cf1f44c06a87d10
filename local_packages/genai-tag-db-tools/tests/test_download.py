"""Downloads through real HTTP against loopback servers (plain URL and the Hugging Face Hub protocol)."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from genai_tag_db_tools import DownloadError, TagDatabase, download_and_import, download_vocabulary

VOCAB = b'1girl,0,6008644,"1girls,sole_female"\nlong_hair,0,4350743,"/lh,longhair"\nhatsune_miku,4,100,""\n'
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Handler(BaseHTTPRequestHandler):
    """Serves /files/danbooru.csv and the Hub's /datasets/{repo}/resolve/{rev}/{file} route."""

    requests: ClassVar[list[tuple[str, str]]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _route(self) -> tuple[int, dict[str, str], bytes]:
        self.requests.append((self.command, self.path))
        if self.path == "/files/danbooru.csv":
            return 200, {"Content-Type": "text/csv"}, VOCAB
        prefix = "/datasets/someone/tag-lists/resolve/"
        if self.path.startswith(prefix):
            revision, _, filename = self.path[len(prefix) :].partition("/")
            if filename != "danbooru.csv" or revision not in ("main", COMMIT):
                return 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT}, b"Entry not found"
            etag = hashlib.sha1(VOCAB).hexdigest()
            return 200, {"X-Repo-Commit": COMMIT, "ETag": f'"{etag}"', "Content-Type": "text/csv"}, VOCAB
        return 404, {}, b"not found"

    def _respond(self, with_body: bool) -> None:
        status, headers, body = self._route()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._respond(True)

    def do_HEAD(self) -> None:
        self._respond(False)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_download_from_url_then_import(server: str, tmp_db: TagDatabase) -> None:
    path, report = download_and_import(tmp_db, f"{server}/files/danbooru.csv")
    assert path == tmp_db.data_dir / "downloads" / "danbooru.csv"
    assert path.read_bytes() == VOCAB
    assert report.imported == 3
    assert tmp_db.search("long ha")[0].name == "long hair"
    assert not list(path.parent.glob("*.part"))


def test_http_error_leaves_no_file(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_vocabulary(f"{server}/files/missing.csv", data_dir=tmp_path)
    assert list((tmp_path / "downloads").iterdir()) == []


def test_offline_gives_one_line_message(tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as info:
        download_vocabulary(f"http://127.0.0.1:{_closed_port()}/danbooru.csv", data_dir=tmp_path, timeout=5)
    message = str(info.value)
    assert "cannot reach 127.0.0.1" in message
    assert "tag-db import" in message
    assert "\n" not in message


def test_download_from_hugging_face_dataset(server: str, tmp_db: TagDatabase) -> None:
    path, report = download_and_import(tmp_db, "hf://datasets/someone/tag-lists/danbooru.csv", hf_endpoint=server)
    assert path.read_bytes() == VOCAB
    assert report.format == "danbooru"
    assert tmp_db.get_tag_info(["1girls"])["1girls"].name == "1girl"
    assert ("HEAD", "/datasets/someone/tag-lists/resolve/main/danbooru.csv") in _Handler.requests


def test_hugging_face_endpoint_from_environment(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", server)
    path = download_vocabulary(f"hf://datasets/someone/tag-lists/danbooru.csv@{COMMIT}", data_dir=tmp_path)
    assert path.read_bytes() == VOCAB


def test_hugging_face_missing_file(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="not found"):
        download_vocabulary("hf://datasets/someone/tag-lists/nope.csv", data_dir=tmp_path, hf_endpoint=server)


def test_hugging_face_offline(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(DownloadError, match="cannot reach the Hugging Face Hub") as info:
        download_vocabulary(
            "hf://datasets/someone/tag-lists/danbooru.csv", data_dir=tmp_path, hf_endpoint=endpoint, timeout=5
        )
    assert "\n" not in str(info.value)


def test_bad_source_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="unknown vocabulary source"):
        download_vocabulary("ftp://example.org/x.csv", data_dir=tmp_path)
    with pytest.raises(DownloadError, match="bad Hugging Face source"):
        download_vocabulary("hf://datasets/only-owner", data_dir=tmp_path)


def test_cli_download_json(server: str, tmp_path: Path) -> None:
    import json

    from genai_tag_db_tools.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        app, ["download", f"{server}/files/danbooru.csv", "--db-dir", str(tmp_path / "db"), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["path"].endswith("danbooru.csv")
    assert data["import"]["imported"] == 3
    offline = CliRunner().invoke(
        app, ["download", f"http://127.0.0.1:{_closed_port()}/x.csv", "--db-dir", str(tmp_path / "db"), "--json"]
    )
    assert offline.exit_code == 1
    assert offline.stderr.startswith("error: cannot reach 127.0.0.1")
