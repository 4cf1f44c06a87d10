"""Captioners on transformers + torch (optional extra "captioners"): BLIP and Florence-2.

Nothing here imports torch or transformers at module level: without the extra the models are listed as
"needs extra: captioners" and `load()` raises NeedsExtraError, which `annotate()` turns into per-image results.
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from PIL import Image

from image_annotator_lib.core.base import BaseAnnotator, ProgressCallback
from image_annotator_lib.core.errors import AnnotatorLoadError, InvalidImageError, NeedsExtraError
from image_annotator_lib.core.hints import download_command, extra_install_command
from image_annotator_lib.core.hub import hub_cache_dir, is_offline
from image_annotator_lib.core.status import extra_installed
from image_annotator_lib.core.types import AnnotationError, AnnotationResult, ErrorCode, ModelSpec
from image_annotator_lib.local.imaging import to_rgb

FRAMEWORK = "transformers"


def _import_torch() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise NeedsExtraError(
            f"needs extra: captioners ({extra_install_command('captioners')}); import failed: {exc}"
        ) from exc
    return torch, transformers


class TransformersCaptioner(BaseAnnotator):
    """Shared loading (repo or local folder, offline mode, device, dtype) and per-image error handling."""

    def __init__(self, spec: ModelSpec, *, api_keys: dict[str, str] | None = None) -> None:
        super().__init__(spec, api_keys=api_keys)
        self._model: Any = None
        self._processor: Any = None
        self._device = "cpu"
        self._dtype: Any = None

    @classmethod
    def would_run_on(cls, spec: ModelSpec) -> str:
        if spec.device == "cpu" or not extra_installed(spec.requires_extra or "captioners"):
            return "cpu"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    @classmethod
    def required_files(cls, spec: ModelSpec) -> tuple[str, ...]:
        # Every transformers model folder has its config; the weight file names vary (safetensors shards).
        return ("config.json",)

    def _pretrained_args(self) -> tuple[str, dict[str, Any]]:
        source = self.spec.source
        if source.local_dir:
            return source.local_dir, {"local_files_only": True}
        if not source.repo_id:
            raise AnnotatorLoadError(f"model {self.name!r}: source needs repo_id or local_dir")
        return source.repo_id, {
            "revision": source.revision or None,
            "cache_dir": hub_cache_dir(),
            "local_files_only": is_offline(),
        }

    def load(self) -> None:
        torch, transformers = _import_torch()
        use_cuda = self.spec.device != "cpu" and torch.cuda.is_available()
        self._device = "cuda:0" if use_cuda else "cpu"
        self._dtype = torch.float16 if use_cuda else torch.float32
        name_or_path, kwargs = self._pretrained_args()
        try:
            self._processor, self._model = self._load_model(transformers, name_or_path, kwargs)
        except OSError as exc:  # transformers reports missing files / offline cache misses as OSError
            from image_annotator_lib.core.errors import MissingFilesError

            raise MissingFilesError(f"model {self.name!r}: {exc}; get it with `{download_command(self.name)}`") from exc
        self._model.to(self._device, dtype=self._dtype).eval()

    @abstractmethod
    def _load_model(self, transformers: Any, name_or_path: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
        """(processor, model) from_pretrained."""

    @abstractmethod
    def _caption(self, images: list[Image.Image]) -> list[str]:
        """Captions for RGB images, in order."""

    def unload(self) -> None:
        self._model = None
        self._processor = None

    @property
    def device(self) -> str:
        return self._device

    def annotate_batch(
        self,
        images: Sequence[Image.Image],
        phashes: Sequence[str],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[AnnotationResult]:
        started = time.perf_counter()
        results = [AnnotationResult(self.name, framework=FRAMEWORK, device=self._device) for _ in images]
        good: list[tuple[int, Image.Image]] = []
        for index, image in enumerate(images):
            try:
                good.append((index, to_rgb(image)))
            except InvalidImageError as exc:
                results[index].error = AnnotationError(ErrorCode.INVALID_IMAGE, exc.message)
        if good:
            captions = self._caption([image for _, image in good])
            for (index, _), caption in zip(good, captions, strict=True):
                results[index].caption = caption.strip()
        per_image = (time.perf_counter() - started) / max(1, len(images))
        for result in results:
            result.processing_time = per_image
        return results


class BlipCaptioner(TransformersCaptioner):
    """Salesforce BLIP image captioning. Options: max_new_tokens (60), num_beams (3)."""

    def _load_model(self, transformers: Any, name_or_path: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
        processor = transformers.BlipProcessor.from_pretrained(name_or_path, **kwargs)
        model = transformers.BlipForConditionalGeneration.from_pretrained(name_or_path, **kwargs)
        return processor, model

    def _caption(self, images: list[Image.Image]) -> list[str]:
        import torch

        inputs = self._processor(images=images, return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self._device, dtype=self._dtype)
        with torch.inference_mode():
            output = self._model.generate(
                pixel_values=pixel_values,
                max_new_tokens=int(self.spec.options.get("max_new_tokens", 60)),
                num_beams=int(self.spec.options.get("num_beams", 3)),
            )
        return [str(text) for text in self._processor.batch_decode(output, skip_special_tokens=True)]


class Florence2Captioner(TransformersCaptioner):
    """Microsoft Florence-2 (remote code). Options: task ("<MORE_DETAILED_CAPTION>"), max_new_tokens, num_beams."""

    def _load_model(self, transformers: Any, name_or_path: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
        processor = transformers.AutoProcessor.from_pretrained(name_or_path, trust_remote_code=True, **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(name_or_path, trust_remote_code=True, **kwargs)
        return processor, model

    def _caption(self, images: list[Image.Image]) -> list[str]:
        import torch

        task = str(self.spec.options.get("task", "<MORE_DETAILED_CAPTION>"))
        inputs = self._processor(text=[task] * len(images), images=images, return_tensors="pt")
        with torch.inference_mode():
            generated = self._model.generate(
                input_ids=inputs["input_ids"].to(self._device),
                pixel_values=inputs["pixel_values"].to(self._device, dtype=self._dtype),
                max_new_tokens=int(self.spec.options.get("max_new_tokens", 256)),
                num_beams=int(self.spec.options.get("num_beams", 3)),
            )
        texts = self._processor.batch_decode(generated, skip_special_tokens=False)
        captions = []
        for text, image in zip(texts, images, strict=True):
            parsed = self._processor.post_process_generation(text, task=task, image_size=image.size)
            captions.append(str(parsed.get(task, text)))
        return captions
