"""Paid work is never thrown away: a cloud run killed (kill -9) or interrupted (Ctrl+C) after K answers keeps
all K, and the re-run sends only the other N - K images.

The run is a real `lorairo annotate` process against a loopback provider (the real OpenAI SDK). The provider
answers K requests and then holds every further request unanswered, so the moment of the kill is
deterministic: K answers exist, no more can arrive. The test waits until the K answers are in the project
database (the process stores them as they arrive), then kills the process.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_annotator_lib.testing.fake_providers import FakeProviderServer, start_openai_server
from image_annotator_lib.testing.fake_replies import Fault
from PIL import Image

from lorairo.main import main
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.project_service import ProjectService
from tests.support.models import config_dir

N_IMAGES = 6
K_ANSWERS = 3
CONCURRENCY = 2
WAIT_FOR_ANSWERS_S = 60.0  # generous: only a broken implementation waits this long


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    srv = start_openai_server()
    yield srv
    srv.stop()


@pytest.fixture
def project_db(tmp_path: Path, server: FakeProviderServer) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(N_IMAGES):
        image = Image.new("RGB", (96, 64), (40 * i, 255 - 40 * i, 90))
        image.paste((0, 0, 0), (0, 0, 6 + 9 * i, 6 + 5 * i))
        image.save(src / f"img{i}.png")
    with (config_dir() / "available_api_models.toml").open("a", encoding="utf-8") as fh:
        # A long timeout: the held requests must not time out and be retried while the test waits.
        fh.write(
            '[models."paid-vlm"]\nkind = "cloud"\nframework = "openai-compatible"\nprovider = "loopback"\n'
            f'[models."paid-vlm".options]\nmodel_id = "llava-test"\nbase_url = "{server.openai_base_url}"\n'
            f"api_key_required = false\nretry_attempts = 0\ntimeout = 120\n"
            f"rate_limit_requests_per_minute = 0\nmax_concurrency = {CONCURRENCY}\n"
        )
    config = ConfigurationService()
    proj = ProjectService(config).create("paid")
    ImageProcessingService(config, proj).import_paths([src], jobs=1)
    root = proj.root
    proj.close()
    return root / "database.db"


def _rows(db: Path) -> list[tuple[int, int]]:
    """(image id, number of annotation rows) per annotated image, read as another process would."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT image_id, count(*) FROM annotations GROUP BY image_id").fetchall()


def _wait_for_rows(db: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_FOR_ANSWERS_S
    while len(_rows(db)) < count:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"annotate ended early ({process.returncode}): {out.decode()} {err.decode()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{count} answers arrived but were not stored while the run went on: {len(_rows(db))} rows")
        time.sleep(0.05)


def _wait_for_log(path: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_FOR_ANSWERS_S
    while not (path.is_file() and text in path.read_text(encoding="utf-8", errors="replace")):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the interrupted run never logged {text!r}")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_cloud_run_keeps_every_answer_and_rerun_sends_only_the_rest(
    server: FakeProviderServer, project_db: Path, how: signal.Signals
) -> None:
    # K answers, then every request in flight (max_concurrency of them) is held: no further answer can arrive.
    server.script("openai", [Fault("ok")] * K_ANSWERS + [Fault("hang")] * CONCURRENCY)
    process = subprocess.Popen(
        [sys.executable, "-m", "lorairo", "annotate", "--project", "paid", "--models", "paid-vlm", "--json"],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for_rows(project_db, K_ANSWERS, process)
    process.send_signal(how)
    if how == signal.SIGINT:
        # Ctrl+C stops sending, then waits for the requests in flight; once it says so in the log, let the held
        # requests end (unanswered). Releasing earlier would free a slot for a request not yet stopped.
        _wait_for_log(ConfigurationService().log_file_path(), "interrupted: storing the answers", process)
    server.release()  # after kill -9 this only tidies the server
    _, err = process.communicate(timeout=60)
    if how == signal.SIGINT:
        assert process.returncode == 130  # interrupted, said so
        assert b"every result received is saved" in err

    assert server.answered("openai") == K_ANSWERS
    assert len(_rows(project_db)) == K_ANSWERS  # every answer received is kept

    assert main(["annotate", "--project", "paid", "--models", "paid-vlm", "--json"]) == 0
    # The re-run asked only for the images without an answer: every image paid for exactly once.
    assert server.answered("openai") == N_IMAGES
    rows = _rows(project_db)
    assert len(rows) == N_IMAGES and all(n == 1 for _, n in rows)
