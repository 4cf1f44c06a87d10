"""The Ray engine: annotate a project's images with local models on a Ray cluster (Ray Data batch inference).

Pipeline (Ray's batch-inference guide): rows (image id, key, path or shipped bytes, models still wanted) ->
`decode_batch` CPU tasks (each image read and normalised once for all models) -> one `map_batches` stage per
model on an actor pool (`ModelReplica`: the model loaded once per actor, by the library's own code) -> results
streamed back to this driver (`iter_batches`) and stored by the project's single writer (`ResultWriter` +
`AnnotationService.store_outputs`), so provenance, candidate probabilities and failure records are exactly a
local run's. Resume: pairs already stored are not sent. Cancel: stop iterating; every stored batch stays.

A batch whose worker dies `max_retries` times is skipped by Ray Data (`max_errored_blocks`); its images are
recorded as `worker_died` failures for the models that did not answer, so a poison image is not retried forever.
"""

from __future__ import annotations

import importlib
import os
import pickle
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger
from sqlalchemy import select

from lorairo.annotations.ai_annotator import ModelOutput
from lorairo.annotations.ray_worker import (
    CRASH_ON_KEY_ENV,
    CRASH_ONCE_ENV,
    check_paths,
    decode_batch,
    output_column,
    replica_class,
)
from lorairo.database.chunks import chunked
from lorairo.database.schema import ImageRecord
from lorairo.exceptions import LoRAIroException
from lorairo.services.annotation_engines import RAY_EXTRA_COMMAND, ray_installed
from lorairo.services.annotation_service import (
    AnnotationRunSummary,
    AnnotationService,
    BatchCallback,
    ProgressCallback,
    _log_failures,
    result_keys,
)
from lorairo.services.annotation_writer import ResultWriter, Tally
from lorairo.storage.layout import image_path
from lorairo.storage.lock import ProjectLock

CONNECT_TIMEOUT = 5.0  # seconds to reach a remote head before saying it is unreachable
WORKER_DIED = "worker_died"


class RayEngineError(LoRAIroException):
    """The Ray engine cannot run (extra missing, cluster unreachable or lost, images not visible)."""


@dataclass(frozen=True)
class RayOptions:
    address: str = ""  # "" = a Ray instance on this machine; "auto"; "HOST:PORT"; "ray://HOST:10001"
    replicas: int = 0  # per model; 0 = one per GPU (2 on a CPU-only cluster)
    gpus_per_replica: float = 0.0
    ship_bytes: bool = False  # send stored bytes through the object store (no shared filesystem)
    max_retries: int = 3
    rows_per_batch: int = 16  # images per block / model call (a dying worker fails at most this many)

    @classmethod
    def from_config(
        cls,
        config: Any,
        *,
        address: str | None = None,
        replicas: int | None = None,
        gpus_per_replica: float | None = None,
        ship_bytes: bool = False,
    ) -> RayOptions:
        """The settings of `[annotation]`, overridden by the command's options given (not None)."""
        return cls(
            address=address if address is not None else str(config.get("annotation.ray_address") or ""),
            replicas=replicas if replicas is not None else int(config.get("annotation.ray_replicas")),
            gpus_per_replica=(
                gpus_per_replica
                if gpus_per_replica is not None
                else float(config.get("annotation.ray_gpus_per_replica"))
            ),
            ship_bytes=ship_bytes,
            max_retries=int(config.get("annotation.ray_max_retries")),
        )


def require_ray() -> Any:
    """Import Ray, or say in one line which extra to install."""
    if not ray_installed():
        raise RayEngineError(f"the ray engine needs the optional extra 'ray': run `{RAY_EXTRA_COMMAND}`")
    # `uv run` makes Ray ship the working directory and start workers through uv; LoRAIro's workers use the
    # interpreter they find installed instead (the same environment on a local cluster, the nodes' own remotely).
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    return ray


def _check_reachable(address: str) -> None:
    """A fast, bounded check that a remote head answers (ray.init would wait much longer)."""
    if address in ("", "auto", "local"):
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RayEngineError(f"Ray address {address!r} is not HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise RayEngineError(
            f"cannot reach the Ray cluster at {address} ({exc}); start it with `ray start --head` "
            "or check the address (annotation.ray_address / --address)"
        ) from exc


