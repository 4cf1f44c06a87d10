"""The Ray engine: annotate a project's images with local models on a Ray cluster (Ray Data batch inference).

Pipeline (Ray's batch-inference guide): rows (image id, key, path or shipped bytes, models still wanted) -> one
`map_batches` stage on an actor pool (`ModelReplica`: the run's models loaded once per actor by the library's own
code; each image read once there, on threads, and preprocessed by the same library code as a local run) -> results
streamed back to this driver (`iter_batches`) and stored by the project's single writer (`ResultWriter` +
`AnnotationService.store_outputs`), so provenance, candidate probabilities and failure records are exactly a
local run's. Resume: pairs already stored are not sent. Cancel: stop iterating; every stored batch stays.

A worker that dies is restarted by Ray and its batch retried `max_retries` times; a batch that still fails is
skipped by Ray Data (`max_errored_blocks`) and its images are sent again one per batch, so an image that kills
its worker by itself is recorded as a `worker_died` failure, not retried forever, and its neighbours are stored.
"""

from __future__ import annotations

import importlib
import os
import pickle
import queue
import socket
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger
from sqlalchemy import select

from lorairo.annotations.ai_annotator import ModelOutput
from lorairo.annotations.ray_worker import (
    TEST_HOOKS,
    UNREADABLE_COLUMN,
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
    result_keys,
    run_summary,
)
from lorairo.services.annotation_writer import ResultWriter, Tally
from lorairo.storage.layout import image_path
from lorairo.storage.lock import ProjectLock

CONNECT_TIMEOUT = 5.0  # seconds to reach a remote head before saying it is unreachable
# A driver whose cluster's GCS stops answering is ended by Ray itself (the process exits, printing only "Failed to
# connect to GCS within 60 seconds"), so the engine watches the GCS while it waits for results and stops first:
# after LOST_AFTER seconds without an answer it says so, naming the address, and disconnects.
HEALTH_INTERVAL = 1.0  # seconds between checks while no result arrives
LOST_AFTER = 10.0  # seconds of a silent GCS before the run stops (Ray's own limit is 60)
GCS_RECONNECT_TIMEOUT = 7 * 24 * 3600  # the driver's: see require_ray
WORKER_DIED = "worker_died"


class RayEngineError(LoRAIroException):
    """The Ray engine cannot run (extra missing, cluster unreachable or lost, images not visible)."""


@dataclass(frozen=True)
class RayOptions:
    address: str = ""  # "" = a Ray instance on this machine; "auto"; "HOST:PORT"; "ray://HOST:10001"
    replicas: int = 0  # 0 = one per GPU share (--gpus-per-replica), else one per node
    gpus_per_replica: float = 0.0
    ship_bytes: bool = False  # send stored bytes through the object store (no shared filesystem)
    max_retries: int = 3
    rows_per_batch: int = 32  # images per block / library call (a dying worker fails at most this many)

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
    # Ray ends a driver process whose GCS has not answered for this long (60 s by default), even after
    # `ray.shutdown()`: the engine's own watch (LOST_AFTER) stops the run with a clear error instead, and the GUI
    # and the CLI must outlive a lost cluster. Read by Ray at each `ray.init`.
    os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(GCS_RECONNECT_TIMEOUT))
    # Ray Data's usage collection starts one more actor (a new Python worker process: seconds of start-up on a small
    # node, before the first batch) and polls a Prometheus endpoint the cluster may not have; the env switch is
    # Ray Data's own (ray.data._internal.usage.collector.usage_collection_disabled).
    os.environ.setdefault("RAY_DATA_USAGE_DISABLED", "1")
    # Ray 2.60 deprecates both ways of giving map_batches' actors Ray options (`ray_remote_args_fn` and the
    # `**ray_remote_args` keywords), and its new named parameters have no max_task_retries / max_restarts: there
    # is no non-deprecated way yet to bound the retries of a batch that kills its worker (Ray Data's default
    # retries it forever). `_stream` keeps the option; this filters that one warning (re-added each call:
    # `filterwarnings` replaces an identical filter, and pytest resets filters per test).
    warnings.filterwarnings("ignore", message=r"`ray_remote_args_fn` is deprecated", category=DeprecationWarning)
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
    """Connect to (or start) Ray. An initialised Ray (a test's local cluster, the GUI's earlier run) is reused
    unless `address` names another cluster; an unreachable address fails fast either way."""
    ray = require_ray()
    _check_reachable(address)
    if ray.is_initialized():
        if not _names_other_cluster(ray, address):
            return ray
        ray.shutdown()
    try:
        if address in ("", "local"):
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except Exception as exc:
        raise RayEngineError(f"cannot connect to the Ray cluster at {address or 'this machine'}: {exc}") from exc
    return ray


