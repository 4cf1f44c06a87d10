"""Model files through a loopback server speaking the Hub's download protocol (HF_ENDPOINT), cache and offline."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import image_annotator_lib as lib
import pytest
from image_annotator_lib import ErrorCode, ModelKind, ModelSource, ModelSpec
from image_annotator_lib.testing.hub_server import FakeHub, serve_hub
from image_annotator_lib.testing.tiny_models import make_wd_tagger
from PIL import Image

FILES = ("model.onnx", "selected_tags.csv")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    tiny = make_wd_tagger(tmp_path / "published")
    with serve_hub() as server:
        server.add_repo("acme/wd-tiny", {name: (tiny.folder / name).read_bytes() for name in FILES})
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        yield server


def _spec(repo: str = "acme/wd-tiny", files: tuple[str, ...] = FILES) -> ModelSpec:
    return ModelSpec("hub-wd", ModelKind.TAGGER, "wd-onnx", ModelSource(repo_id=repo, revision="main", files=files))


def _annotate() -> lib.AnnotationResult:
    return lib.annotate([Image.new("RGB", (16, 16), "white")], ["hub-wd"], ["k"])["k"]["hub-wd"]


def test_first_load_downloads_second_load_hits_the_cache(hub: FakeHub) -> None:
    lib.register_model(_spec())
    assert not lib.model_status(_spec()).installed
    first = _annotate()
    assert first.ok and first.tags[0].name == "white_background"
    assert hub.count("HEAD", "/resolve/main/model.onnx") == 1
    assert hub.count("GET", "/resolve/main/selected_tags.csv") == 1
    assert sum(1 for m, p in hub.requests if m == "GET" and p.startswith("/cdn/")) == 1  # LFS blob via the CDN
    assert lib.model_status(_spec()).installed

    lib.get_model_cache().clear()  # force a real second load from disk
    seen = len(hub.requests)
    second = _annotate()
    assert second.ok and [t.name for t in second.tags] == [t.name for t in first.tags]
    assert hub.requests[seen:] == []  # no HEAD, no GET: served from the Hugging Face cache


def test_offline_mode_uses_the_cache_and_explains_a_miss(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    lib.register_model(_spec())
    assert lib.download_model("hub-wd").keys() == set(FILES)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lib.get_model_cache().clear()
    seen = len(hub.requests)
    assert _annotate().ok
    assert hub.requests[seen:] == []

    lib.register_model(ModelSpec("hub-wd", ModelKind.TAGGER, "wd-onnx", ModelSource(repo_id="acme/other", files=FILES)))
    result = _annotate()
    assert result.error is not None and result.error.code is ErrorCode.MISSING_FILES
    assert "offline mode" in result.error.message
    assert "python -m image_annotator_lib download hub-wd" in result.error.message
    assert hub.requests[seen:] == []


def test_missing_repo_and_missing_file_are_named(hub: FakeHub) -> None:
    lib.register_model(_spec(repo="acme/nothing"))
    error = _annotate().error
    assert error is not None and error.code is ErrorCode.MISSING_FILES and "acme/nothing" in error.message
    lib.register_model(_spec(files=("model.onnx", "tags.csv")))
    error = _annotate().error
    assert error is not None and "tags.csv" in error.message


def test_download_refreshes_and_cli_download_works(hub: FakeHub, tmp_path: Path) -> None:
    config = tmp_path / "models.toml"
    config.write_text(
        '[models."hub-wd"]\nkind = "tagger"\nframework = "wd-onnx"\n'
        '[models."hub-wd".source]\nrepo_id = "acme/wd-tiny"\nrevision = "main"\n'
        'files = ["model.onnx", "selected_tags.csv"]\n',
        encoding="utf-8",
    )
    env = {**os.environ, "IMAGE_ANNOTATOR_CONFIG": str(config)}
    cmd = [sys.executable, "-m", "image_annotator_lib", "download", "hub-wd"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "hub-wd: model.onnx -> " in out.stdout
    assert hub.count("GET", "/resolve/main/selected_tags.csv") == 1
    # Offline afterwards, the listing says installed.
    listing = subprocess.run(
        [sys.executable, "-m", "image_annotator_lib", "list", "--kind", "tagger"],
        env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next(row for row in listing.stdout.splitlines() if row.startswith("hub-wd "))
    assert "installed" in line


def test_cli_download_of_unknown_file_fails_with_message(hub: FakeHub, tmp_path: Path) -> None:
    config = tmp_path / "models.toml"
    config.write_text(
        '[models."x"]\nkind = "tagger"\nframework = "wd-onnx"\nrepo_id = "acme/wd-tiny"\nfiles = ["missing.onnx"]\n',
        encoding="utf-8",
    )
    env = {**os.environ, "IMAGE_ANNOTATOR_CONFIG": str(config)}
    out = subprocess.run(
        [sys.executable, "-m", "image_annotator_lib", "download", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and "missing.onnx" in out.stderr


def test_model_with_files_from_two_repos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from image_annotator_lib.local.imaging import CLIP_MEAN, CLIP_STD
    from image_annotator_lib.testing.tiny_models import make_aesthetic_model

    tiny = make_aesthetic_model(tmp_path / "published", "clip")
    tower = (tiny.folder / tiny.tower_file).read_bytes()
    head = (tiny.folder / tiny.head_file).read_bytes()
    with serve_hub() as server:
        server.add_repo("acme/clip-onnx", {tiny.tower_file: tower})
        server.add_repo("acme/aesthetic-head", {tiny.head_file: head})
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        local = tiny.spec("hub-aesthetic")
        source = ModelSource(
            repo_id="acme/clip-onnx",
            files=(tiny.tower_file,),
            extra_sources=(ModelSource(repo_id="acme/aesthetic-head", files=(tiny.head_file,)),),
        )
        spec = ModelSpec(local.name, local.kind, local.framework, source, options=local.options)
        lib.register_model(spec)
        status = lib.model_status(spec)
        assert not status.installed and tiny.head_file in status.needs[0] and tiny.tower_file in status.needs[0]
        result = lib.annotate([Image.new("RGB", (64, 64), "white")], [spec.name], ["k"])["k"][spec.name]
        expected = tiny.expected_score((1.0 - CLIP_MEAN) / CLIP_STD)
        assert result.scores["aesthetic_v2"].value == pytest.approx(expected, abs=1e-4)
        assert server.count("HEAD", f"/acme/aesthetic-head/resolve/main/{tiny.head_file}") == 1
        assert lib.model_status(spec).installed


def test_unreachable_hub_fails_at_once_with_how_to_get_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No 25 s of huggingface_hub retries when the Hub cannot be reached: one quick probe, then a clear error."""
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    lib.register_model(_spec())
    result = _annotate()
    assert result.error is not None and result.error.code is ErrorCode.MISSING_FILES
    assert f"127.0.0.1:{port} could not be reached" in result.error.message
    assert "python -m image_annotator_lib download hub-wd" in result.error.message
