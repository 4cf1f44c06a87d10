"""Kill -9 the real CLI at deterministic points of import, annotate (local and cloud) and export, re-run, and
check that nothing was lost, doubled or left behind.

The process kills itself at the Nth database commit (or exported image) through ``LORAIRO_FAULTS``
(``lorairo/utils/faults.py``), at points drawn from a seeded RNG: the same points every run, no timing races.
After the kills and one clean re-run, each test checks: ``PRAGMA integrity_check`` ok, exactly one row per
unique image and per (image, model), every file present, no orphan and no unfinished write (``project check``),
no temporary file or staging folder left, and no surviving worker process of any killed run.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_annotator_lib.testing.fake_providers import FakeProviderServer, start_openai_server
from sqlalchemy import text

from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.project_check import check_project
from lorairo.services.project_service import ProjectService
from tests.support import images as gen
from tests.support.models import register_loopback_cloud_model, register_tiny_tagger

pytestmark = [
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find surviving workers"),
]

PHOTOS = Path(__file__).resolve().parents[2] / "../shared/data/photos"
KILLED = -signal.SIGKILL
SEED = 14
_TAG = "LORAIRO_FAULT_TAG"


def lorairo(
    *args: str, faults: str = "", tag: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process; `faults` goes to LORAIRO_FAULTS, `tag` marks it and its children."""
    environment = {**os.environ, **(env or {}), "LORAIRO_FAULTS": faults, _TAG: tag or uuid.uuid4().hex}
    return subprocess.run(
        [sys.executable, "-m", "lorairo", *args], env=environment, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def kill_points(count: int, low: int, high: int, seed: int = SEED) -> list[int]:
    return sorted(random.Random(seed).sample(range(low, high + 1), count))


def survivors(tag: str) -> list[int]:
    """Pids of live processes that carry `tag` in their environment (a killed run's workers would)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"{_TAG}={tag}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def assert_no_survivors(tags: list[str]) -> None:
    """Workers die with their parent (PR_SET_PDEATHSIG); the kernel needs a moment to deliver it."""
    deadline = time.monotonic() + 10
    while (alive := [pid for tag in tags for pid in survivors(tag)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive == [], f"worker processes outlived their killed parent: {alive}"


def assert_project_whole(name: str) -> sqlite3.Connection:
    """integrity_check ok, one row per unique image, every file there, nothing orphaned or half-written."""
    projects = ProjectService(ConfigurationService())
    report = check_project(projects, name)
    assert report.ok, "\n".join(report.lines())
    root = projects.project_path(name)
    assert not list(root.rglob("*.part")), "temporary files left behind"
    conn = sqlite3.connect(root / "database.db")
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    rows, unique = conn.execute("SELECT count(*), count(DISTINCT hash_value) FROM images").fetchone()
    assert rows == unique
    return conn


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Real photos, generated ones and exact duplicates in one folder tree."""
    if not PHOTOS.is_dir():
        pytest.skip(f"{PHOTOS} not found (../shared beside the clone)")
    src = tmp_path / "photos"
    shutil.copytree(PHOTOS, src / "real")
    gen_dir = src / "generated"
    gen_dir.mkdir()
    for i in range(10):
        gen.write_jpeg(gen_dir / f"g{i:02d}.jpg", 120 + i, 90, seed=1000 + i)
    for name in ("g00.jpg", "g01.jpg", "g02.jpg"):
        shutil.copyfile(gen_dir / name, src / f"copy-of-{name}")
    return src


def _unique_images(folder: Path) -> int:
    extensions = {f".{e.lower()}" for e in ConfigurationService().get("image_processing.extensions")}
    hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.suffix.lower() in extensions}
    return len(hashes)


def test_import_killed_three_times_then_completed(photos: Path) -> None:
    ProjectService(ConfigurationService()).create("crash").close()
    env = {"LORAIRO_BATCH_SIZE": "3"}  # about nine batch commits per run: room for kills mid-way
    tags = []
    for point, where in zip(kill_points(3, 2, 7), ("commit", "committed", "commit"), strict=True):
        tags.append(uuid.uuid4().hex)
        result = lorairo("import", "-p", "crash", str(photos), "--jobs", "2", "--json",
                         faults=f"{where}={point}:kill", tag=tags[-1], env=env)  # fmt: skip
        assert result.returncode == KILLED, result.stderr
    assert_no_survivors(tags)
    final = lorairo("import", "-p", "crash", str(photos), "--jobs", "2", "--json", env=env)
    assert final.returncode == 0, final.stderr
    conn = assert_project_whole("crash")
    assert conn.execute("SELECT count(*) FROM images").fetchone() == (_unique_images(photos),)
    statuses = [s for (s,) in conn.execute("SELECT status FROM import_runs ORDER BY id")]
    assert statuses == ["interrupted"] * 3 + ["completed"]
    conn.close()


