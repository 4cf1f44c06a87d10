"""Plain-array weights: `.npz` and `.safetensors` read with numpy (no torch, no safetensors package).

safetensors layout: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
then the raw little-endian tensor bytes. Only the requested tensors are read, so a head can be taken out of a
full model file (e.g. the `layers.*` of a 1.7 GB CLIP+head checkpoint) without loading the rest.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from image_annotator_lib.core.errors import AnnotatorLoadError

_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}


def _bf16_to_f32(raw: bytes) -> np.ndarray:
    half = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
    return (half << 16).view(np.float32)


def read_safetensors(path: Path, keep: Callable[[str], bool] = lambda _k: True) -> dict[str, np.ndarray]:
    """Tensors of `path` whose names pass `keep`, as float32/int arrays."""
    try:
        with path.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if length > 100 * 2**20:
                raise AnnotatorLoadError(f"{path.name}: safetensors header of {length} bytes is not plausible")
            header = json.loads(fh.read(length))
            base = 8 + length
            out: dict[str, np.ndarray] = {}
            for name, info in header.items():
                if name == "__metadata__" or not keep(name):
                    continue
                start, end = info["data_offsets"]
                fh.seek(base + start)
                raw = fh.read(end - start)
                dtype = info["dtype"]
                if dtype == "BF16":
                    arr = _bf16_to_f32(raw)
                elif dtype in _DTYPES:
                    arr = np.frombuffer(raw, dtype=_DTYPES[dtype])
                else:
                    raise AnnotatorLoadError(f"{path.name}: tensor {name} has unsupported dtype {dtype}")
                out[name] = arr.reshape(info["shape"]).astype(np.float32 if arr.dtype.kind == "f" else arr.dtype)
            return out
    except (OSError, ValueError, KeyError, struct.error) as exc:
        raise AnnotatorLoadError(f"cannot read {path}: {exc}") from exc


def read_arrays(path: Path, keep: Callable[[str], bool] = lambda _k: True) -> dict[str, np.ndarray]:
    """Arrays from a .npz or .safetensors file."""
    if path.suffix == ".safetensors":
        return read_safetensors(path, keep)
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: np.asarray(data[k], dtype=np.float32) for k in data.files if keep(k)}
        except (OSError, ValueError) as exc:
            raise AnnotatorLoadError(f"cannot read {path}: {exc}") from exc
    raise AnnotatorLoadError(f"{path.name}: head weights must be .npz or .safetensors")


class LinearStack:
    """Linear layers applied in order, no activations (the LAION/v2.5 aesthetic heads)."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.layers = layers

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str, source: str) -> LinearStack:
        """Layers `<prefix><index>.weight/.bias` ordered by index; weight shape [out, in] (torch Linear)."""
        pattern = re.compile(re.escape(prefix) + r"(\d+)\.weight$")
        indices = sorted(int(m.group(1)) for k in arrays if (m := pattern.match(k)))
        if not indices:
            raise AnnotatorLoadError(f"{source}: no '{prefix}<n>.weight' tensors (keys: {', '.join(list(arrays)[:8])})")
        layers = []
        width: int | None = None
        for index in indices:
            weight = arrays[f"{prefix}{index}.weight"]
            bias = arrays.get(f"{prefix}{index}.bias", np.zeros(weight.shape[0], dtype=np.float32))
            if weight.ndim != 2 or bias.shape != (weight.shape[0],) or (width is not None and weight.shape[1] != width):
                raise AnnotatorLoadError(f"{source}: layer {prefix}{index} has shape {weight.shape} / {bias.shape}")
            width = weight.shape[0]
            layers.append((np.ascontiguousarray(weight.T, dtype=np.float32), bias.astype(np.float32)))
        return cls(layers)

    @property
    def in_features(self) -> int:
        return int(self.layers[0][0].shape[0])

    @property
    def out_features(self) -> int:
        return int(self.layers[-1][0].shape[1])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for weight, bias in self.layers:
            x = x @ weight + bias
        return x
