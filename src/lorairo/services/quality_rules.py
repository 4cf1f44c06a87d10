"""Quality checks without a model: their thresholds and the SQL that flags an image (Qt-free, numpy-free).

The metrics themselves are measured during import (lorairo.services.importing.quality) and stored per image in
`image_quality`; a check is a comparison of a stored metric with a threshold from ``[quality]`` in the
configuration, evaluated in SQL, so changing a threshold (the Problems view's slider, `lorairo config set`)
re-flags every image at once without decoding anything again. Defaults were chosen by measurement:
``bench/quality_thresholds.py`` and docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from lorairo.services.filter_language import QUALITY_CHECKS


@dataclass(frozen=True)
class QualityThresholds:
    """Where each check starts to flag (config keys ``quality.<field>``; `upscale_side` is export.resolution)."""

    blurry_sharpness: float = 120.0  # variance of the Laplacian of the grey thumbnail below this = blurry
    dark_mean: float = 0.15  # mean luminance (0-1) below this = dark
    bright_mean: float = 0.72  # mean luminance above this = bright
    clipped_fraction: float = 0.5  # this share of pixels crushed to black (dark) or blown to white (bright)
    low_info_entropy: float = 4.0  # bits of the grey histogram below this = low information
    greyscale_saturation: float = 0.01  # mean colour spread (max-min of R,G,B over 255) below this = greyscale
    low_jpeg_quality: float = 70.0  # estimated libjpeg quality below this = low-quality JPEG
    letterbox_fraction: float = 0.15  # share of the image in uniform bands at two opposite edges
    extreme_aspect: float = 2.5  # longer side / shorter side above this = extreme aspect ratio
    upscale_side: int = 1024  # shorter side below this needs upscaling (export.resolution; 0 = never)

    @classmethod
    def from_config(cls, get: Callable[[str], Any]) -> QualityThresholds:
        """Thresholds from a configuration getter (`ConfigurationService.get`)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = "export.resolution" if f.name == "upscale_side" else f"quality.{f.name}"
            values[f.name] = int(get(key)) if f.name == "upscale_side" else float(get(key))
        return cls(**values)

    def with_value(self, check: str, value: float) -> QualityThresholds:
        """These thresholds with the one that `check` is driven by set to `value` (the Problems slider)."""
        name = CHECK_THRESHOLD[check]
        current = getattr(self, name)
        return replace(self, **{name: type(current)(value)})


# check -> the threshold its slider moves
CHECK_THRESHOLD: dict[str, str] = {
    "blurry": "blurry_sharpness",
    "dark": "dark_mean",
    "bright": "bright_mean",
    "low-info": "low_info_entropy",
    "greyscale": "greyscale_saturation",
    "low-jpeg": "low_jpeg_quality",
    "letterbox": "letterbox_fraction",
    "extreme-aspect": "extreme_aspect",
    "needs-upscale": "upscale_side",
}

# check -> (what the user reads, slider range low, high, step)
CHECK_INFO: dict[str, tuple[str, float, float, float]] = {
    "blurry": ("Blurry: sharpness (variance of the Laplacian) below", 0.0, 500.0, 5.0),
    "dark": ("Dark: mean brightness below", 0.0, 0.5, 0.01),
    "bright": ("Bright: mean brightness above", 0.5, 1.0, 0.01),
    "low-info": ("Low information: histogram entropy (bits) below", 0.0, 8.0, 0.1),
    "greyscale": ("Greyscale: colour spread below", 0.0, 0.2, 0.005),
    "low-jpeg": ("Low JPEG quality: estimated quality below", 1.0, 100.0, 1.0),
    "letterbox": ("Letterbox: uniform border bands cover at least", 0.01, 0.9, 0.01),
    "extreme-aspect": ("Extreme aspect: long / short side above", 1.0, 8.0, 0.1),
    "needs-upscale": ("Needs upscaling: shorter side below (px)", 64.0, 4096.0, 64.0),
}
assert set(CHECK_THRESHOLD) == set(QUALITY_CHECKS) == set(CHECK_INFO)

#: The measured columns of `image_quality` (one row per image), in table order.
METRIC_COLUMNS = (
    "sharpness",
    "brightness",
    "clipped_dark",
    "clipped_bright",
    "entropy",
    "saturation",
    "jpeg_quality",
    "border_fraction",
)

_METRIC = "EXISTS (SELECT 1 FROM image_quality q WHERE q.image_id = i.id AND ({}))"


def check_sql(check: str, t: QualityThresholds) -> str:
    """SQL, true for images `check` flags at thresholds `t` (alias `i` = images). Never NULL: an image without
    stored metrics is not flagged by the metric checks (`lorairo quality` measures it). Thresholds are numbers
    from the validated configuration, inlined as literals (float() / int() below: never text)."""
    if check == "blurry":
        return _METRIC.format(f"q.sharpness < {float(t.blurry_sharpness)!r}")
    if check == "dark":
        return _METRIC.format(
            f"q.brightness < {float(t.dark_mean)!r} OR q.clipped_dark > {float(t.clipped_fraction)!r}"
        )
    if check == "bright":
        return _METRIC.format(
            f"q.brightness > {float(t.bright_mean)!r} OR q.clipped_bright > {float(t.clipped_fraction)!r}"
        )
    if check == "low-info":
        return _METRIC.format(f"q.entropy < {float(t.low_info_entropy)!r}")
    if check == "greyscale":
        return _METRIC.format(f"q.saturation < {float(t.greyscale_saturation)!r}")
    if check == "low-jpeg":
        return _METRIC.format(f"q.jpeg_quality IS NOT NULL AND q.jpeg_quality < {float(t.low_jpeg_quality)!r}")
    if check == "letterbox":
        return _METRIC.format(f"q.border_fraction >= {float(t.letterbox_fraction)!r}")
    if check == "extreme-aspect":
        return f"(CAST(max(i.width, i.height) AS REAL) / max(1, min(i.width, i.height)) > {float(t.extreme_aspect)!r})"
    if check == "needs-upscale":
        side = int(t.upscale_side)
        return f"(min(i.width, i.height) < {side})" if side > 0 else "(0 = 1)"
    raise ValueError(f"unknown quality check {check!r} (checks: {', '.join(QUALITY_CHECKS)})")


def counts_sql(t: QualityThresholds) -> str:
    """One statement counting the images each check flags (the Problems view), columns in QUALITY_CHECKS order."""
    columns = ", ".join(f"coalesce(sum({check_sql(check, t)}), 0)" for check in QUALITY_CHECKS)
    return f"SELECT {columns} FROM images i"


__all__ = ["CHECK_INFO", "CHECK_THRESHOLD", "QUALITY_CHECKS", "QualityThresholds", "check_sql", "counts_sql"]
