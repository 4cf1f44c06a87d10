"""The wrapper around image-annotator-lib: the ONLY module of LoRAIro that imports `image_annotator_lib`.

Everything crossing this boundary is converted to LoRAIro's own frozen dataclasses, so services never depend
on the library's types, and library failures become `AiAnnotatorError` with a clear, secret-free message.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger
from PIL import Image

from lorairo.exceptions import LoRAIroException
from lorairo.utils.log import redact

ProgressCallback = Callable[[int, int, str], None]
# on_result(key, output): one model's result for one image, the moment it is final (a cloud answer as it arrives)
ResultCallback = Callable[[str, "ModelOutput"], None]

# Settings of the app's [ai_providers.<provider>] tables handed to the library's cloud models.
_PROVIDER_OPTIONS = ("timeout", "retry_attempts", "rate_limit_requests_per_minute", "max_concurrency")
# Answer size limits: the app's [ai_providers] table, applied to every cloud model (Ollama / LM Studio too).
ANSWER_LIMIT_OPTIONS = ("max_caption_chars", "max_answer_tags", "max_response_bytes")
# What messages tell a LoRAIro user to run (the library's own wording names its module's CLI and package).
DOWNLOAD_COMMAND = "lorairo models download {name}"
EXTRA_INSTALL_COMMAND = "uv sync --extra {extra}"  # how LoRAIro is installed (README)


class AiAnnotatorError(LoRAIroException):
    """The annotation library failed as a whole (not a per-image / per-model failure, which is data)."""


@dataclass(frozen=True)
class AnnotatorModel:
    """One model as the UI and CLI show it."""

    name: str
    kind: str  # tagger / scorer / rating / captioner / cloud
    framework: str
    provider: str | None
    installed: bool
    available: bool
    needs: tuple[str, ...]
    device: str  # cpu / cuda / cloud

    @property
    def is_cloud(self) -> bool:
        return self.kind == "cloud"

    @property
    def provider_name(self) -> str:
        return self.provider or "local"


@dataclass(frozen=True)
class TagOutput:
    name: str
    category: str
    confidence: float | None


@dataclass(frozen=True)
class ScoreOutput:
    name: str
    value: float
    scale_min: float
    scale_max: float


@dataclass(frozen=True)
class ModelOutput:
    """What one model said about one image, or why it could not."""

    model_name: str
    tags: tuple[TagOutput, ...] = ()
    candidates: tuple[TagOutput, ...] = ()
    caption: str | None = None
    scores: tuple[ScoreOutput, ...] = ()
    rating_label: str | None = None
    rating_probabilities: dict[str, float] = field(default_factory=dict)
    processing_time: float = 0.0
    framework: str = ""
    device: str = ""
    error_code: str | None = None
    error_message: str | None = None
    raw_text: str | None = None
    is_policy_violation: bool = False
    raw: dict[str, Any] | None = None
    # L2-normalised float32 vector (numpy) from embedding models and aesthetic scorers; stored in the project's
    # embedding store, never in the database.
    embedding: Any = None

    @property
    def ok(self) -> bool:
        return self.error_code is None


@dataclass(frozen=True)
class ModelEstimate:
    model_name: str
    seconds: float
    usd: float | None  # None where the price is not known (or the model is local and free)
    input_tokens: int = 0
    output_tokens: int = 0


# --- conversion -----------------------------------------------------------------------------------------


def _tag(tag: Any) -> TagOutput:
    return TagOutput(tag.name, tag.category, tag.confidence)


def _convert(result: Any) -> ModelOutput:
    error = result.error
    rating = result.rating
    return ModelOutput(
        model_name=result.model_name,
        tags=tuple(_tag(t) for t in result.tags),
        candidates=tuple(_tag(t) for t in result.candidates),
        caption=result.caption,
        scores=tuple(ScoreOutput(n, s.value, s.scale_min, s.scale_max) for n, s in result.scores.items()),
        rating_label=rating.label if rating else None,
        rating_probabilities=dict(rating.probabilities) if rating else {},
        processing_time=float(result.processing_time or 0.0),
        framework=result.framework,
        device=result.device,
        error_code=str(error.code.value) if error else None,
        error_message=redact(error.message) if error else None,
        raw_text=error.raw_text if error else None,
        is_policy_violation=bool(error and error.is_policy_violation),
        raw=result.raw,
        embedding=getattr(result, "embedding", None),
    )


def _convert_all(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, ModelOutput]]:
    return {key: {name: _convert(r) for name, r in per_model.items()} for key, per_model in results.items()}


def _fail(what: str, exc: Exception) -> AiAnnotatorError:
    return AiAnnotatorError(f"{what}: {redact(str(exc)) or type(exc).__name__}")


# --- registry -----------------------------------------------------------------------------------------


_configured_lock = threading.Lock()
_configured_key: str | None = None


def _configuration_key(provider_settings: dict[str, dict[str, Any]], model_files: Sequence[Path]) -> str:
    """What the registry was built from: provider settings and each model file's identity on disk."""
    files = []
    for path in model_files:
        try:
            stat = path.stat()
            files.append([str(path), stat.st_mtime_ns, stat.st_size])
        except OSError:
            files.append([str(path), None, None])
    return json.dumps([provider_settings, files], sort_keys=True, default=str)


