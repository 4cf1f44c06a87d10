"""WD taggers (SmilingWolf v2/v3 format): `model.onnx` with input [N, H, W, 3] BGR 0..255 + `selected_tags.csv`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from image_annotator_lib.core.errors import AnnotatorLoadError
from image_annotator_lib.core.types import AnnotationResult, ModelSpec
from image_annotator_lib.local.imaging import wd_input
from image_annotator_lib.local.onnx_backend import OnnxAnnotator, option
from image_annotator_lib.local.wd_tags import TagTable, Thresholds, read_tag_csv, select_tags


class WDTagger(OnnxAnnotator):
    """Danbooru tags, categories and rating. Options: see `Thresholds.from_options`, `model_file`, `tags_file`."""

    @classmethod
    def required_files(cls, spec: ModelSpec) -> tuple[str, ...]:
        return (option(spec, "model_file", "model.onnx"), option(spec, "tags_file", "selected_tags.csv"))

    def _load(self, files: dict[str, Path]) -> None:
        model_path = self._file(files, option(self.spec, "model_file", "model.onnx"))
        tags_path = self._file(files, option(self.spec, "tags_file", "selected_tags.csv"))
        self._thresholds = Thresholds.from_options(self.spec.options)
        self._tags: TagTable = read_tag_csv(tags_path)
        model = self._session(model_path)
        shape = model.input_shape
        if len(shape) != 4 or shape[3] != 3:
            raise AnnotatorLoadError(
                f"model {self.name!r}: {model_path.name} input shape {list(shape)} is not [N, H, W, 3] (WD format)"
            )
        height = shape[1] if isinstance(shape[1], int) and shape[1] > 0 else option(self.spec, "image_size", 448)
        self._size = int(height)
        out_shape = model.session.get_outputs()[0].shape
        outputs = out_shape[-1] if out_shape else None
        if isinstance(outputs, int) and outputs != len(self._tags):
            raise AnnotatorLoadError(
                f"model {self.name!r}: {tags_path.name} has {len(self._tags)} tag rows but {model_path.name} "
                f"outputs {outputs} probabilities; the CSV does not belong to this model"
            )
        self._model = model

    @property
    def image_size(self) -> int:
        return self._size

    def output_names(self) -> list[str] | None:
        return [self.model.output_names[0]]

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return wd_input(image, self._size)

    def postprocess(self, outputs: list[np.ndarray], result: AnnotationResult) -> None:
        probs = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        result.tags, result.candidates, result.rating = select_tags(self._tags, probs, self._thresholds)
