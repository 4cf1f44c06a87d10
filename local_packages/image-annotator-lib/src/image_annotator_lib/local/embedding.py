"""CLIP / SigLIP embedding models: an ONNX vision tower for images, an ONNX text tower + tokenizer for text.

The layout is that of the ONNX exports published for transformers.js (e.g. `Xenova/clip-vit-base-patch32`,
`Xenova/siglip-base-patch16-224`): `onnx/vision_model.onnx`, `onnx/text_model.onnx` and `tokenizer.json`.
Images go through the same pipelined batching and execution-provider choice as every other ONNX back-end; the
result carries `embedding` (float32, L2-normalised) and nothing else. Text is encoded on demand by
`embed_text()` (the text tower is loaded on its first use, so image-only runs never pay for it).

Options: `preprocess` ("clip" | "siglip"), `image_size`, `tower_file`, `embedding_output` (CLIP: image_embeds,
SigLIP: pooler_output), `text_file`, `text_output` (CLIP: text_embeds, SigLIP: pooler_output),
`tokenizer_file`, `max_length` (CLIP 77, SigLIP 64), `pad_to_max_length` (SigLIP was trained on texts padded to
64 tokens: true for it), `pad_id` (default: the tokenizer's pad token, else 0).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from image_annotator_lib.core.errors import AnnotatorLoadError
from image_annotator_lib.core.types import AnnotationResult
from image_annotator_lib.local.imaging import PREPROCESSORS
from image_annotator_lib.local.onnx_backend import OnnxAnnotator, option
from image_annotator_lib.local.runtime import OnnxModel

_DEFAULTS = {
    "clip": {"size": 224, "image_output": "image_embeds", "text_output": "text_embeds", "max_length": 77},
    "siglip": {"size": 384, "image_output": "pooler_output", "text_output": "pooler_output", "max_length": 64},
}


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


def pick_output(model: OnnxModel, wanted: str | None, model_name: str, file_name: str) -> str:
    """The output to read: `wanted` when the file has it, else the file's first output when none was asked for."""
    if wanted is None:
        return model.output_names[0]
    if wanted not in model.output_names:
        raise AnnotatorLoadError(
            f"model {model_name!r}: {file_name} has no output {wanted!r} (outputs: {', '.join(model.output_names)})"
        )
    return wanted


class ClipEmbedder(OnnxAnnotator):
    """Image embeddings through a CLIP / SigLIP vision tower; `embed_text()` through its text tower."""

    def _load(self, files: dict[str, Path]) -> None:
        spec = self.spec
        kind = option(spec, "preprocess", "clip")
        if kind not in _DEFAULTS:
            raise AnnotatorLoadError(f"model {self.name!r}: option 'preprocess' must be clip or siglip, got {kind!r}")
        defaults = _DEFAULTS[kind]
        self._kind = kind
        self._preprocess = PREPROCESSORS[kind]
        tower = self._file(files, option(spec, "tower_file", "onnx/vision_model.onnx"))
        model = self._session(tower)
        shape = model.input_shape
        size = shape[2] if len(shape) == 4 and isinstance(shape[2], int) and shape[2] > 0 else None
        self._size = int(size or option(spec, "image_size", defaults["size"]))
        self._output = pick_output(
            model, option(spec, "embedding_output", defaults["image_output"]), self.name, tower.name
        )
        self._files_seen = files
        self._text: tuple[OnnxModel, Any, str] | None = None
        self._text_lock = threading.Lock()
        self._model = model

    def output_names(self) -> list[str] | None:
        return [self._output]

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return self._preprocess(image, self._size)

    def postprocess(self, outputs: list[np.ndarray], result: AnnotationResult) -> None:
        result.embedding = l2_normalise(np.asarray(outputs[0], dtype=np.float32).reshape(-1))

    # --- text ---------------------------------------------------------------------------------------------

    def _text_tower(self) -> tuple[OnnxModel, Any, str]:
        """The text session, tokenizer and output name, loaded once (thread-safe)."""
        with self._text_lock:
            if self._text is None:
                spec = self.spec
                text_file = self._file(self._files_seen, option(spec, "text_file", "onnx/text_model.onnx"))
                tokenizer_file = self._file(self._files_seen, option(spec, "tokenizer_file", "tokenizer.json"))
                try:
                    from tokenizers import Tokenizer

                    tokenizer = Tokenizer.from_file(str(tokenizer_file))
                except Exception as exc:
                    raise AnnotatorLoadError(f"model {self.name!r}: cannot read {tokenizer_file.name}: {exc}") from exc
                session = self._session(text_file)
                wanted = option(spec, "text_output", _DEFAULTS[self._kind]["text_output"])
                self._text = (session, tokenizer, pick_output(session, wanted, self.name, text_file.name))
            return self._text

    def _token_ids(self, tokenizer: Any, text: str) -> tuple[list[int], int]:
        """Token ids of `text`, truncated (keeping the final end token) and padded as the model expects."""
        spec = self.spec
        max_length = int(option(spec, "max_length", _DEFAULTS[self._kind]["max_length"]))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        ids = list(tokenizer.encode(text).ids)
        if len(ids) > max_length:
            ids = [*ids[: max_length - 1], ids[-1]]  # the last id is the end token the pooling reads
        real = len(ids)
        if option(spec, "pad_to_max_length", self._kind == "siglip"):
            pad = option(spec, "pad_id", None)
            if pad is None:
                padding = tokenizer.padding or {}
                pad = padding.get("pad_id", 0) if isinstance(padding, dict) else 0
            ids += [int(pad)] * (max_length - real)
        return ids, real

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised float32 row per text (encoded one by one: queries are short and few)."""
        session, tokenizer, output = self._text_tower()
        inputs = {i.name for i in session.session.get_inputs()}
        rows: list[np.ndarray] = []
        for text in texts:
            ids, real = self._token_ids(tokenizer, text)
            feed: dict[str, np.ndarray] = {"input_ids": np.asarray([ids], dtype=np.int64)}
            if "attention_mask" in inputs:
                feed["attention_mask"] = np.asarray([[1] * real + [0] * (len(ids) - real)], dtype=np.int64)
            if "position_ids" in inputs:
                feed["position_ids"] = np.arange(len(ids), dtype=np.int64)[None, :]
            unknown = inputs - feed.keys()
            if unknown:
                raise AnnotatorLoadError(f"model {self.name!r}: text tower wants unknown inputs {sorted(unknown)}")
            out = session.session.run([output], feed)[0]
            rows.append(np.asarray(out, dtype=np.float32).reshape(-1))
        return l2_normalise(np.stack(rows)) if rows else np.zeros((0, 0), np.float32)

    def unload(self) -> None:
        super().unload()
        self._text = None
