"""The Ray engine on ONE local 2-CPU Ray cluster started by this module: the same stored results as the local engine
(tiny generated WD tagger + the real open-nsfw model over real imported photos), cancel and resume without
duplicates, a killed worker survived, an image that kills its worker recorded (and only that image), bad inputs
recorded per image, `--address` against a `ray start --head` subprocess, an unreachable address.

Skipped with its reason when the optional extra is missing (`uv sync --extra ray`). CI installs it (.ci/run)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import hypothesis.strategies  # noqa: F401  (see below)
import pytest
from sqlalchemy import func, select

from lorairo.database.schema import (
    AnnotationFailure,
    AnnotationRecord,
    ImageRecord,
    QualityScoreRecord,
    RatingRecord,
    TagRecord,
)
from lorairo.services.annotation_engines import ray_installed
from lorairo.services.annotation_service import AnnotationService
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.project_service import Project, ProjectService
from lorairo.storage.layout import image_path
from tests.support.models import register_tiny_tagger

# hypothesis' pytest plugin imports (and pytest rewrites) hypothesis.strategies at session end when no test module
# did; run alone, this module once ended with CPython 3.11's "AST constructor recursion depth mismatch" there
# (python/cpython#106905: ast.parse state shared across threads, and the driver's Ray threads live on), after all
# tests had passed. Imported here, at collection, before any Ray thread exists.

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(not ray_installed(), reason="needs the optional extra 'ray' (uv sync --extra ray)"),
]

_ROOT = Path(__file__).resolve().parents[2]
_PHOTOS = next(
    (p / "data" / "photos" for p in (_ROOT.parent / "shared", _ROOT.parent.parent / "shared") if p.is_dir()), None
)
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "horse.png", "rocket.jpg", "retina.jpg"]
MODELS = ["tiny-wd", "open-nsfw"]
OBJECT_STORE_BYTES = 80 * 2**20  # rows and results only (images are read by the replicas): Ray's minimum is 75 MB


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Until the head's GCS accepts connections (`ray start --block` returns only when the cluster stops)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"ray start --head exited with {process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the Ray head did not listen on port {port} within {timeout:.0f} s")


# No token authentication (a throwaway cluster on free ports): this process imported Ray (and fixed its auth mode)
# before any fixture ran, so it could not take a token set here; `ray start` would otherwise use whatever
# ~/.ray/auth_token holds on the machine.
AUTH = {"RAY_AUTH_MODE": "disabled", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}


@contextmanager
def _head_cluster(home: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A cluster as a user starts it: `ray start --head` (2 CPUs, small object store) on free ports, in its own
    process group, stopped by its id at the end (never `ray stop`, which stops every cluster on the machine). Its
    workers get caches outside the real home. Yields the GCS port and the `ray start` process."""
    env = {**os.environ, **AUTH}
    env.update({v: str(home / v.lower()) for v in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")})
    port = _free_port()
    ports = {  # the fixed defaults of these would clash with another cluster on the machine
        "--dashboard-agent-listen-port": _free_port(),
        "--dashboard-agent-grpc-port": _free_port(),
        "--metrics-export-port": _free_port(),
        "--runtime-env-agent-port": _free_port(),
    }
    temp_dir = tempfile.mkdtemp(prefix="lr-ray-", dir="/tmp")  # Ray's socket paths must stay short
    head = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ray"),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=2",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            "--include-dashboard=false",
            f"--temp-dir={temp_dir}",
            *(f"{flag}={value}" for flag, value in ports.items()),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_port(port, head)
        yield port, head
    finally:
        _stop_cluster(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _stop_cluster(head: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """Stop the cluster `head` started (its process group only): SIGTERM, which `ray start --block` passes on to
    its cluster's processes, then SIGKILL for what did not stop in time; `kill` = SIGKILL at once (a lost node)."""
    if head.poll() is not None:
        return
    if not kill:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(head.pid, signal.SIGKILL)  # the group is this cluster's own
    except ProcessLookupError:
        pass
    head.wait(timeout=30)


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The module's one cluster (`_head_cluster`). Yields the GCS port."""
    with _head_cluster(tmp_path_factory.mktemp("ray-home")) as (port, _), pytest.MonkeyPatch.context() as mp:
        for name, value in AUTH.items():
            mp.setenv(name, value)
        yield port


@pytest.fixture(scope="module")
def ray_cluster(ray_head: int) -> Iterator[object]:
    """This test process as a driver of the module's cluster (the engine reuses an initialised Ray)."""
    import ray

    ray.init(address=f"127.0.0.1:{ray_head}", log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def _project(name: str, tmp_path: Path, photos: list[str] = PHOTOS) -> tuple[ConfigurationService, Project]:
    if _PHOTOS is None:
        pytest.skip("the shared photos (../shared/data/photos) are not beside this checkout")
    src = tmp_path / f"src-{name}"
    src.mkdir()
    for photo in photos:
        shutil.copy(_PHOTOS / photo, src / photo)
    config = ConfigurationService()
    proj = ProjectService(config).create(name)
    ImageProcessingService(config, proj).import_paths([src], jobs=1)
    return config, proj


def _ids(proj: Project) -> dict[str, int]:
    with proj.db.session() as s:
        return {name: i for i, name in s.execute(select(ImageRecord.id, ImageRecord.file_name))}


def _stored(proj: Project) -> dict[str, list[tuple[object, ...]]]:
    """What a user sees per image file: tags with confidences, ratings with probabilities, scores, run rows."""
    names = {i: n for n, i in _ids(proj).items()}
    with proj.db.session() as s:
        tags = sorted((names[r.image_id], r.tag, r.confidence) for r in s.execute(select(TagRecord)).scalars())
        ratings = sorted(
            (names[r.image_id], r.label, r.probabilities_json) for r in s.execute(select(RatingRecord)).scalars()
        )
        scores = sorted(
            (names[r.image_id], r.score_name, r.value) for r in s.execute(select(QualityScoreRecord)).scalars()
        )
        runs = sorted(
            (names[r.image_id], r.model, r.framework, r.device) for r in s.execute(select(AnnotationRecord)).scalars()
        )
    return {"tags": tags, "ratings": ratings, "scores": scores, "runs": runs}


def _failures(proj: Project) -> list[tuple[int, str, str, str]]:
    with proj.db.session() as s:
        rows = s.execute(
            select(
                AnnotationFailure.image_id,
                AnnotationFailure.model_name,
                AnnotationFailure.failure_reason,
                AnnotationFailure.error_message,
            )
        )
        return sorted((int(i), str(m), str(c), str(t)) for i, m, c, t in rows)


def _options(**kw: object):  # type: ignore[no-untyped-def]
    from lorairo.services.annotation_engines.ray_engine import RayOptions

    return RayOptions(**{"replicas": 1, "rows_per_batch": 2, **kw})  # type: ignore[arg-type]


def test_ray_results_identical_to_local(ray_cluster: object, tmp_path: Path) -> None:
    import json

    from lorairo.services.annotation_engines.ray_engine import run_on_ray

    register_tiny_tagger(tmp_path / "tiny")
    config, local = _project("local", tmp_path)
    _, remote = _project("remote", tmp_path)
    try:
        AnnotationService(config, local).run(list(_ids(local).values()), MODELS)
        summary = run_on_ray(AnnotationService(config, remote), list(_ids(remote).values()), MODELS, _options())
        assert summary.annotated == {"tiny-wd": len(PHOTOS), "open-nsfw": len(PHOTOS)}
        assert summary.failed == {}
        want, got = _stored(local), _stored(remote)
        assert got["runs"] == want["runs"] and len(want["runs"]) == 2 * len(PHOTOS)
        assert want["tags"] and [t[:2] for t in got["tags"]] == [t[:2] for t in want["tags"]]
        for (_, _, a), (_, _, b) in zip(got["tags"], want["tags"], strict=True):
            assert a == pytest.approx(b, abs=1e-6)
        assert want["ratings"] and [r[:2] for r in got["ratings"]] == [r[:2] for r in want["ratings"]]
        for (_, _, a), (_, _, b) in zip(got["ratings"], want["ratings"], strict=True):
            pa, pb = json.loads(str(a or "{}")), json.loads(str(b or "{}"))
            assert sorted(pa) == sorted(pb)
            assert [pa[k] for k in sorted(pa)] == pytest.approx([pb[k] for k in sorted(pb)], abs=1e-6)
        assert want["scores"] and [s[:2] for s in got["scores"]] == [s[:2] for s in want["scores"]]
        for (_, _, a), (_, _, b) in zip(got["scores"], want["scores"], strict=True):
            assert a == pytest.approx(b, abs=1e-6)
    finally:
        local.close()
        remote.close()


def test_cancel_half_way_then_resume_has_no_duplicates(ray_cluster: object, tmp_path: Path) -> None:
    from lorairo.services.annotation_engines.ray_engine import run_on_ray

    config, proj = _project("resume", tmp_path)
    ids = list(_ids(proj).values())
    cancel = threading.Event()

    def progress(done: int, total: int, _message: str) -> None:
        if done >= total // 2:  # deterministic: set while storing a batch, never at the end (3 batches of 2)
            cancel.set()

    try:
        first = run_on_ray(
            AnnotationService(config, proj), ids, ["open-nsfw"], _options(), progress=progress, cancel=cancel
        )
        assert first.cancelled and 0 < first.annotated["open-nsfw"] < len(ids)
        assert first.failed == {}  # a cancel records nothing as failed
        # The resumed run ships the stored bytes through the object store (clusters without a shared filesystem).
        second = run_on_ray(AnnotationService(config, proj), ids, ["open-nsfw"], _options(ship_bytes=True))
        assert not second.cancelled
        assert second.skipped_done == {"open-nsfw": first.annotated["open-nsfw"]}
        assert first.annotated["open-nsfw"] + second.annotated["open-nsfw"] == len(ids)
        with proj.db.session() as s:
            per_image = s.execute(
                select(AnnotationRecord.image_id, func.count()).group_by(AnnotationRecord.image_id)
            ).all()
        assert sorted(i for i, _ in per_image) == sorted(ids) and {n for _, n in per_image} == {1}
        assert _failures(proj) == []
    finally:
        proj.close()


def test_each_stored_batch_holds_at_most_rows_per_batch_images(ray_cluster: object, tmp_path: Path) -> None:
    """6 images at 4 per batch are two blocks of 3: each is its own batch, stored (and reported) as it finishes.
    Ray Data used to bundle both blocks into one task of 6 images (batch_size=4 waited for a second block), so the
    first results came only when every image of the run was done."""
    from lorairo.services.annotation_engines.ray_engine import run_on_ray

    config, proj = _project("batches", tmp_path)
    done: list[int] = []
    try:
        run_on_ray(
            AnnotationService(config, proj),
            list(_ids(proj).values()),
            ["open-nsfw"],
            _options(rows_per_batch=4),
            progress=lambda stored, _total, _message: done.append(stored),
        )
        steps = [b - a for a, b in zip([0, *done], done, strict=False)]
        assert sum(steps) == len(PHOTOS) and len(steps) == 2 and max(steps) <= 4, done
    finally:
        proj.close()


def test_killed_worker_survived_and_only_the_poison_image_recorded(
    ray_cluster: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lorairo.services.annotation_engines.ray_engine import WORKER_DIED, run_on_ray

    config, proj = _project("crash", tmp_path)
    ids = _ids(proj)
    with proj.db.session() as s:
        poison_key = s.scalar(select(ImageRecord.phash).where(ImageRecord.id == ids["horse.png"]))
    crashed = tmp_path / "crashed-once"
    monkeypatch.setenv("LORAIRO_RAY_TEST_CRASH_ONCE", str(crashed))  # the first batch kills its replica once
    monkeypatch.setenv("LORAIRO_RAY_TEST_CRASH_ON_KEY", str(poison_key))  # horse.png kills it every time
    try:
        summary = run_on_ray(
            AnnotationService(config, proj), list(ids.values()), ["open-nsfw"], _options(max_retries=1)
        )
        assert crashed.exists()  # a worker really died mid-run, was restarted, and its batch was retried
        # Only the image that kills its worker on its own is a failure; its batch neighbour was stored.
        assert summary.annotated == {"open-nsfw": len(PHOTOS) - 1}
        assert summary.failure_reasons == {WORKER_DIED: 1}
        failures = _failures(proj)
        assert [(i, m, c) for i, m, c, _ in failures] == [(ids["horse.png"], "open-nsfw", WORKER_DIED)]
        assert "died 2 times" in failures[0][3]
    finally:
        proj.close()


def test_bad_inputs_are_recorded_per_image_naming_file_and_node(ray_cluster: object, tmp_path: Path) -> None:
    """An image the decoder rejects and a model whose files are missing on the worker: per-image failures that
    name the file / the model file and the node; the other model's results are stored."""
    from lorairo.services.annotation_engines.ray_engine import run_on_ray

    tiny = tmp_path / "tiny"
    register_tiny_tagger(tiny)
    config, proj = _project("bad", tmp_path, PHOTOS[:3])
    ids = _ids(proj)
    (tiny / "model.onnx").unlink()  # the worker has no model file for tiny-wd
    with proj.db.session() as s:
        stored = s.scalar(select(ImageRecord.file_path).where(ImageRecord.id == ids["coffee.png"]))
    broken = image_path(proj, str(stored))
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # damaged on disk after import
    try:
        summary = run_on_ray(AnnotationService(config, proj), list(ids.values()), MODELS, _options())
        assert summary.annotated == {"open-nsfw": 2}
        assert summary.failed == {"open-nsfw": 1, "tiny-wd": 3}
        node = socket.gethostname()
        failures = {(i, m): (c, t) for i, m, c, t in _failures(proj)}
        for model in MODELS:
            code, text = failures[(ids["coffee.png"], model)]
            assert code == "invalid_image" and str(broken) in text and node in text
        for name in ("astronaut.png", "chelsea.png"):
            code, text = failures[(ids[name], "tiny-wd")]
            assert code == "missing_files" and "model.onnx" in text and f"(node {node})" in text
    finally:
        proj.close()


def test_images_a_worker_cannot_read_fail_up_front_unless_shipped(ray_cluster: object, tmp_path: Path) -> None:
    """The shared-filesystem check, on the replica's first batch before any of it is stored: a path the driver sees
    but the worker cannot read (here a directory where the image file was) stops the run naming it and
    --ship-bytes, and nothing is stored or recorded."""
    from lorairo.services.annotation_engines.ray_engine import RayEngineError, run_on_ray

    config, proj = _project("unshared", tmp_path, PHOTOS[:2])
    ids = _ids(proj)
    with proj.db.session() as s:
        stored = s.scalar(select(ImageRecord.file_path).where(ImageRecord.id == ids["astronaut.png"]))
    path = image_path(proj, str(stored))
    path.unlink()
    path.mkdir()
    try:
        with pytest.raises(RayEngineError, match=r"a Ray worker cannot read .*astronaut.*--ship-bytes"):
            run_on_ray(AnnotationService(config, proj), list(ids.values()), ["open-nsfw"], _options())
        assert _stored(proj)["runs"] == [] and _failures(proj) == []
    finally:
        proj.close()


def test_address_mode_against_ray_start_head(ray_head: int, tmp_path: Path) -> None:
    """`lorairo annotate --address HOST:PORT`, in its own process, against the `ray start --head` cluster."""
    config, proj = _project("address", tmp_path)
    proj.close()
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "lorairo"),
            "annotate",
            "--project",
            "address",
            "--models",
            "open-nsfw",
            "--engine",
            "ray",
            "--address",
            f"127.0.0.1:{ray_head}",
            "--json",
        ],
        env=dict(os.environ),  # with ray_head's settings
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    proj = ProjectService(config).open("address")
    try:
        assert len(_stored(proj)["runs"]) == len(PHOTOS)
    finally:
        proj.close()


def test_unreachable_address_fails_fast_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    from lorairo.main import main

    ProjectService(ConfigurationService()).create("p").close()
    port = _free_port()  # nothing listens there
    code = main(
        ["annotate", "--project", "p", "--models", "open-nsfw", "--engine", "ray", "--address", f"127.0.0.1:{port}"]
    )
    assert code == 1
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in capsys.readouterr().err


# The driver of the lost-cluster test, in its own process (a lost cluster must never end or mark pytest's): the CLI
# command whose cluster is killed right after its first stored batch, then, in the same process as the desktop app
# does, the same command against a running cluster (argv[2]); the process then ends normally with the rerun's code.
# Hooks: 2 images per batch (3 batches); the replica holds every batch after its first until its cluster is gone.
LOST_DRIVER = """
import dataclasses, os, signal, sys
from lorairo.main import main
from lorairo.services.annotation_engines import ray_engine

from_config = ray_engine.RayOptions.from_config
ray_engine.RayOptions.from_config = classmethod(
    lambda cls, *a, **kw: dataclasses.replace(from_config(*a, **kw), rows_per_batch=2)
)
stopped = []

class StopClusterAfterFirstBatch(ray_engine.ResultWriter):
    def flush(self):
        super().flush()
        if not stopped:
            stopped.append(True)
            os.killpg(int(sys.argv[1]), signal.SIGKILL)

ray_engine.ResultWriter = StopClusterAfterFirstBatch
command = sys.argv[3:]
code = main(command)
print(f"main returned {code}; cluster stopped: {bool(stopped)}", flush=True)
del os.environ["LORAIRO_RAY_TEST_HOLD_AFTER_FIRST"]
stopped.append(True)  # the running cluster is not stopped
again = main([*command[:-1], sys.argv[2]])  # the same command, --address of the running cluster
print(f"rerun returned {again}", flush=True)
sys.exit(again)
"""


def test_driver_that_loses_the_cluster_stops_naming_it_and_a_rerun_completes(
    ray_head: int,
    tmp_path: Path,
) -> None:
    """`lorairo annotate --engine ray --address A` whose cluster is stopped after the first stored batch: the run
    ends (it does not hang, and Ray does not end the process first) with an error naming A, exit code 1, the stored
    batch kept. The same process (as the desktop app, which runs the engine in-process, would) then runs the same
    command against a running cluster: it connects, annotates the rest with no duplicates, and the process ends
    normally with status 0 (nothing of the lost cluster ends or marks it).

    Deterministic: the replica holds every batch after its first (a test hook), and the cluster (its own, not the
    module's) is stopped by SIGKILL of its process group right after that first batch is stored."""
    config, proj = _project("lost", tmp_path)
    ids = _ids(proj)
    proj.close()
    with _head_cluster(tmp_path / "lost-home") as (port, head):
        address = f"127.0.0.1:{port}"
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                LOST_DRIVER,
                str(head.pid),
                f"127.0.0.1:{ray_head}",
                "annotate",
                "--project",
                "lost",
                "--models",
                "open-nsfw",
                "--engine",
                "ray",
                "--address",
                address,
            ],
            env={**os.environ, "LORAIRO_RAY_TEST_HOLD_AFTER_FIRST": "1"},
            capture_output=True,
            text=True,
            timeout=400,
        )
        _stop_cluster(head, kill=True)  # reaps it (the driver killed it)
    assert "main returned 1; cluster stopped: True" in run.stdout, run.stderr[-3000:]
    assert f"lost the Ray cluster at {address} mid-run" in run.stderr, run.stderr[-3000:]
    assert "results stored before: 2" in run.stderr
    assert "rerun returned 0" in run.stdout, run.stderr[-3000:]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Failed to connect to GCS" not in run.stderr
    proj = ProjectService(config).open("lost")
    try:
        with proj.db.session() as s:
            per_image = s.execute(
                select(AnnotationRecord.image_id, func.count()).group_by(AnnotationRecord.image_id)
            ).all()
        assert sorted(i for i, _ in per_image) == sorted(ids.values()) and {n for _, n in per_image} == {1}
        assert _failures(proj) == []
    finally:
        proj.close()