def configure(
    provider_settings: dict[str, dict[str, Any]],
    model_files: Sequence[Path] = (),
    answer_limits: dict[str, int] | None = None,
) -> None:
    """Apply the app's settings to the library: user model files, then per-provider limits and base URLs.

    `provider_settings` maps provider -> the app's `[ai_providers.<provider>]` table; `answer_limits` holds the
    `[ai_providers]` answer size limits for every cloud model. Nothing happens when none changed since the last
    call: rebuilding the registry drops user models for a moment, which a run annotating in another thread
    must never see.
    """
    import image_annotator_lib as lib

    global _configured_key
    lib.set_download_command(DOWNLOAD_COMMAND)
    lib.set_extra_install_command(EXTRA_INSTALL_COMMAND)
    limits = {k: v for k, v in (answer_limits or {}).items() if k in ANSWER_LIMIT_OPTIONS and v}
    key = _configuration_key({**provider_settings, "_limits": limits}, model_files)
    with _configured_lock:
        if key == _configured_key:
            return
        _configured_key = None
        try:
            lib.reload_registry()
            for path in model_files:
                if path.is_file():
                    lib.register_model_file(path)
            for spec in lib.get_registry().specs():
                if spec.kind.value != "cloud":
                    continue
                settings = provider_settings.get(spec.provider or "") or {}
                if not settings and not limits:
                    continue
                options = {**limits, **spec.options}  # a model's own entry may set its own limits
                options.update({k: settings[k] for k in _PROVIDER_OPTIONS if settings.get(k)})
                if settings.get("base_url") and spec.framework != "openai-compatible":
                    options["base_url"] = settings["base_url"]
                lib.register_model(dataclasses.replace(spec, options=options))
        except Exception as exc:
            raise _fail("model configuration", exc) from exc
        _configured_key = key


def get_available_annotator_models(api_keys: dict[str, str] | None = None) -> list[AnnotatorModel]:
    """Every model the library knows, with installed / needs / device. Models needing a missing key are listed
    as unavailable ("needs API key: ..."), never as if they worked."""
    import image_annotator_lib as lib

    try:
        statuses = lib.list_available_models(api_keys=api_keys or {})
    except Exception as exc:
        raise _fail("listing models", exc) from exc
    return [
        AnnotatorModel(
            name=s.name,
            kind=s.kind.value,
            framework=s.framework,
            provider=s.provider,
            installed=s.installed,
            available=s.available,
            needs=tuple(s.needs),
            device=s.device,
        )
        for s in statuses
    ]


def download_model(name: str) -> dict[str, str]:
    """Fetch a model's files into the Hugging Face cache; returns file -> local path."""
    import image_annotator_lib as lib

    try:
        return lib.download_model(name)
    except Exception as exc:
        raise _fail(f"downloading {name}", exc) from exc


# --- annotation ---------------------------------------------------------------------------------------


