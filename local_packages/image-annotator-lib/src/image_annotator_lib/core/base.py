"""The base class every back-end implements. `annotate()` drives back-ends only through this interface."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from PIL import Image

from image_annotator_lib.core.types import AnnotationResult, ModelSpec

# progress(done, total, message)
ProgressCallback = Callable[[int, int, str], None]


class BaseAnnotator(ABC):
    """One loaded model. Not thread-safe: one batch at a time per instance.

    Lifecycle: construct (cheap, no heavy imports) -> `load()` (files, sessions, clients) -> `annotate_batch()`
    any number of times -> `unload()`. A failure in `load()` raises `AnnotatorLoadError` (or a subclass
    carrying an ErrorCode); `annotate_batch()` must not raise for a bad image: it returns a result with `error`.
    """

    def __init__(self, spec: ModelSpec, *, api_keys: dict[str, str] | None = None) -> None:
        self.spec = spec
        self._api_keys = dict(api_keys or {})

    @property
    def name(self) -> str:
        return self.spec.name

    @abstractmethod
    def load(self) -> None:
        """Load weights / create clients. May download files (huggingface_hub cache)."""

    @abstractmethod
    def annotate_batch(
        self,
        images: Sequence[Image.Image],
        phashes: Sequence[str],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[AnnotationResult]:
        """Return exactly one result per input image, in order."""

    def unload(self) -> None:  # noqa: B027 - optional hook, most back-ends just drop references
        """Release memory (sessions, clients)."""

    @property
    def device(self) -> str:
        """The device / execution provider actually in use after `load()` ("cloud" for cloud models)."""
        return "cpu"

    @property
    def memory_estimate_mb(self) -> float:
        """Rough resident size once loaded, used by the model cache's LRU eviction."""
        return 0.0