def _names_other_cluster(ray: Any, address: str) -> bool:
    """True when `address` is a HOST:PORT other than the GCS this driver is connected to."""
    if address in ("", "auto", "local") or address.startswith("ray://"):
        return False
    try:
        current = str(ray.get_runtime_context().gcs_address)
    except Exception:  # a client-mode connection has no GCS address here
        return False
    host, _, port = address.rpartition(":")
    current_host, _, current_port = current.rpartition(":")
    same_host = host == current_host or {host, current_host} <= {"127.0.0.1", "localhost", socket.gethostname()}
    return not (same_host and port == current_port)


def _replicas(ray: Any, options: RayOptions) -> int:
    """Replicas: as asked, else one per GPU share, else one per node (a CPU replica's onnxruntime already uses
    every core of its node, so two replicas on one node would only compete for them)."""
    if options.replicas > 0:
        return options.replicas
    if options.gpus_per_replica > 0:
        gpus = float(ray.cluster_resources().get("GPU", 0))
        if gpus > 0:
            return max(1, int(gpus // options.gpus_per_replica))
    return max(1, sum(1 for node in ray.nodes() if node.get("Alive") and node.get("Resources", {}).get("CPU")))


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


def _check_shared_paths(batch: dict[str, Any], rows_by_id: dict[int, dict]) -> None:
    """A file the replica could not open that exists here: the workers do not see the project at the driver's paths.
    Checked on every batch before any of it is stored (a replica's first batch is the up-front check, on the node
    that runs it; a separate check task cost a worker process and a round trip before the replica could start), so
    the run stops saying what to do instead of recording every image as unreadable. A file missing here too is a
    per-image failure like in a local run."""
    for image_id, why in zip(batch["image_id"], batch[UNREADABLE_COLUMN], strict=True):
        path = str(rows_by_id[int(image_id)]["path"])
        if why and Path(path).exists():
            raise RayEngineError(
                f"a Ray worker cannot read {path} ({why}): put the project on a filesystem every node mounts at "
                "the same path, or pass --ship-bytes to send the images through Ray's object store"
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
    model_files = [str(p) for p in _model_files(service)]
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
    rows_by_id = {row["image_id"]: row for row in rows}
    try:
        if rows:
            ctx = ray.data.DataContext.get_current()
            ctx.max_errored_blocks = -1  # a batch that kills its worker every time is skipped, then recorded
            ctx.enable_progress_bars = False
            replicas = _replicas(ray, options)
            gcs = _gcs_address(ray)
            where = options.address or gcs or "this machine"
            rate_start = time.perf_counter()
            # Pass 1 in batches; pass 2 sends what died with its worker one image per batch, so only an image
            # that kills its worker by itself is recorded as a failure, not the innocent rest of its batch.
            for rows_per_batch in dict.fromkeys((options.rows_per_batch, 1)):
                left = _left_rows(rows, expected)
                if not left or cancelled:
                    break
                stream = _stream(ray, left, models, options, replicas, model_files, rows_per_batch)
                try:
                    for batch in _watched(stream, gcs):
                        if not options.ship_bytes:
                            _check_shared_paths(batch, rows_by_id)
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
                except ClusterLost as exc:
                    _disconnect(ray)
                    raise RayEngineError(
                        f"lost the Ray cluster at {where} mid-run ({exc}); results stored before: {stored_pairs}; "
                        "start the cluster again and run the same command to annotate the rest"
                    ) from None
                except RayEngineError:
                    raise
                except Exception as exc:
                    if _is_task_error(ray, exc):
                        raise
                    _disconnect(ray)
                    raise RayEngineError(
                        f"lost the Ray cluster at {where} mid-run ({type(exc).__name__}: {exc}); results stored "
                        f"before: {stored_pairs}; run the same command again to annotate the rest"
                    ) from exc
            if not cancelled:  # what never came back killed its worker max_retries + 1 times on its own: a failure
                for image_id, left_models in expected.items():
                    for name in sorted(left_models):
                        message = (
                            f"a Ray worker died {options.max_retries + 1} times on this image (alone in its batch; "
                            "or the replica raised, see the Ray worker logs); it is not retried further in this run"
                        )
                        writer.put(image_id, ModelOutput(name, error_code=WORKER_DIED, error_message=message))
    finally:
        writer.close()
    return run_summary(
        models, plan, tally, skipped_policy=dict.fromkeys(models, 0), cancelled=cancelled, started=started
    )


def _left_rows(rows: list[dict], expected: dict[int, set[str]]) -> list[dict]:
    """The rows with models still unanswered, asking only for those models."""
    return [{**row, "models": ",".join(sorted(expected[row["image_id"]]))} for row in rows if expected[row["image_id"]]]


def _stream(
    ray: Any,
    rows: list[dict],
    models: list[str],
    options: RayOptions,
    replicas: int,
    model_files: list[str],
    rows_per_batch: int,
) -> Iterator[dict[str, Any]]:
    """The results of one pass over `rows`, batch by batch as the replicas finish them."""
    hooks = {k: v for k, v in os.environ.items() if k in TEST_HOOKS}
    retries = options.max_retries
    # One block of at most rows_per_batch rows per batch (batch_size=None: a block is a batch). With
    # batch_size=rows_per_batch, Ray Data bundled two of these blocks (each a row or two short of it, as
    # from_items splits evenly) into every task, so each batch, the first included, was twice as long to wait for.
    ds = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // rows_per_batch)))
    ds = ds.map_batches(
        replica_class(models, model_files),
        batch_size=None,
        # One batch in flight per replica: a worker that dies takes only the batch it was running with it
        # (queued batches would use up their retries on a neighbour's crash).
        compute=ray.data.ActorPoolStrategy(size=replicas, max_tasks_in_flight_per_actor=1),
        num_gpus=options.gpus_per_replica or None,
        num_cpus=1,
        runtime_env={"env_vars": hooks} if hooks else None,
        # Restarts without limit (Ray Data's default): an actor that used up a finite max_restarts stays dead and
        # a fixed-size pool never replaces it, so the run hung (ray-project/ray#62746). The bound is per batch:
        # a batch whose worker dies max_task_retries + 1 times fails and is recorded.
        ray_remote_args_fn=lambda: {"max_restarts": -1, "max_task_retries": retries},
    )
    # prefetch_batches=0: with Ray Data's default (1) a block is handed over only once the next one exists, so
    # results were stored one batch late (the first after the second finished, the last at the very end); the
    # blocks are a few kB of results, so there is nothing worth fetching ahead.
    return ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0)


class ClusterLost(Exception):
    """The cluster's GCS stopped answering while the driver waited for results."""


def _gcs_address(ray: Any) -> str | None:
    """HOST:PORT of the GCS this driver is connected to (None in client mode, where Ray raises on a lost link)."""
    try:
        address = str(ray.get_runtime_context().gcs_address)
    except Exception:
        return None
    host, _, port = address.rpartition(":")
    return address if host and port.isdigit() else None


def _gcs_answers(gcs: str) -> bool:
    host, _, port = gcs.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=HEALTH_INTERVAL):
            return True
    except OSError:
        return False


def _watched(stream: Iterator[dict[str, Any]], gcs: str | None) -> Iterator[dict[str, Any]]:
    """`stream`'s batches, read on a thread while this one checks that the GCS still answers.

    Waiting in `iter_batches` for a cluster that is gone would not return: Ray ends the whole process after 60 s
    (the GUI with it). Raises ClusterLost after LOST_AFTER seconds of silence. Stopping early (cancel, error) closes
    the stream on its own thread, which shuts Ray Data's executor down as breaking out of it directly did."""
    results: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)  # one batch ahead: Ray Data's backpressure holds
    stop = threading.Event()

    def offer(item: tuple[str, Any]) -> None:
        while not stop.is_set():
            try:
                results.put(item, timeout=HEALTH_INTERVAL)
                return
            except queue.Full:
                continue

    def read() -> None:
        try:
            for batch in stream:
                offer(("batch", batch))
                if stop.is_set():
                    break
            offer(("end", None))
        except BaseException as exc:  # handed to the driver's thread, which decides what it means
            offer(("error", exc))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="ray-results", daemon=True)
    reader.start()
    silent_since: float | None = None
    try:
        while True:
            try:
                kind, item = results.get(timeout=HEALTH_INTERVAL)
            except queue.Empty:
                if gcs is None or _gcs_answers(gcs):
                    silent_since = None
                    continue
                now = time.monotonic()
                silent_since = silent_since or now
                if now - silent_since >= LOST_AFTER:
                    raise ClusterLost(f"its GCS at {gcs} has not answered for {LOST_AFTER:.0f} s") from None
                continue
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()


def _disconnect(ray: Any) -> None:
    """Leave a lost cluster, so Ray does not end this process later; the next run connects afresh."""
    try:
        ray.shutdown()
    except Exception as exc:  # already half gone: nothing more to release
        logger.debug("ray.shutdown after losing the cluster: {}", exc)


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