def call_annotate_library(
    images: list[Image.Image],
    model_names: list[str],
    phash_list: list[str],
    *,
    api_keys: dict[str, str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    on_result: ResultCallback | None = None,
) -> dict[str, dict[str, ModelOutput]]:
    """Run `annotate()`; results keyed by the given keys (pHash), then model name.

    Per-image and per-model failures come back as `ModelOutput.error_code`; only a failure of the library as a
    whole raises `AiAnnotatorError`. `on_result(key, output)` gets every result once, as soon as it is final
    (cloud answers as they arrive, from the library's network thread): the place to store paid work.
    """
    import image_annotator_lib as lib

    def relay(key: str, _model: str, result: Any) -> None:
        assert on_result is not None
        on_result(key, _convert(result))

    try:
        results = lib.annotate(
            images,
            model_names,
            phash_list,
            api_keys=api_keys or {},
            progress=progress,
            cancel=cancel,
            on_result=relay if on_result is not None else None,
        )
    except Exception as exc:
        logger.exception("annotation library failed")
        raise _fail("annotation failed", exc) from exc
    return _convert_all(results)


def embed_text(model_name: str, texts: Sequence[str]) -> Any:
    """Text embeddings (numpy float32 [n, D], L2-normalised) through an embedding model's text tower."""
    import image_annotator_lib as lib

    try:
        return lib.embed_text(model_name, list(texts))
    except Exception as exc:
        raise _fail(f"encoding text with {model_name}", exc) from exc


def estimate_cloud(model_names: Sequence[str], n_images: int, *, batch: bool = False) -> list[ModelEstimate]:
    """Tokens, USD and seconds for the cloud models among `model_names` (local models are not included)."""
    import image_annotator_lib.cloud.estimate as cloud_estimate

    if not model_names or n_images <= 0:
        return []
    try:
        run = cloud_estimate.estimate(list(model_names), n_images, batch=batch)
    except Exception as exc:
        raise _fail("estimating cost", exc) from exc
    return [
        ModelEstimate(m.model_name, float(m.seconds), m.usd, int(m.input_tokens), int(m.output_tokens))
        for m in run.models
    ]


def upright_rgb(image: Image.Image) -> Image.Image:
    """The normalisation every local model applies first (EXIF orientation, bit depth, alpha on white): done
    once where an image is decoded for several models (the Ray engine's CPU stage). Applying it again, as the
    models do, changes nothing, so results equal a local run's. Raises AiAnnotatorError naming the reason."""
    from image_annotator_lib.local.imaging import to_rgb

    try:
        return to_rgb(image)
    except Exception as exc:
        raise _fail("cannot read image", exc) from exc


def set_prompt_context(image: Image.Image, *, file_name: str, existing_tags: Sequence[str]) -> None:
    """Per-image variables of cloud prompt templates ({file_name}, {existing_tags})."""
    from image_annotator_lib.cloud.prompt import set_prompt_context as attach

    attach(image, file_name=file_name, existing_tags=list(existing_tags))


# --- Batch APIs ---------------------------------------------------------------------------------------


def submit_batch_job(
    model_name: str, images: list[Image.Image], phashes: list[str], results_dir: Path, api_keys: dict[str, str]
) -> dict[str, Any]:
    """Submit an OpenAI / Anthropic batch; returns the job as a plain dict (stored in the project)."""
    from image_annotator_lib.cloud import batch

    try:
        return batch.submit_batch(model_name, images, phashes, results_dir, api_keys).to_dict()
    except Exception as exc:
        raise _fail(f"submitting a batch for {model_name}", exc) from exc


def refresh_batch_job(job: dict[str, Any], api_keys: dict[str, str], results_dir: Path) -> dict[str, Any]:
    """Ask the provider for the job's status; returns the updated job dict."""
    from image_annotator_lib.cloud import batch

    try:
        return batch.batch_status(batch.BatchJob.from_dict(job), api_keys, results_dir=results_dir).to_dict()
    except Exception as exc:
        raise _fail(f"checking batch {job.get('id')}", exc) from exc


def fetch_batch_job(
    job: dict[str, Any], results_dir: Path, api_keys: dict[str, str]
) -> dict[str, dict[str, ModelOutput]]:
    """Download a finished job's output (and error) files into `results_dir` and parse them."""
    from image_annotator_lib.cloud import batch

    try:
        return _convert_all(batch.fetch_batch_results(batch.BatchJob.from_dict(job), results_dir, api_keys))
    except Exception as exc:
        raise _fail(f"fetching batch {job.get('id')}", exc) from exc


def parse_batch_results_file(path: Path, *, model_name: str | None = None) -> dict[str, dict[str, ModelOutput]]:
    """Parse a Batch API result JSONL already on disk (keys: custom_id = pHash)."""
    from image_annotator_lib.cloud import batch_results

    try:
        return _convert_all(batch_results.parse_batch_results_file(path, model_name=model_name))
    except Exception as exc:
        raise _fail(f"reading batch results {path}", exc) from exc


# --- background removal (matte models) --------------------------------------------------------------------

MATTE_KIND = "matte"


@dataclass(frozen=True)
class MatteOutput:
    """A matte model's answer for one image: a uint8 H x W matte at the image's upright size, or why not."""

    matte: Any = field(default=None, repr=False)  # numpy uint8 array (H, W); 255 = foreground
    error_code: str | None = None  # the library's ErrorCode value ("cancelled", "missing_files", ...)
    error_message: str | None = None
    device: str = ""

    @property
    def ok(self) -> bool:
        return self.error_code is None and self.matte is not None


def compute_mattes(
    images: list[Image.Image],
    model_name: str,
    keys: list[str],
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, MatteOutput]:
    """Run one matte model on `images` (keyed by `keys`); per-image failures come back as `error_code`."""
    import image_annotator_lib as lib

    try:
        results = lib.annotate(images, [model_name], keys, progress=progress, cancel=cancel)
    except Exception as exc:
        logger.exception("background removal failed")
        raise _fail("background removal failed", exc) from exc
    out: dict[str, MatteOutput] = {}
    for key in keys:
        result = results[key][model_name]
        error = result.error
        if error is None and result.matte is None:  # a model of another kind gives no matte
            out[key] = MatteOutput(None, "inference_failed", f"{model_name} returned no matte", result.device)
        else:
            out[key] = MatteOutput(
                matte=result.matte,
                error_code=str(error.code.value) if error else None,
                error_message=redact(error.message) if error else None,
                device=result.device,
            )
    return out