@pytest.fixture
def annotated_project(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    """A project of 16 generated images, annotation batches of 4 (four store commits per full run)."""
    src = tmp_path / "ann"
    src.mkdir()
    for i in range(16):
        gen.write_jpeg(src / f"a{i:02d}.jpg", 96, 64 + i, seed=2000 + i)
    config = ConfigurationService()
    config.update_setting("annotation", "batch_size", 4)
    project = ProjectService(config).create("annotate-crash")
    ImageProcessingService(config, project).import_paths([src], jobs=1)
    with project.db.session() as session:
        ids = list(session.execute(text("SELECT id FROM images")).scalars())
    project.close()
    yield project.name, ids


def _pairs(conn: sqlite3.Connection) -> tuple[int, int]:
    return conn.execute("SELECT count(*), count(DISTINCT image_id || '-' || model_id) FROM annotations").fetchone()


def test_local_annotation_killed_then_completed_stores_each_pair_once(
    annotated_project: tuple[str, list[int]], tmp_path: Path
) -> None:
    name, ids = annotated_project
    register_tiny_tagger(tmp_path / "tiny")
    tags = []
    for point, where in zip(kill_points(2, 1, 3, seed=SEED + 1), ("committed", "commit"), strict=True):
        tags.append(uuid.uuid4().hex)
        result = lorairo("annotate", "-p", name, "--models", "tiny-wd", "--json",
                         faults=f"{where}={point}:kill", tag=tags[-1])  # fmt: skip
        assert result.returncode == KILLED, result.stderr
    assert_no_survivors(tags)
    final = lorairo("annotate", "-p", name, "--models", "tiny-wd", "--json")
    assert final.returncode == 0, final.stderr
    conn = assert_project_whole(name)
    assert _pairs(conn) == (len(ids), len(ids))
    conn.close()


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    srv = start_openai_server()
    yield srv
    srv.stop()


def test_cloud_annotation_killed_then_completed_stores_each_pair_once(
    annotated_project: tuple[str, list[int]], server: FakeProviderServer
) -> None:
    """Killed just before a store commit. Every pair ends up stored once; and with each answer stored as it
    arrives, a kill costs at most the answer being committed and the requests in flight (max_concurrency 2),
    never a whole batch of paid answers."""
    name, ids = annotated_project
    register_loopback_cloud_model(server.openai_base_url)
    kills = kill_points(2, 2, 3, seed=SEED + 2)
    for point in kills:
        result = lorairo("annotate", "-p", name, "--models", "loopback-vlm", "--json", faults=f"commit={point}:kill")
        assert result.returncode == KILLED, result.stderr
    final = lorairo("annotate", "-p", name, "--models", "loopback-vlm", "--json")
    assert final.returncode == 0, final.stderr
    conn = assert_project_whole(name)
    assert _pairs(conn) == (len(ids), len(ids))
    conn.close()
    # A kill loses at most the answers of the commit it interrupted (those that arrived while the previous one
    # ran: up to the 2 in flight, +1) and the 2 requests in flight: 5, never the whole run's paid answers (the
    # per-100-images commit of old lost all 16 at each kill).
    assert server.count() <= len(ids) + len(kills) * 5, f"{server.count()} requests for {len(ids)} images"


def test_export_killed_then_completed_leaves_no_staging_or_workers(
    annotated_project: tuple[str, list[int]], tmp_path: Path
) -> None:
    name, ids = annotated_project
    out = tmp_path / "exports" / "dataset"
    tags = []
    for point in kill_points(2, 2, 12, seed=SEED + 4):
        tags.append(uuid.uuid4().hex)
        result = lorairo("export", "-p", name, "--out", str(out), "--format", "kohya", "--trigger", "sks", "--json",
                         faults=f"export.item={point}:kill", tag=tags[-1])  # fmt: skip
        assert result.returncode == KILLED, result.stderr
    assert_no_survivors(tags)
    assert not out.exists()  # a killed export never shows a half-written dataset
    final = lorairo("export", "-p", name, "--out", str(out), "--format", "kohya", "--trigger", "sks", "--json")
    assert final.returncode == 0, final.stderr
    images = [p for p in out.rglob("*") if p.suffix.lower() in {".jpg", ".png", ".webp"}]
    assert len(images) == len(ids)
    assert_project_whole(name).close()
    leftovers = sorted(p.name for p in out.parent.iterdir() if p.name != "dataset")
    assert not leftovers, f"staging folders of killed exports were left: {leftovers}"
