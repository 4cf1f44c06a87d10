"""Background removal (matte models): RMBG-1.4 and BiRefNet ONNX exports -> a greyscale matte per image.

The preprocessing is each published export's own, chosen by options (defaults are RMBG-1.4's):

- RMBG-1.4 (briaai/RMBG-1.4 `onnx/model.onnx`; its `preprocessor_config.json` and model-card `preprocess_image` /
  `postprocess_image`): RGB resized to 1024 x 1024 bilinear, /255, mean 0.5, std 1.0; the first output's single
  channel is resized back to the image bilinear, then min-max normalised to 0..1 and scaled to 0..255.
- BiRefNet (onnx-community/BiRefNet_lite-ONNX `onnx/model.onnx`, ZhengPeng7 exports): RGB resized to 1024 x 1024
  bilinear, /255, ImageNet mean/std; the last output holds logits, so a sigmoid gives the matte, resized back.

Options: image_size (used when the model's input size is symbolic), mean, std (per channel, on 0..1 pixels),
output ("first" | "last" | an output name), activation ("none" | "sigmoid"), rescale ("minmax" | "clip"),
model_file. Result: `AnnotationResult.matte`, uint8 H x W at the input image's upright size (EXIF orientation
applied, as `to_rgb()` does), 255 = foreground.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from image_annotator_lib.core.errors import AnnotatorLoadError
from image_annotator_lib.core.pipeline import PreparedBatch
from image_annotator_lib.core.types import AnnotationResult, ModelSpec
from image_annotator_lib.local.imaging import to_rgb
from image_annotator_lib.local.onnx_backend import OnnxAnnotator, option

_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
_ACTIVATIONS = ("none", "sigmoid")
_RESCALES = ("minmax", "clip")


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) once EXIF orientation is applied, without decoding the pixels."""
    width, height = image.size
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # unreadable EXIF: the image is used as stored, as to_rgb() would
        orientation = 1
    return (height, width) if orientation in _SWAPS_SIDES else (width, height)


def _triple(spec: ModelSpec, key: str, default: float) -> np.ndarray:
    value = option(spec, key, [default] * 3)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = [value] * 3
    if not isinstance(value, list) or len(value) != 3 or not all(isinstance(v, int | float) for v in value):
        raise AnnotatorLoadError(f"model {spec.name!r}: option {key!r} must be 3 numbers, got {value!r}")
    array = np.asarray(value, dtype=np.float32)
    if key == "std" and np.any(array == 0):
        raise AnnotatorLoadError(f"model {spec.name!r}: option 'std' must not contain 0")
    return array


def to_uint8(matte: np.ndarray, size: tuple[int, int], *, rescale: str) -> np.ndarray:
    """A float matte (H' x W') resized bilinear to `size` (w, h), then scaled to uint8 as the references do.

    "minmax": (x - min) / (max - min) after the resize (RMBG-1.4's postprocess_image; a flat matte becomes its
    clipped value instead of a division by zero). "clip": values already in 0..1 (a sigmoid's), clipped.
    Both truncate x * 255 to an integer, like the reference `(result * 255).astype(np.uint8)`.
    """
    plane = Image.fromarray(np.ascontiguousarray(matte, dtype=np.float32), mode="F")
    if plane.size != size:
        plane = plane.resize(size, Image.Resampling.BILINEAR)
    values = np.asarray(plane, dtype=np.float32)
    if rescale == "minmax":
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        if high > low:
            values = (values - low) / (high - low)
    return (np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


class BackgroundRemover(OnnxAnnotator):
    """One foreground matte per image from a single-channel segmentation ONNX model."""

    @classmethod
    def required_files(cls, spec: ModelSpec) -> tuple[str, ...]:
        return (option(spec, "model_file", spec.source.files[0] if spec.source.files else "model.onnx"),)

    def _load(self, files: dict[str, Path]) -> None:
        spec = self.spec
        self._mean = _triple(spec, "mean", 0.5)
        self._std = _triple(spec, "std", 1.0)
        self._activation = str(option(spec, "activation", "none"))
        self._rescale = str(option(spec, "rescale", "minmax"))
        if self._activation not in _ACTIVATIONS:
            raise AnnotatorLoadError(f"model {self.name!r}: option 'activation' must be none or sigmoid")
        if self._rescale not in _RESCALES:
            raise AnnotatorLoadError(f"model {self.name!r}: option 'rescale' must be minmax or clip")
        path = self._file(files, self.required_files(spec)[0])
        model = self._session(path)
        shape = model.input_shape
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise AnnotatorLoadError(f"model {self.name!r}: {path.name} input {list(shape)} is not N x 3 x H x W")
        fixed = [d for d in shape[2:] if isinstance(d, int) and d > 0]
        size = option(spec, "image_size", 1024)
        self._size = (int(fixed[1]), int(fixed[0])) if len(fixed) == 2 else (int(size), int(size))
        wanted = option(spec, "output", "first")
        if wanted == "first":
            self._output = model.output_names[0]
        elif wanted == "last":  # BiRefNet exports list the side outputs first; the final matte comes last
            self._output = model.output_names[-1]
        elif wanted in model.output_names:
            self._output = str(wanted)
        else:
            raise AnnotatorLoadError(
                f"model {self.name!r}: {path.name} has no output {wanted!r} (outputs: {', '.join(model.output_names)})"
            )
        self._model = model
        self._sizes: Iterator[tuple[int, int]] = iter(())

    def output_names(self) -> list[str] | None:
        return [self._output]

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """(3, H, W) float32: RGB on white, resized bilinear to the model input, /255, (x - mean) / std."""
        rgb = to_rgb(image)
        if rgb.size != self._size:
            rgb = rgb.resize(self._size, Image.Resampling.BILINEAR)
        arr = (np.asarray(rgb, dtype=np.float32) / 255.0 - self._mean) / self._std
        return np.ascontiguousarray(arr.transpose(2, 0, 1))

    def prepare(self, images: Sequence[Image.Image]) -> PreparedBatch:
        prepared = super().prepare(images)
        # The matte goes back to each image's own size: remember it now (to_rgb may shrink gigapixel scans).
        prepared.extra["sizes"] = [upright_size(image) for image in images]
        return prepared

    def run_prepared(self, prepared: PreparedBatch, phashes: Sequence[str]) -> list[AnnotationResult]:
        sizes = prepared.extra["sizes"]
        # postprocess() runs once per preprocessed image, in order: it takes the next size from this iterator.
        self._sizes = iter([size for size, row in zip(sizes, prepared.rows, strict=True) if row is not None])
        return super().run_prepared(prepared, phashes)

    def postprocess(self, outputs: list[np.ndarray], result: AnnotationResult) -> None:
        size = next(self._sizes)
        matte = np.asarray(outputs[0], dtype=np.float32)
        while matte.ndim > 2:  # (1, H, W) per image: the single channel
            matte = matte[0]
        if matte.ndim != 2:
            raise ValueError(f"output {self._output} has shape {list(np.shape(outputs[0]))}, expected 1 x H x W")
        if self._activation == "sigmoid":
            matte = (1.0 / (1.0 + np.exp(-matte.astype(np.float64)))).astype(np.float32)
        result.matte = to_uint8(matte, size, rescale=self._rescale)