def connect(address: str) -> Any:
    """Connect to (or start) Ray; an already initialised Ray (a test's local cluster) is used as it is."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    _check_reachable(address)
    try:
        if address in ("", "local"):
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except Exception as exc:
        raise RayEngineError(f"cannot connect to the Ray cluster at {address or 'this machine'}: {exc}") from exc
    return ray


# Scheduling shares (not limits: onnxruntime uses the node's cores). Kept below 1 so that on a small cluster
# every model's replicas and the decode tasks fit at once; whole CPUs would deadlock a 2-CPU cluster.
DECODE_CPUS = 0.25
REPLICA_CPUS = 0.5


def _replicas(ray: Any, options: RayOptions, n_models: int) -> int:
    """Replicas per model: as asked, else one per GPU share, else as many as the cluster's CPUs allow."""
    if options.replicas > 0:
        return options.replicas
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    if options.gpus_per_replica > 0 and gpus > 0:
        return max(1, int(gpus // options.gpus_per_replica))
    cpus = float(resources.get("CPU", 1))
    return max(1, int((cpus - DECODE_CPUS) // (REPLICA_CPUS * max(1, n_models) * 2)))


def run_on_ray(
    service: AnnotationService,
    image_ids: Sequence[int],
    model_names: Sequence[str],
    options: RayOptions,
    *,
    rerun: bool = False,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    on_batch: BatchCallback | None = None,
) -> AnnotationRunSummary:
    """Annotate on a Ray cluster, storing like `AnnotationService.run`. Local models only.

    Raises:
        RayEngineError: no extra, a cloud model, cluster unreachable or lost mid-run (stored results stay),
            image paths not visible to the workers.
        ProjectBusyError: another writer holds the project.
    """
    models = list(dict.fromkeys(model_names))
    cloud = [n for n in models if (m := service.model(n)) is not None and m.is_cloud]
    if cloud:
        raise RayEngineError(f"the ray engine runs local models only; run {', '.join(cloud)} with --engine local")
    ray = connect(options.address)
    with ProjectLock(service.project.root, "annotate"):
        return _run(ray, service, image_ids, models, options, rerun, progress, cancel, on_batch)


def _rows(service: AnnotationService, ordered: list[int], work: dict[int, list[str]], ship: bool) -> list[dict]:
    records: dict[int, tuple[str, str]] = {}
    with service.project.db.session() as session:
        for chunk in chunked(ordered):
            query = select(ImageRecord.id, ImageRecord.file_path, ImageRecord.phash).where(ImageRecord.id.in_(chunk))
            records.update({r.id: (r.file_path, r.phash) for r in session.execute(query)})
    present = [i for i in ordered if i in records]
    keys = result_keys([(i, records[i][1]) for i in present])
    rows = []
    for image_id, key in zip(present, keys, strict=True):
        path = image_path(service.project, records[image_id][0])
        data = b""
        if ship:
            try:
                data = path.read_bytes()
            except OSError:
                data = b""  # the worker reports it as unreadable, naming the file
        rows.append(
            {"image_id": image_id, "key": key, "path": str(path), "data": data, "models": ",".join(work[image_id])}
        )
    return rows


def _check_shared_paths(ray: Any, rows: list[dict]) -> None:
    """One worker must see the first images at the driver's paths, or the user must pass --ship-bytes."""
    sample = [r["path"] for r in rows[:3] if Path(r["path"]).exists()]
    if not sample:
        return
    missing = ray.get(ray.remote(num_cpus=0.1)(check_paths).remote(sample))
    if missing:
        raise RayEngineError(
            f"a Ray worker cannot read {missing[0]}: put the project on a filesystem every node mounts at the "
            "same path, or pass --ship-bytes to send the images through Ray's object store"
        )


def _run(
    ray: Any,
    service: AnnotationService,
    image_ids: Sequence[int],
    models: list[str],
    options: RayOptions,
    rerun: bool,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    on_batch: BatchCallback | None,
) -> AnnotationRunSummary:
    importlib.import_module("ray.data")  # loads the submodule, so `ray.data` resolves on the module passed in

    started = time.perf_counter()
    plan = service.plan(image_ids, models, rerun=rerun)
    work: dict[int, list[str]] = defaultdict(list)
    for name in models:
        for image_id in plan.pending[name]:
            work[image_id].append(name)
    ordered = [i for i in dict.fromkeys(image_ids) if i in work]
    total = sum(len(work[i]) for i in ordered)
    tally = Tally()
    cancelled = False
    stored_pairs = 0
    expected: dict[int, set[str]] = {i: set(work[i]) for i in ordered}
    rows = _rows(service, ordered, work, options.ship_bytes)
    writer = ResultWriter(service.store_outputs, tally, on_batch)
    logger.info("ray engine: {} images with {} ({} image-model pairs)", len(rows), models, total)
    try:
        if rows:
            if not options.ship_bytes:
                _check_shared_paths(ray, rows)
            ctx = ray.data.DataContext.get_current()
            ctx.max_errored_blocks = -1  # a batch that kills its worker every time is skipped, then recorded
            ctx.enable_progress_bars = False
            replicas = _replicas(ray, options, len(models))
            model_files = [str(p) for p in _model_files(service)]
            hooks = {k: v for k, v in os.environ.items() if k in (CRASH_ONCE_ENV, CRASH_ON_KEY_ENV)}
            extra: dict[str, Any] = {"runtime_env": {"env_vars": hooks}} if hooks else {}
            ds = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // options.rows_per_batch)))
            ds = ds.map_batches(
                decode_batch, batch_size=options.rows_per_batch, num_cpus=DECODE_CPUS, max_retries=options.max_retries
            )
            for name in models:
                ds = ds.map_batches(
                    replica_class(name, model_files),
                    batch_size=options.rows_per_batch,
                    # Ray Data's default of several batches in flight per actor: with one, a restarted actor
                    # stalled on Ray 2.60 here. The cost: a poison image can take a neighbour batch with it.
                    compute=ray.data.ActorPoolStrategy(size=replicas),
                    num_gpus=options.gpus_per_replica or None,
                    num_cpus=1 if options.gpus_per_replica else REPLICA_CPUS,
                    max_restarts=options.max_retries,
                    max_task_retries=options.max_retries,
                    **extra,
                )
            columns = ["image_id", *(output_column(n) for n in models)]
            ds = ds.select_columns(columns)
            rate_start = time.perf_counter()
            try:
                for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                    count = _put(batch, models, writer, expected)
                    writer.flush()  # stored before progress says so
                    stored_pairs += count
                    if progress:
                        elapsed = time.perf_counter() - rate_start
                        rate = stored_pairs / elapsed if elapsed > 0 else 0.0
                        eta = (total - stored_pairs) / rate if rate > 0 else 0.0
                        progress(stored_pairs, total, f"{rate:.1f} img·model/s, ETA {eta:.0f} s")
                    if cancel is not None and cancel.is_set():
                        cancelled = True
                        break
            except RayEngineError:
                raise
            except Exception as exc:
                if _is_task_error(ray, exc):
                    raise
                raise RayEngineError(
                    f"lost the Ray cluster mid-run ({type(exc).__name__}: {exc}); {stored_pairs} results were "
                    "stored, run the same command again to annotate the rest"
                ) from exc
            if not cancelled:  # what never came back died with its worker max_retries times: a failure
                for image_id, left in expected.items():
                    for name in sorted(left):
                        message = f"a Ray worker died {options.max_retries + 1} times on the batch holding this image"
                        writer.put(image_id, ModelOutput(name, error_code=WORKER_DIED, error_message=message))
    finally:
        writer.close()
    summary = AnnotationRunSummary(
        models=tuple(models),
        annotated=dict(tally.annotated),
        failed=dict(tally.failed),
        policy_violations=dict(tally.policy),
        skipped_done=dict(plan.already_done),
        skipped_policy=dict.fromkeys(models, 0),
        failure_reasons=dict(tally.reasons),
        failure_messages={k: list(v) for k, v in tally.messages.items()},
        cancelled=cancelled,
        elapsed=time.perf_counter() - started,
        images=len(tally.images),
    )
    _log_failures(summary)
    return summary


def _is_task_error(ray: Any, exc: Exception) -> bool:
    """A bug in our own stage code (a Python exception inside a task) is re-raised as is, not as a lost cluster."""
    return isinstance(exc, ray.exceptions.RayTaskError) and not isinstance(exc, ray.exceptions.RayActorError)


def _put(batch: dict[str, Any], models: list[str], writer: ResultWriter, expected: dict[int, set[str]]) -> int:
    count = 0
    for index, image_id in enumerate(batch["image_id"]):
        image_id = int(image_id)
        for name in models:
            blob = batch[output_column(name)][index]
            if not blob:
                continue
            output: ModelOutput = pickle.loads(bytes(blob))  # our own workers' results (trusted cluster)
            expected.get(image_id, set()).discard(name)
            writer.put(image_id, output)
            count += 1
    return count


def _model_files(service: AnnotationService) -> list[Path]:
    user_dir = service.config.config_path.parent
    return [user_dir / "annotator_config.toml", user_dir / "available_api_models.toml"]
