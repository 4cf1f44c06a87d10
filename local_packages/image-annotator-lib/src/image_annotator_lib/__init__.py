"""image-annotator-lib: one `annotate()` over local (ONNX, transformers) and cloud vision models.

Importing the package is cheap: onnxruntime, transformers and the cloud SDKs are imported only when a model
that needs them is loaded.
"""

from __future__ import annotations

import logging

from image_annotator_lib.api import annotate, download_model, embed_text, list_available_models, model_status
from image_annotator_lib.core.base import BaseAnnotator
from image_annotator_lib.core.cache import get_model_cache
from image_annotator_lib.core.errors import (
    AnnotatorError,
    AnnotatorLoadError,
    InvalidImageError,
    MissingFilesError,
    ModelNotFoundError,
    NeedsApiKeyError,
    NeedsExtraError,
    RegistryError,
)
from image_annotator_lib.core.hints import set_download_command, set_extra_install_command
from image_annotator_lib.core.registry import (
    get_registry,
    register_backend,
    register_model,
    register_model_file,
    reload_registry,
)
from image_annotator_lib.core.types import (
    AnnotationError,
    AnnotationResult,
    ErrorCode,
    ModelKind,
    ModelSource,
    ModelSpec,
    ModelStatus,
    PHashAnnotationResults,
    RatingPrediction,
    Score,
    TagPrediction,
)

# A library only emits records; the application decides where they go.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "AnnotationError",
    "AnnotationResult",
    "AnnotatorError",
    "AnnotatorLoadError",
    "BaseAnnotator",
    "ErrorCode",
    "InvalidImageError",
    "MissingFilesError",
    "ModelKind",
    "ModelNotFoundError",
    "ModelSource",
    "ModelSpec",
    "ModelStatus",
    "NeedsApiKeyError",
    "NeedsExtraError",
    "PHashAnnotationResults",
    "RatingPrediction",
    "RegistryError",
    "Score",
    "TagPrediction",
    "annotate",
    "download_model",
    "embed_text",
    "get_model_cache",
    "get_registry",
    "list_available_models",
    "model_status",
    "register_backend",
    "register_model",
    "register_model_file",
    "reload_registry",
    "set_download_command",
    "set_extra_install_command",
]
