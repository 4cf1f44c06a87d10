"""Back-ends whose preprocessing can run ahead of inference.

`annotate()` drives a `PipelinedAnnotator` with a one-thread executor: while `run_prepared()` runs chunk k
(onnxruntime releases the GIL inside `session.run`), `prepare()` decodes and resizes chunk k + 1.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from image_annotator_lib.core.base import BaseAnnotator, ProgressCallback
from image_annotator_lib.core.types import AnnotationError, AnnotationResult


@dataclass(slots=True)
class PreparedBatch:
    """Model inputs for the images of one chunk that could be preprocessed, plus per-image errors.

    `rows[i]` is the index into `data` of image i, or None when `errors[i]` says why it was skipped.
    """

    data: Any
    rows: list[int | None]
    errors: list[AnnotationError | None]
    prepare_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class PipelinedAnnotator(BaseAnnotator):
    """A back-end split into a thread-safe `prepare()` (no session use) and `run_prepared()`."""

    @abstractmethod
    def prepare(self, images: Sequence[Image.Image]) -> PreparedBatch:
        """Preprocess `images`. Must not raise for a bad image (record an error instead)."""

    @abstractmethod
    def run_prepared(self, prepared: PreparedBatch, phashes: Sequence[str]) -> list[AnnotationResult]:
        """Run the model on a prepared chunk; one result per image, in order."""

    def annotate_batch(
        self,
        images: Sequence[Image.Image],
        phashes: Sequence[str],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[AnnotationResult]:
        results = self.run_prepared(self.prepare(images), phashes)
        if progress is not None:
            progress(len(images), len(images), self.name)
        return results
