"""Shared machinery of the ONNX back-ends: files, session, per-image preprocessing errors, batching."""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from image_annotator_lib.core.errors import AnnotatorLoadError, InvalidImageError, MissingFilesError
from image_annotator_lib.core.hub import resolve_model_files
from image_annotator_lib.core.pipeline import PipelinedAnnotator, PreparedBatch
from image_annotator_lib.core.types import AnnotationError, AnnotationResult, ErrorCode, ModelSpec
from image_annotator_lib.local import runtime
from image_annotator_lib.local.runtime import OnnxModel

FRAMEWORK = "onnxruntime"


class OnnxAnnotator(PipelinedAnnotator):
    """Base of WD/aesthetic/NSFW back-ends. Not thread-safe (one batch at a time); `prepare` is thread-safe."""

    def __init__(self, spec: ModelSpec, *, api_keys: dict[str, str] | None = None) -> None:
        super().__init__(spec, api_keys=api_keys)
        self._model: OnnxModel | None = None
        self._files: dict[str, Path] = {}

    # --- registry-facing ---------------------------------------------------------------------------------------
    @classmethod
    def would_run_on(cls, spec: ModelSpec) -> str:
        return runtime.would_run_on(spec.device)

    @classmethod
    def estimate_load_mb(cls, spec: ModelSpec) -> float:
        """On-disk size of the files already present, times 1.5 for the session's working memory."""
        try:
            files = resolve_model_files(spec, allow_download=False)
        except MissingFilesError:
            return 0.0
        return 1.5 * sum(p.stat().st_size for p in files.values() if p.is_file()) / 2**20

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def load(self) -> None:
        self._files = resolve_model_files(self.spec)
        self._load(self._files)

    @abstractmethod
    def _load(self, files: dict[str, Path]) -> None:
        """Open sessions and read side files; raise AnnotatorLoadError/MissingFilesError naming the file."""

    def _file(self, files: dict[str, Path], name: str) -> Path:
        """`name` from the resolved files, or next to the first file (a folder may hold more than is listed)."""
        path = files.get(name)
        if path is None and files:
            path = next(iter(files.values())).parent / name
        elif path is None and self.spec.source.local_dir:  # an entry naming only its folder
            path = Path(self.spec.source.local_dir) / name
        if path is None or not path.is_file():
            folder = f" in {path.parent}" if path is not None else ""
            raise MissingFilesError(f"model {self.name!r}: {name} is missing{folder}")
        return path

    def _session(self, path: Path) -> OnnxModel:
        try:
            return runtime.load_session(path, self.spec.device, self.spec.options.get("threads"))
        except Exception as exc:
            raise AnnotatorLoadError(f"model {self.name!r}: cannot load {path.name}: {exc}") from exc

    def unload(self) -> None:
        self._model = None

    @property
    def model(self) -> OnnxModel:
        if self._model is None:
            raise AnnotatorLoadError(f"model {self.name!r} is not loaded")
        return self._model

    @property
    def device(self) -> str:
        return self._model.provider if self._model is not None else "cpu"

    @property
    def memory_estimate_mb(self) -> float:
        return 1.5 * sum(p.stat().st_size for p in self._files.values() if p.is_file()) / 2**20

    # --- pipeline -----------------------------------------------------------------------------------------------
    @abstractmethod
    def preprocess(self, image: Image.Image) -> np.ndarray:
        """One image to one model input row (no batch axis). Raise InvalidImageError for bad images."""

    @abstractmethod
    def postprocess(self, outputs: list[np.ndarray], result: AnnotationResult) -> None:
        """Fill `result` from this image's rows of the model outputs (one array per requested output)."""

    def output_names(self) -> list[str] | None:
        """Outputs to fetch (None: all)."""
        return None

    def prepare(self, images: Sequence[Image.Image]) -> PreparedBatch:
        started = time.perf_counter()
        arrays: list[np.ndarray] = []
        rows: list[int | None] = []
        errors: list[AnnotationError | None] = []
        for image in images:
            try:
                arrays.append(self.preprocess(image))
                rows.append(len(arrays) - 1)
                errors.append(None)
            except InvalidImageError as exc:
                rows.append(None)
                errors.append(AnnotationError(ErrorCode.INVALID_IMAGE, exc.message))
            except Exception as exc:  # anything Pillow raises on a broken image is a per-image failure
                rows.append(None)
                errors.append(AnnotationError(ErrorCode.INVALID_IMAGE, f"cannot preprocess image: {exc}"))
        data = np.stack(arrays) if arrays else None
        return PreparedBatch(data=data, rows=rows, errors=errors, prepare_seconds=time.perf_counter() - started)

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run the session; models with a fixed batch size get slices of it (last one zero-padded)."""
        model = self.model
        names = self.output_names()
        fixed = model.fixed_batch
        if fixed is None or fixed == len(batch):
            return [np.asarray(o) for o in model.run(batch, names)]
        parts: list[list[np.ndarray]] = []
        for start in range(0, len(batch), fixed):
            piece = batch[start : start + fixed]
            real = len(piece)
            if real < fixed:
                pad = np.zeros((fixed - real, *piece.shape[1:]), dtype=piece.dtype)
                piece = np.concatenate([piece, pad])
            parts.append([np.asarray(o)[:real] for o in model.run(piece, names)])
        return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]

    def run_prepared(self, prepared: PreparedBatch, phashes: Sequence[str]) -> list[AnnotationResult]:
        started = time.perf_counter()
        outputs: list[np.ndarray] = [] if prepared.data is None else self.infer(prepared.data)
        count = max(1, len(prepared.rows))
        per_image = (time.perf_counter() - started + prepared.prepare_seconds) / count
        results: list[AnnotationResult] = []
        for row, error in zip(prepared.rows, prepared.errors, strict=True):
            result = AnnotationResult(
                model_name=self.name, framework=FRAMEWORK, device=self.device, processing_time=per_image
            )
            if self.model.fallback:  # say why it is not on the GPU, next to the device that did run it
                result.raw = {"device_fallback": self.model.fallback}
            if row is None:
                result.error = error
            else:
                try:
                    self.postprocess([o[row] for o in outputs], result)
                except Exception as exc:
                    result.error = AnnotationError(ErrorCode.INFERENCE_FAILED, f"{type(exc).__name__}: {exc}")
            results.append(result)
        return results


def option(spec: ModelSpec, key: str, default: Any) -> Any:
    """`spec.options[key]` or `default`."""
    return spec.options.get(key, default)
