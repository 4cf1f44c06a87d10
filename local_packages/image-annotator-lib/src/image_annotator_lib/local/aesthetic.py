"""Aesthetic scorers: an ONNX vision tower's embedding, L2-normalised, through a linear MLP head (numpy).

v2 (LAION improved aesthetic predictor): CLIP ViT-L/14 projected image embedding (768) -> 1024-128-64-16-1.
v2.5: SigLIP so400m-patch14-384 pooler output (1152) -> 1024-128-64-16-1. Each writes its own score name with
its scale (Score(value, 1, 10)); the two are never mixed. Options: preprocess ("clip" | "siglip"), image_size,
tower_file, embedding_output, head_file, head_prefix, score_name, scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from image_annotator_lib.core.errors import AnnotatorLoadError
from image_annotator_lib.core.types import AnnotationResult, ModelSpec, Score
from image_annotator_lib.local.imaging import PREPROCESSORS
from image_annotator_lib.local.onnx_backend import OnnxAnnotator, option
from image_annotator_lib.local.weights import LinearStack, read_arrays


class AestheticScorer(OnnxAnnotator):
    """One aesthetic score per image on the scale named in the spec."""

    @classmethod
    def required_files(cls, spec: ModelSpec) -> tuple[str, ...]:
        tower = option(spec, "tower_file", spec.source.files[0] if spec.source.files else "")
        return tuple(f for f in (tower, option(spec, "head_file", "head.npz")) if f)

    def _load(self, files: dict[str, Path]) -> None:
        spec = self.spec
        kind = option(spec, "preprocess", "clip")
        if kind not in ("clip", "siglip"):
            raise AnnotatorLoadError(f"model {self.name!r}: option 'preprocess' must be clip or siglip, got {kind!r}")
        self._preprocess = PREPROCESSORS[kind]
        tower = self._file(files, option(spec, "tower_file", spec.source.files[0] if spec.source.files else ""))
        head_path = self._file(files, option(spec, "head_file", "head.npz"))
        prefix = option(spec, "head_prefix", "layers.")
        arrays = read_arrays(head_path, keep=lambda k: k.startswith(prefix))
        self._head = LinearStack.from_arrays(arrays, prefix, head_path.name)
        if self._head.out_features != 1:
            raise AnnotatorLoadError(f"model {self.name!r}: head in {head_path.name} outputs {self._head.out_features}")
        scale = option(spec, "scale", [1.0, 10.0])
        self._scale = (float(scale[0]), float(scale[1]))
        self._score_name = str(option(spec, "score_name", spec.name))
        model = self._session(tower)
        shape = model.input_shape
        default_size = 384 if kind == "siglip" else 224
        size = shape[2] if len(shape) == 4 and isinstance(shape[2], int) and shape[2] > 0 else None
        self._size = int(size or option(spec, "image_size", default_size))
        wanted = option(spec, "embedding_output", None)
        if wanted is None:
            wanted = model.output_names[0]
        elif wanted not in model.output_names:
            raise AnnotatorLoadError(
                f"model {self.name!r}: {tower.name} has no output {wanted!r} (outputs: {', '.join(model.output_names)})"
            )
        self._output = str(wanted)
        out_shape = next(o.shape for o in model.session.get_outputs() if o.name == self._output)
        width = out_shape[-1] if out_shape else None
        if isinstance(width, int) and width != self._head.in_features:
            raise AnnotatorLoadError(
                f"model {self.name!r}: {tower.name} output {self._output} has {width} features, "
                f"head {head_path.name} expects {self._head.in_features}"
            )
        self._model = model

    def output_names(self) -> list[str] | None:
        return [self._output]

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return self._preprocess(image, self._size)

    def postprocess(self, outputs: list[np.ndarray], result: AnnotationResult) -> None:
        embedding = np.array(outputs[0], dtype=np.float32).reshape(-1)  # a copy: the result keeps it
        norm = float(np.linalg.norm(embedding))
        # L2-normalisation is what the heads were trained on; without it scores land around 20-30.
        embedding = embedding / norm if norm > 0 else embedding
        value = float(self._head(embedding[None, :])[0, 0])
        result.scores[self._score_name] = Score(value, *self._scale)
        result.embedding = embedding  # the tower's embedding, kept: scoring and embedding cost one forward pass
