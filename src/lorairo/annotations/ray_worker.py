"""The code the Ray engine runs on cluster workers (imported there; no Ray import needed here).

Two stages of a Ray Data pipeline, both plain callables over numpy column batches:

- `decode_batch` (CPU tasks): reads each image once (its path on a shared filesystem, or the bytes shipped
  through the object store) and normalises it with the library's own `to_rgb` (via `ai_annotator.upright_rgb`),
  for every model of the run. A file the decoder rejects becomes an error row, recorded as `invalid_image`.
- `ModelReplica` (one actor per replica): loads its model once with the library's own loading code and
  execution-provider choice (`ai_annotator.call_annotate_library`, the local path's entry point, whose model
  cache keeps the model loaded) and annotates the rows that still need it. Results travel back pickled.

Because both stages call exactly the code a local run calls, stored results are identical to a local run's.
"""

from __future__ import annotations

import io
import os
import pickle
import socket
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lorairo.annotations import ai_annotator
from lorairo.annotations.ai_annotator import ModelOutput

Batch = dict[str, Any]  # column name -> numpy array (Ray Data's "numpy" batch format)

# Test hooks (set in the driver's environment; Ray hands the driver's env to local workers): a replica exits
# the process on its first batch once (a killed worker), or on every batch holding this image key.
CRASH_ONCE_ENV = "LORAIRO_RAY_TEST_CRASH_ONCE"  # a marker file path: crash if it does not exist yet, then create
CRASH_ON_KEY_ENV = "LORAIRO_RAY_TEST_CRASH_ON_KEY"


def output_column(model: str) -> str:
    return f"out:{model}"


def node_name() -> str:
    return socket.gethostname()


def _decode(path: str, data: bytes) -> tuple[bytes, int, int, str]:
    """(RGB pixels, height, width, error) of one image; the error names the file."""
    try:
        with Image.open(io.BytesIO(data) if data else Path(path)) as opened:
            opened.load()
            rgb = ai_annotator.upright_rgb(opened)
        return rgb.tobytes(), rgb.height, rgb.width, ""
    except Exception as exc:  # missing, truncated or undecodable: a per-image failure, the run goes on
        return b"", 0, 0, f"{path}: cannot read image ({exc}) on node {node_name()}"


def decode_batch(batch: Batch) -> Batch:
    """CPU stage: rows (image_id, key, path, data, models) -> the same rows with pixels (or an error)."""
    decoded = [_decode(str(p), bytes(d)) for p, d in zip(batch["path"], batch["data"], strict=True)]
    return {
        "image_id": batch["image_id"],
        "key": batch["key"],
        "models": batch["models"],
        "pixels": np.array([d[0] for d in decoded], dtype=object),
        "height": np.array([d[1] for d in decoded], dtype=np.int64),
        "width": np.array([d[2] for d in decoded], dtype=np.int64),
        "error": np.array([d[3] for d in decoded], dtype=object),
    }


def check_paths(paths: Sequence[str]) -> list[str]:
    """The paths this worker cannot read (the up-front shared-filesystem check)."""
    return [p for p in paths if not os.access(p, os.R_OK)]


class ModelReplica:
    """One model replica: the model is loaded once per actor and annotates every batch it is given."""

    def __init__(self, model: str, model_files: Sequence[str]) -> None:
        self.model = model
        self.node = node_name()
        # The user's model files must be at the same path on this node (a shared config folder, or copied).
        ai_annotator.configure({}, [Path(f) for f in model_files])
        crash_marker = os.environ.get(CRASH_ONCE_ENV)
        self._crash_marker = Path(crash_marker) if crash_marker else None
        self._crash_key = os.environ.get(CRASH_ON_KEY_ENV) or None

    def _crash_hooks(self, keys: Sequence[str]) -> None:
        if self._crash_marker is not None and not self._crash_marker.exists():
            self._crash_marker.write_text(self.node)
            os._exit(1)  # a worker killed mid-batch: Ray restarts the actor and retries the batch
        if self._crash_key is not None and self._crash_key in keys:
            os._exit(1)  # an image that kills its worker every time

    def __call__(self, batch: Batch) -> Batch:
        wanted = [self.model in str(m).split(",") for m in batch["models"]]
        outputs: list[bytes] = [b""] * len(wanted)
        run: list[int] = []
        for index, want in enumerate(wanted):
            if not want:
                continue
            error = str(batch["error"][index])
            if error:
                failed = ModelOutput(self.model, error_code="invalid_image", error_message=error)
                outputs[index] = pickle.dumps(failed)
            else:
                run.append(index)
        if run:
            keys = [str(batch["key"][i]) for i in run]
            self._crash_hooks(keys)
            images = [
                Image.frombytes("RGB", (int(batch["width"][i]), int(batch["height"][i])), bytes(batch["pixels"][i]))
                for i in run
            ]
            results = ai_annotator.call_annotate_library(images, [self.model], keys)
            for index, key in zip(run, keys, strict=True):
                output = results[key][self.model]
                if not output.ok:  # which node said so: a model missing on one node only is found at once
                    output = replace(output, error_message=f"{output.error_message} (node {self.node})")
                outputs[index] = pickle.dumps(output)
        return {**batch, output_column(self.model): np.array(outputs, dtype=object)}


def replica_class(model: str, model_files: Sequence[str]) -> type[ModelReplica]:
    """A `ModelReplica` bound to one model, constructed without arguments: Ray cannot restart an actor whose
    constructor arguments live in the object store (ray-project/ray#53727), and a killed replica must restart."""
    files = list(model_files)

    def construct(self: ModelReplica) -> None:
        ModelReplica.__init__(self, model, files)

    return type(f"ModelReplica[{model}]", (ModelReplica,), {"__init__": construct})
