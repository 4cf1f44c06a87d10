"""Typed exceptions of the library. Each carries the `ErrorCode` it becomes in an `AnnotationResult`.

`annotate()` turns any exception with a `code` attribute of type `ErrorCode` into a per-image result with that
code, so back-ends (local or cloud) can define their own exception classes without importing these.
"""

from __future__ import annotations

from image_annotator_lib.core.types import AnnotationError, ErrorCode


class AnnotatorError(Exception):
    """Base of the library's errors. `code` says what the failure becomes in a result."""

    code: ErrorCode = ErrorCode.INFERENCE_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_annotation_error(self) -> AnnotationError:
        """The per-image error record."""
        return AnnotationError(code=self.code, message=self.message)


class RegistryError(AnnotatorError, ValueError):
    """A model configuration file or entry is invalid (the message names the file and the field)."""

    code = ErrorCode.LOAD_FAILED


class ModelNotFoundError(AnnotatorError, KeyError):
    """No model of that name is registered."""

    code = ErrorCode.MODEL_NOT_FOUND

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class AnnotatorLoadError(AnnotatorError):
    """A model could not be loaded (bad file, incompatible model, back-end import failed)."""

    code = ErrorCode.LOAD_FAILED


class MissingFilesError(AnnotatorLoadError):
    """Model files are not on disk (and could not or may not be downloaded)."""

    code = ErrorCode.MISSING_FILES


class NeedsExtraError(AnnotatorLoadError):
    """The model needs an optional dependency group that is not installed."""

    code = ErrorCode.NEEDS_EXTRA


class NeedsApiKeyError(AnnotatorLoadError):
    """A cloud model has no API key."""

    code = ErrorCode.NEEDS_API_KEY


class InvalidImageError(AnnotatorError):
    """One image cannot be read or converted (the message says why)."""

    code = ErrorCode.INVALID_IMAGE


def error_from_exception(exc: BaseException) -> AnnotationError:
    """Map any exception to an `AnnotationError`: typed ones keep their code, MemoryError is OUT_OF_MEMORY."""
    code = getattr(exc, "code", None)
    if isinstance(code, ErrorCode):
        to_error = getattr(exc, "to_annotation_error", None)
        if callable(to_error):
            try:
                result = to_error()
            except TypeError:
                result = None
            if isinstance(result, AnnotationError):
                return result
        return AnnotationError(code=code, message=str(exc) or type(exc).__name__)
    text = str(exc).lower()
    if isinstance(exc, MemoryError) or any(s in text for s in ("out of memory", "bad_alloc", "failed to allocate")):
        return AnnotationError(ErrorCode.OUT_OF_MEMORY, f"out of memory: {exc}".strip())
    return AnnotationError(ErrorCode.INFERENCE_FAILED, f"{type(exc).__name__}: {exc}")
