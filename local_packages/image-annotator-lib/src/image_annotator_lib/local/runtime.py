"""onnxruntime sessions on the best execution provider that really works, and quiet about the ones that don't.

`onnxruntime-gpu` lists CUDAExecutionProvider even on machines without a GPU or CUDA libraries; asking for it
then prints a red error and silently runs on CPU. So each accelerated provider is probed once per process with a
67-byte Identity model (logging fully muted during the probe) and only providers that survive are requested.
The provider a session actually got (`session.get_providers()[0]`) is what results report as their device.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
# Preference order for device "auto"/"cuda"; TensorRT is left out: it needs its own engine build per model.
ACCELERATED = ("CUDAExecutionProvider", "ROCMExecutionProvider", "DmlExecutionProvider")

# A serialized ONNX model: y = Identity(x), x float[1]. Made with onnx.helper once; embedded so that probing
# needs neither the onnx package nor a file.
_PROBE_MODEL = (
    b'\x08\x08\x12\x00:7\n\x10\n\x01x\x12\x01y"\x08Identity\x12\x01pZ\x0f\n\x01x\x12\n\n\x08\x08\x01\x12\x04\n'
    b"\x02\x08\x01b\x0f\n\x01y\x12\n\n\x08\x08\x01\x12\x04\n\x02\x08\x01B\x04\n\x00\x10\r"
)
_lock = threading.Lock()
_QUIET = 3  # errors and above; the probe mutes everything (4) because failed CUDA loads log at ERROR


def ort() -> Any:
    """Import onnxruntime (lazily) with its default logger set to errors only."""
    import onnxruntime

    if not getattr(ort, "_configured", False):
        onnxruntime.set_default_logger_severity(_QUIET)
        ort._configured = True  # type: ignore[attr-defined]
    return onnxruntime


@cache
def working_providers() -> tuple[str, ...]:
    """Accelerated providers that can really create a session here, best first, then CPU."""
    rt = ort()
    listed = set(rt.get_available_providers())
    working: list[str] = []
    with _lock:
        for provider in ACCELERATED:
            if provider not in listed:
                continue
            rt.set_default_logger_severity(4)
            try:
                options = rt.SessionOptions()
                options.log_severity_level = 4
                session = rt.InferenceSession(_PROBE_MODEL, options, providers=[provider, CPU])
                if session.get_providers()[0] == provider:
                    working.append(provider)
                else:
                    logger.info("%s is installed but does not work here; using CPU", provider)
            except Exception as exc:
                logger.info("%s probe failed: %s", provider, exc)
            finally:
                rt.set_default_logger_severity(_QUIET)
    return (*working, CPU)


def would_run_on(device: str) -> str:
    """ "cuda" if a session for a model with preferred `device` would get an accelerated provider, else "cpu"."""
    if device == "cpu":
        return "cpu"
    return "cuda" if working_providers()[0] != CPU else "cpu"


def default_threads() -> int:
    """Intra-op threads: every core (the preprocessing thread mostly waits on the GIL-free session)."""
    return max(1, os.cpu_count() or 1)


@dataclass
class OnnxModel:
    """An InferenceSession plus what callers need to know about it."""

    session: Any
    provider: str  # the provider that actually runs it
    fallback: str | None  # why it is not on the requested accelerator, if it is not
    input_name: str
    input_shape: tuple[Any, ...]
    output_names: list[str]

    @property
    def dynamic_batch(self) -> bool:
        """True when the first input dimension is symbolic (a string) or unknown."""
        first = self.input_shape[0] if self.input_shape else None
        return not isinstance(first, int) or first <= 0

    @property
    def fixed_batch(self) -> int | None:
        return None if self.dynamic_batch else int(self.input_shape[0])

    def run(self, batch: Any, outputs: list[str] | None = None) -> list[Any]:
        """session.run on one input (onnxruntime releases the GIL while it computes)."""
        result: list[Any] = self.session.run(outputs or self.output_names, {self.input_name: batch})
        return result


def load_session(path: Path, device: str = "auto", threads: int | None = None) -> OnnxModel:
    """Create a session for `path`, on an accelerator when `device` allows and one really works.

    Raises:
        Exception from onnxruntime when the file is not a loadable model (callers wrap it as a load error).
    """
    rt = ort()
    wanted = [CPU] if device == "cpu" else list(working_providers())
    options = rt.SessionOptions()
    options.log_severity_level = _QUIET
    options.intra_op_num_threads = threads or default_threads()
    options.graph_optimization_level = rt.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle intra-op threads would otherwise spin on the cores the next chunk's preprocessing thread needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = rt.InferenceSession(str(path), options, providers=wanted)
    provider = session.get_providers()[0]
    fallback = None
    if device != "cpu" and provider == CPU:
        fallback = f"no working GPU provider (onnxruntime lists: {', '.join(rt.get_available_providers())})"
        if device == "cuda":
            logger.warning("%s: CUDA requested but running on CPU: %s", path.name, fallback)
        else:
            logger.info("%s: running on CPU: %s", path.name, fallback)
    first = session.get_inputs()[0]
    return OnnxModel(
        session=session,
        provider=provider,
        fallback=fallback,
        input_name=first.name,
        input_shape=tuple(first.shape),
        output_names=[o.name for o in session.get_outputs()],
    )
