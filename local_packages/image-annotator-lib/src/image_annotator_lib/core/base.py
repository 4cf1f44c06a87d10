"""The base class every back-end implements. `annotate()` drives back-ends only through this interface."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

from PIL import Image

from image_annotator_lib.core.types import AnnotationResult, ModelSpec, ModelStatus

# progress(done, total, message)
ProgressCallback = Callable[[int, int, str], None]
# on_result(index within the batch, result): a result handed over the moment it is final (see `streams_results`)
ChunkResultCallback = Callable[[int, AnnotationResult], None]


class BaseAnnotator(ABC):
    """One loaded model. Not thread-safe: one batch at a time per instance.

    Lifecycle: construct (cheap, no heavy imports) -> `load()` (files, sessions, clients) -> `annotate_batch()`
    any number of times -> `unload()`. A failure in `load()` raises `AnnotatorLoadError` (or a subclass
    carrying an ErrorCode); `annotate_batch()` must not raise for a bad image: it returns a result with `error`.
    Back-ends whose results arrive one by one (cloud requests) set `streams_results` and accept an
    `on_result` keyword in `annotate_batch()`: each result is handed over as soon as it is final, so a caller
    can store paid answers before the batch ends.
    """

    streams_results: ClassVar[bool] = False

    def __init__(self, spec: ModelSpec, *, api_keys: dict[str, str] | None = None) -> None:
        self.spec = spec
        self._api_keys = dict(api_keys or {})

    @classmethod
    def status(cls, spec: ModelSpec, api_keys: dict[str, str] | None = None) -> ModelStatus:
        """What `list_available_models()` reports for `spec`, without loading the model.

        The default suits local models: optional extra importable, files on disk (local folder, package or the
        Hugging Face cache; no network), and the device it would run on. Cloud back-ends override it (API key).
        """
        # Imported here: core.status pulls in the hub helpers, which base.py users should not pay for.
        from image_annotator_lib.core.status import extra_installed, local_status

        device = cls.would_run_on(spec) if extra_installed(spec.requires_extra) else "cpu"
        return local_status(spec, device=device, required=cls.required_files(spec))

    @classmethod
    def required_files(cls, spec: ModelSpec) -> tuple[str, ...]:
        """Files `load()` reads from a `local_dir`, besides those the entry lists (checked by `status()`)."""
        return ()

    @classmethod
    def would_run_on(cls, spec: ModelSpec) -> str:
        """Where `spec` would run if loaded now ("cpu", "cuda", "cloud"); back-ends probe their runtime."""
        return "cpu"

    @classmethod
    def estimate_load_mb(cls, spec: ModelSpec) -> float:
        """Memory a load of `spec` will need, before loading (the cache evicts to make room). Default: 0."""
        return 0.0

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
