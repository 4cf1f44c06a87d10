"""The code the Ray engine runs on cluster workers (imported there; no Ray import needed here).

One Ray Data stage, a plain callable over numpy column batches run by an actor pool: `ModelReplica` (one actor per
replica) loads the run's models once with the library's own loading code and execution-provider choice
(`ai_annotator.call_annotate_library`, the local path's entry point, whose model cache keeps them loaded), reads
each image of a batch once (its path on a shared filesystem, or the bytes shipped through the object store) on a
few threads, and annotates it with every model that still needs it. Results travel back pickled.

Why decoding happens in the replica and not in a separate CPU stage: a separate stage ships every image's pixels
(or model-size float inputs, 600 kB per image for a 224 px model) through the object store and adds a process hop
per image; reading the file where the model runs ships only the row (id, key, path) and lets the library overlap
preprocessing with inference exactly as a local run does. On a 2-CPU machine the separate stage ran at 0.34x the
local engine (docs/benchmarks.md); a GPU replica that decodes on its node's CPUs keeps the GPU fed the same way a
local GPU run does.

Because the replica calls exactly the code a local run calls, stored results are identical to a local run's.
"""

from __future__ import annotations

import io
import os
import pickle
import socket
import threading
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lorairo.annotations import ai_annotator
from lorairo.annotations.ai_annotator import ModelOutput

Batch = dict[str, Any]  # column name -> numpy array (Ray Data's "numpy" batch format)

# Test hooks (handed to the replicas through the run's runtime_env): a replica exits its process on its first
# batch once (a killed worker), or on every batch holding this image key (an image that kills its worker).
CRASH_ONCE_ENV = "LORAIRO_RAY_TEST_CRASH_ONCE"  # a marker file path: crash if it does not exist yet, then create
CRASH_ON_KEY_ENV = "LORAIRO_RAY_TEST_CRASH_ON_KEY"
# and one that holds every batch after a replica's first (until its cluster is stopped): a run that has stored
# exactly one batch when the test stops the cluster under it.
HOLD_AFTER_FIRST_ENV = "LORAIRO_RAY_TEST_HOLD_AFTER_FIRST"
TEST_HOOKS = (CRASH_ONCE_ENV, CRASH_ON_KEY_ENV, HOLD_AFTER_FIRST_ENV)
DECODE_THREADS = 4  # per replica: file reads and PNG/JPEG decoding release the GIL


UNREADABLE_COLUMN = "unreadable"  # per row: "" or why this node could not open the file (see `_read`)


def output_column(model: str) -> str:
    return f"out:{model}"


def node_name() -> str:
    return socket.gethostname()


class Unreadable(OSError):
    """The worker cannot open the image's file (as opposed to a file it opens but cannot decode)."""


def _read(path: str, data: bytes) -> Image.Image:
    """The image decoded, as the local engine's `load_image` does (from the shipped bytes when given).

    Raises:
        Unreadable: the file cannot be opened or read on this node (missing, not a file, no permission), the
            sign of a project this node does not see at the driver's path, which the driver tells apart.
    """
    if not data:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise Unreadable(str(exc)) from exc
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


class ModelReplica:
    """One replica of the run's models: loaded once per actor, then every batch it is given is annotated."""

    def __init__(self, models: Sequence[str], model_files: Sequence[str]) -> None:
        self.models = list(models)
        self.node = node_name()
        # The user's model files must be at the same path on this node (a shared config folder, or copied).
        ai_annotator.configure({}, [Path(f) for f in model_files])
        crash_marker = os.environ.get(CRASH_ONCE_ENV)
        self._crash_marker = Path(crash_marker) if crash_marker else None
        self._crash_key = os.environ.get(CRASH_ON_KEY_ENV) or None
        self._hold_after_first = bool(os.environ.get(HOLD_AFTER_FIRST_ENV))
        self._batches = 0
        self._pool = ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="ray-decode")

    def _crash_hooks(self, keys: Sequence[str]) -> None:
        if self._crash_marker is not None and not self._crash_marker.exists():
            self._crash_marker.write_text(self.node)
            os._exit(1)  # a worker killed mid-batch: Ray restarts the actor and retries the batch
        if self._crash_key is not None and self._crash_key in keys:
            os._exit(1)  # an image that kills its worker every time
        if self._hold_after_first and self._batches > 0:
            threading.Event().wait()  # never set: the batch is answered only by the cluster going away
        self._batches += 1

    def __call__(self, batch: Batch) -> Batch:
        n = len(batch["image_id"])
        keys = [str(k) for k in batch["key"]]
        wanted = [tuple(m for m in str(batch["models"][i]).split(",") if m in self.models) for i in range(n)]
        outputs: dict[str, list[bytes]] = {m: [b""] * n for m in self.models}
        unreadable = [""] * n
        self._crash_hooks(keys)
        reads = [
            self._pool.submit(_read, str(batch["path"][i]), bytes(batch["data"][i])) if wanted[i] else None
            for i in range(n)
        ]
        images: dict[int, Image.Image] = {}
        for i, future in enumerate(reads):
            if future is None:
                continue
            try:
                images[i] = future.result()
            except Exception as exc:  # missing, truncated or undecodable: a per-image failure, the run goes on
                if isinstance(exc, Unreadable):
                    unreadable[i] = str(exc)
                message = f"{batch['path'][i]}: cannot read image ({exc}) on node {self.node}"
                for name in wanted[i]:
                    outputs[name][i] = pickle.dumps(
                        ModelOutput(name, error_code="invalid_image", error_message=message)
                    )
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)  # images wanting the same models go together
        for i in images:
            groups[wanted[i]].append(i)
        try:
            for names, rows in groups.items():
                row_keys = [keys[i] for i in rows]
                try:
                    results = ai_annotator.call_annotate_library([images[i] for i in rows], list(names), row_keys)
                except ai_annotator.AiAnnotatorError as exc:  # the library failed as a whole: each image says why
                    failed = {n: ModelOutput(n, error_code="inference_failed", error_message=str(exc)) for n in names}
                    results = dict.fromkeys(row_keys, failed)
                for i in rows:
                    for name in names:
                        output = results[keys[i]][name]
                        if not output.ok:  # which node said so: a model missing on one node only is found at once
                            output = replace(output, error_message=f"{output.error_message} (node {self.node})")
                        outputs[name][i] = pickle.dumps(output)
        finally:
            for image in images.values():
                image.close()
        return {
            "image_id": batch["image_id"],
            UNREADABLE_COLUMN: np.array(unreadable, dtype=object),
            **{output_column(m): np.array(v, dtype=object) for m, v in outputs.items()},
        }


def replica_class(models: Sequence[str], model_files: Sequence[str]) -> type[ModelReplica]:
    """A `ModelReplica` bound to the run's models, constructed without arguments: Ray cannot restart an actor whose
    constructor arguments live in the object store (ray-project/ray#53727), and a killed replica must restart."""
    chosen, files = list(models), list(model_files)

    def construct(self: ModelReplica) -> None:
        ModelReplica.__init__(self, chosen, files)

    return type("ModelReplica", (ModelReplica,), {"__init__": construct})
