"""Cost and time estimate of a cloud run, before it starts.

Image tokens follow each provider's published rule for the size that is actually uploaded (after the
`image_max_side` downscale); text tokens are counted as characters / 4. Time comes from latency, concurrency
and the requests-per-minute limit. Figures are estimates: providers bill the tokens they count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from image_annotator_lib.cloud.imaging import fit_size
from image_annotator_lib.cloud.prompt import DEFAULT_PROMPT, DEFAULT_SYSTEM_PROMPT
from image_annotator_lib.cloud.settings import CloudSettings, settings_from_spec
from image_annotator_lib.core.types import ModelSpec

_SCHEMA_TOKENS = 180  # the JSON schema / tool definition sent with every request
_TEXT_CONTEXT_TOKENS = 40  # file name and existing tags filled into the template, on average


def image_tokens(settings: CloudSettings, width: int, height: int) -> int:
    """Input tokens one image costs at this provider after downscaling to `image_max_side`."""
    w, h = fit_size(width, height, settings.image_max_side)
    if settings.framework == "anthropic":
        return math.ceil(w * h / 750)  # Anthropic: tokens = width * height / 750
    if settings.framework == "google":
        if w <= 384 and h <= 384:
            return 258
        return math.ceil(w / 768) * math.ceil(h / 768) * 258  # Gemini: 258 tokens per 768x768 tile
    if settings.image_detail == "low":
        return 85
    # OpenAI high detail: fit 2048 square, shortest side to 768, 170 tokens per 512 tile + 85 base.
    scale = min(1.0, 2048 / max(w, h))
    fw, fh = w * scale, h * scale
    scale = min(1.0, 768 / min(fw, fh))
    fw, fh = fw * scale, fh * scale
    return 85 + 170 * math.ceil(fw / 512) * math.ceil(fh / 512)


def run_seconds(settings: CloudSettings, n_images: int) -> float:
    """Wall time for `n_images` requests: limited by concurrency x latency and by the RPM limiter."""
    if n_images <= 0:
        return 0.0
    latency = settings.typical_latency_s
    by_concurrency = math.ceil(n_images / settings.max_concurrency) * latency
    rpm = settings.rate_limit_requests_per_minute
    if not rpm:
        return by_concurrency
    burst = min(settings.rate_limit_burst or settings.max_concurrency, rpm)
    by_bucket = max(0, n_images - burst) * 60.0 / rpm
    by_window = ((n_images - 1) // rpm) * 60.0
    return max(by_concurrency, max(by_bucket, by_window) + latency)


@dataclass(frozen=True, slots=True)
class ModelEstimate:
    """Estimate for one model. `usd` is None when the price is unknown."""

    model_name: str
    provider: str
    n_images: int
    input_tokens: int
    output_tokens: int
    usd: float | None
    seconds: float
    batch: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class RunEstimate:
    """Estimate for a run over several models (models run one after another, so seconds add up)."""

    models: list[ModelEstimate] = field(default_factory=list)

    @property
    def usd(self) -> float | None:
        """Total price, or None if any model's price is unknown."""
        prices = [m.usd for m in self.models]
        return None if any(p is None for p in prices) else float(sum(p for p in prices if p is not None))

    @property
    def seconds(self) -> float:
        return sum(m.seconds for m in self.models)

    @property
    def input_tokens(self) -> int:
        return sum(m.input_tokens for m in self.models)

    @property
    def output_tokens(self) -> int:
        return sum(m.output_tokens for m in self.models)


def estimate_model(
    settings: CloudSettings, n_images: int, *, image_size: tuple[int, int] = (1024, 1024), batch: bool = False
) -> ModelEstimate:
    """Estimate one model over `n_images` images of `image_size` (pixels, before downscaling)."""
    prompt_chars = len(settings.system_prompt or DEFAULT_SYSTEM_PROMPT) + len(settings.prompt or DEFAULT_PROMPT)
    per_image_in = image_tokens(settings, *image_size) + prompt_chars // 4 + _SCHEMA_TOKENS + _TEXT_CONTEXT_TOKENS
    input_tokens = per_image_in * n_images
    output_tokens = settings.expected_output_tokens * n_images
    usd: float | None = None
    if settings.price_input_per_1m is not None and settings.price_output_per_1m is not None:
        usd = (input_tokens * settings.price_input_per_1m + output_tokens * settings.price_output_per_1m) / 1e6
        if batch:
            usd *= settings.batch_discount
    note = "" if usd is not None else "price unknown"
    if batch:
        seconds = 24 * 3600.0  # the providers' completion window; most batches finish far sooner
        note = (note + "; " if note else "") + "batch: finishes within 24 h"
    else:
        seconds = run_seconds(settings, n_images)
    return ModelEstimate(
        model_name=settings.model_name,
        provider=settings.provider,
        n_images=n_images,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        usd=usd,
        seconds=seconds,
        batch=batch,
        note=note,
    )


def estimate(
    model_names: Sequence[str | ModelSpec],
    n_images: int,
    *,
    image_size: tuple[int, int] = (1024, 1024),
    batch: bool = False,
) -> RunEstimate:
    """Tokens, USD (where the price is known) and seconds for annotating `n_images` with each cloud model.

    Args:
        model_names: registry names of cloud models, or their ModelSpecs.
        n_images: how many images will be sent.
        image_size: typical (width, height) of the images before downscaling.
        batch: estimate a Batch API run (discounted price, up to 24 h) instead of live requests.

    Raises:
        ModelNotFoundError: a name is not in the registry. CloudConfigError: the entry is not a valid cloud model.
    """
    if n_images < 0:
        raise ValueError(f"n_images must be >= 0, got {n_images}")
    from image_annotator_lib.cloud.resolve import resolve_spec

    models = [
        estimate_model(settings_from_spec(resolve_spec(m)), n_images, image_size=image_size, batch=batch)
        for m in model_names
    ]
    return RunEstimate(models=models)
