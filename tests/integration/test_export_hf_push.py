"""Push to the Hub against a loopback server speaking the Hub's upload API (create repo, preupload, LFS, commit)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lorairo.exceptions import ExportError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export_service import ExportService
from lorairo.services.project_service import ProjectService
from tests.support.export_data import ImageSpec, add_images, simple_tags

TOKEN = "hf_loopbacktesttoken1234567890"
BINARY = (".png", ".jpg", ".jpeg", ".webp")


class FakeHub:
    """Just enough of the Hub: repos, preupload modes, basic LFS transfer, ndjson commits."""

    def __init__(self) -> None:
        self.repos: set[str] = set()
        self.files: dict[str, bytes] = {}  # path in repo -> content
        self.lfs: dict[str, bytes] = {}  # oid -> content
        self.requests: list[str] = []
        self.auth: set[str] = set()
        self.url = ""


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _json(self, code: int, data: Any) -> None:
            raw = json.dumps(data).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_PUT(self) -> None:  # LFS basic transfer: the object itself
            hub.requests.append(f"PUT {self.path}")
            oid = self.path.rsplit("/", 1)[-1]
            data = self._body()
            assert hashlib.sha256(data).hexdigest() == oid
            hub.lfs[oid] = data
            self._json(200, {})

        def do_POST(self) -> None:
            hub.requests.append(f"POST {self.path}")
            hub.auth.add(self.headers.get("Authorization", ""))
            body = self._body()
            path = self.path.split("?")[0]
            if path == "/api/repos/create":
                payload = json.loads(body)
                repo = (
                    f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
                )
                assert payload.get("type") == "dataset"
                if repo in hub.repos:
                    return self._json(
                        409, {"error": "You already created this dataset repo", "url": f"{hub.url}/datasets/{repo}"}
                    )
                hub.repos.add(repo)
                return self._json(200, {"url": f"{hub.url}/datasets/{repo}"})
            if path == "/api/validate-yaml":  # the dataset card's YAML header is checked before the commit
                payload = json.loads(body)
                assert payload["repoType"] == "dataset" and "configs" in payload["content"]
                return self._json(200, {"errors": [], "warnings": []})
            if "/preupload/" in path:
                files = json.loads(body)["files"]
                modes = [
                    {
                        "path": f["path"],
                        "uploadMode": "lfs" if f["path"].endswith(BINARY) else "regular",
                        "shouldIgnore": False,
                    }
                    for f in files
                ]
                return self._json(200, {"files": modes})
            if path.endswith(".git/info/lfs/objects/batch"):
                objects = json.loads(body)["objects"]
                actions = [
                    {
                        "oid": o["oid"],
                        "size": o["size"],
                        "actions": {"upload": {"href": f"{hub.url}/lfs-upload/{o['oid']}"}},
                    }
                    for o in objects
                ]
                return self._json(200, {"objects": actions, "transfer": "basic"})
            if "/commit/" in path:
                repo = path.split("/api/datasets/")[1].split("/commit/")[0]
                assert repo in hub.repos
                for line in body.splitlines():
                    item = json.loads(line)
                    value = item["value"]
                    if item["key"] == "file":
                        hub.files[value["path"]] = base64.b64decode(value["content"])
                    elif item["key"] == "lfsFile":
                        hub.files[value["path"]] = hub.lfs[value["oid"]]
                return self._json(200, {"commitUrl": f"{hub.url}/datasets/{repo}/commit/abc123", "commitOid": "abc123"})
            return self._json(404, {"error": f"unexpected {path}"})

    return Handler


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    state = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def test_export_then_push_uploads_every_file(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The Hub stores binaries with Xet when hf_xet is installed; this server speaks the classic LFS protocol,
    # which huggingface_hub uses when Xet is switched off.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_DISABLE_XET", True)
    config = ConfigurationService()
    config.update_setting("huggingface", "hf_username", "alice")
    config.update_setting("huggingface", "repo_name", "my-lora-set")
    config.update_setting("huggingface", "token", TOKEN)
    project = ProjectService(config).create("hfp")
    try:
        add_images(project, [ImageSpec(f"i{n}.png", (400, 300), tags=simple_tags("cat", "smile")) for n in range(3)])
        service = ExportService(config, project)
        result = service.export(service.default_options(tmp_path / "hf", format="hf", trigger_words=("sks",)))
        pushed = service.push_to_hub(result.target, endpoint=hub.url)
        # a second push goes to the existing repo (create_repo exist_ok)
        service.push_to_hub(result.target, endpoint=hub.url)
    finally:
        project.close()

    assert pushed.repo_id == "alice/my-lora-set" and pushed.files == 5
    local = {p.relative_to(result.target).as_posix(): p.read_bytes() for p in result.target.rglob("*") if p.is_file()}
    assert hub.files == local
    assert set(local) == {"README.md", "train/metadata.jsonl", "train/i0.png", "train/i1.png", "train/i2.png"}
    assert len(hub.lfs) == 3  # the images went through LFS, the text files inline
    assert hub.auth == {f"Bearer {TOKEN}"}
    rows = [json.loads(x) for x in hub.files["train/metadata.jsonl"].decode().splitlines()]
    assert rows[0]["file_name"] == "i0.png" and rows[0]["text"] == "sks, cat, smile"


def test_push_without_token_or_repo_is_a_clear_error(tmp_path: Path) -> None:
    config = ConfigurationService()
    project = ProjectService(config).create("hfq")
    try:
        service = ExportService(config, project)
        (tmp_path / "x").mkdir()
        (tmp_path / "x" / "a.txt").write_text("a")
        with pytest.raises(ExportError, match="hf_username"):
            service.push_to_hub(tmp_path / "x")
        with pytest.raises(ExportError, match="token"):
            service.push_to_hub(tmp_path / "x", repo_id="alice/set")
        with pytest.raises(ExportError, match="user/name"):
            service.push_to_hub(tmp_path / "x", repo_id="nope")
    finally:
        project.close()
