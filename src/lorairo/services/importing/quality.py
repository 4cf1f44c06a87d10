"""Quality metrics of one image, from the reduced decode an import already makes (nearly free).

Everything is measured on the upright RGB thumbnail (longest side `thumbnail_size`, 512 by default), so the
numbers mean the same for a 600 px and a 6000 px photo, plus the JPEG quantisation tables read from the header.
Plain numpy on a few hundred thousand pixels: about a millisecond per image (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

_DARK_LEVEL, _BRIGHT_LEVEL = 5, 250  # grey levels counted as crushed shadows / blown highlights
_MAX_GAIN = 4.0  # contrast stretch before the Laplacian: enough for a photo at a quarter of its exposure
_BAND_STD, _BAND_DRIFT = 6.0, 10.0  # a row is a uniform band: flat (std) and the colour of the edge (drift)

# The libjpeg / IJG base luminance table (ITU T.81 Annex K.1), scaled by the quality setting.
_BASE_LUMINANCE = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29,
     51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121,
     120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)  # fmt: skip


def _ijg_table(quality: int) -> npt.NDArray[np.float64]:
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.asarray(np.clip(np.floor((_BASE_LUMINANCE * scale + 50) / 100), 1, 255))


# Each quality's table sorted: comparing sorted values is order-free, so the zig-zag or natural order Pillow
# returns does not matter.
_SORTED_TABLES = np.array([np.sort(_ijg_table(q)) for q in range(1, 101)])


@dataclass(frozen=True)
class QualityMetrics:
    """What `image_quality` stores for one image (see lorairo.services.quality_rules for the checks)."""

    sharpness: float  # variance of the 4-neighbour Laplacian of the contrast-stretched grey thumbnail
    brightness: float  # mean luminance, 0-1
    clipped_dark: float  # share of pixels at grey level <= 5
    clipped_bright: float  # share of pixels at grey level >= 250
    entropy: float  # Shannon entropy of the 256-bin grey histogram, bits (0-8)
    saturation: float  # mean of (max - min of R, G, B) / 255: 0 for a grey image
    jpeg_quality: int | None  # libjpeg quality the luminance table matches best; None for other formats
    border_fraction: float  # share of the image in uniform bands at two opposite edges (letterbox / pillarbox)

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def jpeg_quality(quantization: dict[int, Any] | None) -> int | None:
    """The libjpeg quality (1-100) whose scaled luminance table is closest to table 0 of `quantization`
    (Pillow's ``JpegImageFile.quantization``); None when there is no usable table. Encoders with their own
    tables (Photoshop, cameras) get the quality of the IJG table of the same overall coarseness."""
    if not quantization or 0 not in quantization:
        return None
    table = np.asarray(list(quantization[0]), dtype=np.float64)
    if table.size != 64:
        return None
    return int(np.argmin(np.abs(_SORTED_TABLES - np.sort(table)).sum(axis=1))) + 1


def _band(means: npt.NDArray[np.float64], stds: npt.NDArray[np.float64]) -> int:
    """How many leading lines are flat (their std) and the colour of the first line (their mean)."""
    if means.shape[0] == 0:
        return 0
    flat = (stds < _BAND_STD) & (np.abs(means - means[0]) < _BAND_DRIFT)
    return int(np.argmin(flat)) if not flat.all() else int(means.shape[0])


def _pair(grey: npt.NDArray[np.float32], axis: int) -> float:
    """Twice the thinner of the two bands along `axis` (1: rows, top and bottom), as a share of the lines."""
    means, stds = grey.mean(axis=axis, dtype=np.float64), grey.std(axis=axis, dtype=np.float64)
    return 2 * min(_band(means, stds), _band(means[::-1], stds[::-1])) / means.shape[0]


def border_fraction(grey: npt.NDArray[np.float32]) -> float:
    """Share of the image in uniform bands at BOTH opposite edges (twice the thinner band): a letterbox (top and
    bottom) or pillarbox (left and right). A photo with one flat edge (a clear sky) has no band opposite it."""
    return float(min(1.0, max(_pair(grey, 1), _pair(grey, 0))))


def _percentile(hist: npt.NDArray[np.float64], share: float) -> int:
    """The grey level below which `share` of the pixels lie, from the histogram (no sort of the pixels)."""
    return int(np.searchsorted(np.cumsum(hist), share * hist.sum()))


def measure(thumbnail: Image.Image, quantization: dict[int, Any] | None = None) -> QualityMetrics:
    """Metrics of an RGB thumbnail (`imaging.reduced_decode`'s result) and the original's JPEG tables."""
    # Channels as separate planes: max / min across them is three cheap 2-D passes (over axis 2 it was the
    # slowest part, 25 ms of 45 at 512 px).
    red, green, blue = (np.asarray(band) for band in thumbnail.convert("RGB").split())
    grey8 = np.asarray(thumbnail.convert("L"))
    grey = grey8.astype(np.float32)
    hist = np.bincount(grey8.ravel(), minlength=256).astype(np.float64)
    if min(grey.shape) >= 3:
        # Contrast-stretched first (1st-99th percentile to the full range, at most x4): the variance of the
        # Laplacian grows with contrast, and an underexposed sharp photo must read as dark, not as blurry.
        low, high = _percentile(hist, 0.01), _percentile(hist, 0.99)
        gain = min(_MAX_GAIN, 255.0 / max(float(high - low), 1.0))
        g = grey * gain
        lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
        sharpness = float(lap.var())
    else:
        sharpness = 0.0
    total = hist.sum()
    p = hist[hist > 0] / total
    spread = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)  # uint8: >= 0
    return QualityMetrics(
        sharpness=sharpness,
        brightness=float(grey.mean() / 255.0),
        clipped_dark=float(hist[: _DARK_LEVEL + 1].sum() / total),
        clipped_bright=float(hist[_BRIGHT_LEVEL:].sum() / total),
        entropy=float(-(p * np.log2(p)).sum()),
        saturation=float(spread.mean(dtype=np.float64) / 255.0),
        jpeg_quality=jpeg_quality(quantization),
        border_fraction=border_fraction(grey),
    )


def quantization_of(image: Image.Image) -> dict[int, Any] | None:
    """The JPEG quantisation tables of an opened image (headers only), or None."""
    tables = getattr(image, "quantization", None)
    return dict(tables) if isinstance(tables, dict) and tables else None
