"""Result and model-description types shared by local and cloud back-ends.

Everything here is plain data (frozen dataclasses where possible) so results can cross threads and processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import numpy as np


class ModelKind(StrEnum):
    """What a model produces. Cloud vision models produce everything at once."""

    TAGGER = "tagger"
    SCORER = "scorer"
    RATING = "rating"
    CAPTIONER = "captioner"
    EMBEDDING = "embedding"  # an image (and text) embedding, e.g. a CLIP / SigLIP tower
    CLOUD = "cloud"
    MATTE = "matte"  # background removal: a greyscale foreground matte per image (AnnotationResult.matte)


class ErrorCode(StrEnum):
    """Why a model produced no result for an image. Stable strings: the app stores them."""

    MODEL_NOT_FOUND = "model_not_found"
    MISSING_FILES = "missing_files"
    NEEDS_EXTRA = "needs_extra"
    NEEDS_API_KEY = "needs_api_key"
    LOAD_FAILED = "load_failed"
    OUT_OF_MEMORY = "out_of_memory"
    INVALID_IMAGE = "invalid_image"
    INFERENCE_FAILED = "inference_failed"
    CANCELLED = "cancelled"
    AUTHENTICATION = "authentication"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    PROVIDER_ERROR = "provider_error"
    POLICY_VIOLATION = "policy_violation"
    MALFORMED_RESPONSE = "malformed_response"


@dataclass(frozen=True, slots=True)
class TagPrediction:
    """One tag. `name` uses the model's own spelling (WD: underscores). `confidence` is None for cloud tags."""

    name: str
    category: str  # "general", "character", "copyright", "artist", "meta", "rating", ...
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Score:
    """A numeric score with the scale it lives on, so scores of different models are never mixed up."""

    value: float
    scale_min: float
    scale_max: float


@dataclass(frozen=True, slots=True)
class RatingPrediction:
    """A content rating: the chosen label and, where the model gives them, the per-label probabilities."""

    label: str  # WD: "general" | "sensitive" | "questionable" | "explicit"; open-nsfw: "sfw" | "nsfw"
    probabilities: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnnotationError:
    """A typed failure for one image and one model. Never carries an API key."""

    code: ErrorCode
    message: str
    raw_text: str | None = None  # e.g. the malformed JSON a cloud model returned

    @property
    def is_policy_violation(self) -> bool:
        return self.code is ErrorCode.POLICY_VIOLATION


@dataclass(slots=True)
class AnnotationResult:
    """What one model said about one image (or why it could not).

    `tags` are the tags selected by the model's thresholds; `candidates` keeps every tag with a probability
    >= the keep floor (0.1 for WD taggers) so a caller can re-threshold without re-running the model.
    """

    model_name: str
    tags: list[TagPrediction] = field(default_factory=list)
    candidates: list[TagPrediction] = field(default_factory=list)
    caption: str | None = None
    scores: dict[str, Score] = field(default_factory=dict)
    rating: RatingPrediction | None = None
    processing_time: float = 0.0  # seconds spent on this image (batch time / batch size for batched models)
    framework: str = ""  # "onnxruntime", "transformers", "openai", "anthropic", "google", ...
    device: str = ""  # what actually ran it: "CPUExecutionProvider", "CUDAExecutionProvider", "cuda:0", "cloud"
    error: AnnotationError | None = None
    raw: dict[str, Any] | None = None  # provider response metadata worth keeping (ids, usage); never secrets
    # The image embedding (1-D float32 numpy array, L2-normalised) from embedding models and from the aesthetic
    # scorers, whose CLIP / SigLIP tower computes it anyway: one forward pass gives both the score and this.
    embedding: Any = None
    # Matte models: uint8 H x W at the input image's upright size, 255 = foreground (the subject to train on).
    matte: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# Results keyed by image pHash, then by model name (the seed's name for the type).
PHashAnnotationResults: TypeAlias = dict[str, dict[str, AnnotationResult]]


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where a model's files come from: a Hugging Face repo (+ revision) or a local folder, or a package."""

    repo_id: str | None = None
    revision: str | None = None
    files: tuple[str, ...] = ()
    local_dir: str | None = None
    package: str | None = None  # a Python package that ships the weights (open-nsfw)
    # More repos a model needs files from (e.g. an aesthetic scorer's ONNX tower and its MLP head). With
    # `local_dir` set on the main source, every file (these included) is looked up in that one folder.
    extra_sources: tuple[ModelSource, ...] = ()

    def all_files(self) -> tuple[str, ...]:
        """File names of this source and its extra sources, in order."""
        return self.files + tuple(f for extra in self.extra_sources for f in extra.files)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One registry entry, read from annotator_config.toml / available_api_models.toml or a user file.

    `framework` selects the back-end class; `options` holds back-end specific settings (thresholds, image
    size, prompt, price, rate limits, ...) so the registry does not need to know every back-end.
    """

    name: str
    kind: ModelKind
    framework: str
    source: ModelSource = field(default_factory=ModelSource)
    batch_size: int = 8
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    requires_extra: str | None = None  # optional-dependency group this model needs, e.g. "captioners"
    provider: str | None = None  # cloud provider: "openai" | "anthropic" | "google" | "openai-compatible"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What `list_available_models()` says about one model."""

    name: str
    kind: ModelKind
    framework: str
    installed: bool  # files present (or nothing to download) and dependencies importable
    available: bool  # can run now (installed, extra present, API key present)
    # human-readable: "files: model.onnx (run ... download)", "extra: captioners", "API key: openai"
    needs: tuple[str, ...] = ()
    device: str = "cpu"  # where it would run: "cpu", "cuda", "cloud"
    provider: str | None = None
