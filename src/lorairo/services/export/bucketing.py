"""Aspect-ratio buckets computed exactly the way kohya sd-scripts computes them.

sd-scripts (``make_bucket_resolutions`` + ``BucketManager.select_bucket``) decides at training time which bucket
an image falls in and how it is resized and cropped. Exporting every image already at its bucket size means
training does no further resizing or cropping: sd-scripts finds the exact size among its buckets and uses it
as is. The rules (conventions.md, "Training-dataset export"):

* max area = resolution^2 (width x height for a non-square resolution);
* buckets: the square ``floor(sqrt(max_area) / steps) * steps``, plus for every width from ``min_bucket_reso``
  to ``max_bucket_reso`` in ``steps``, height = ``min(max_bucket_reso, floor(max_area / width / steps) * steps)``
  kept when it is at least ``min_bucket_reso``, and both orientations of it;
* an image takes the bucket whose aspect ratio is closest to its own (the first one on ties, buckets sorted),
  unless its size is a bucket already; it is scaled to cover the bucket (``int(x * scale + 0.5)``) and
  centre-cropped (offset ``excess // 2``);
* ``bucket_no_upscale``: an image no larger than the max area keeps its size, a larger one is shrunk to the
  area keeping the aspect ratio (width or height rounded to steps, whichever keeps the ratio better); the bucket
  is that size rounded *down* to steps, so the image is cropped, never padded or enlarged. sd-scripts ignores
  min/max_bucket_reso in this mode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

Size = tuple[int, int]


@dataclass(frozen=True)
class BucketSettings:
    """The bucket options of a sd-scripts dataset (the ``[[datasets]]`` table of ``dataset_config.toml``)."""

    resolution: Size = (1024, 1024)
    min_bucket_reso: int = 256
    max_bucket_reso: int = 1024
    bucket_reso_steps: int = 64
    bucket_no_upscale: bool = False

    def validate(self) -> None:
        """Raise ValueError naming the field when sd-scripts would refuse these settings."""
        steps = self.bucket_reso_steps
        if steps <= 0:
            raise ValueError(f"bucket_reso_steps must be positive, got {steps}")
        width, height = self.resolution
        if width <= 0 or height <= 0:
            raise ValueError(f"resolution must be positive, got {width}x{height}")
        if self.min_bucket_reso <= 0 or self.min_bucket_reso > self.max_bucket_reso:
            raise ValueError(
                f"min_bucket_reso ({self.min_bucket_reso}) must be positive and at most max_bucket_reso "
                f"({self.max_bucket_reso})"
            )
        if self.min_bucket_reso % steps or self.max_bucket_reso % steps:
            raise ValueError(
                f"min_bucket_reso ({self.min_bucket_reso}) and max_bucket_reso ({self.max_bucket_reso}) must be "
                f"multiples of bucket_reso_steps ({steps})"
            )
        if not self.bucket_no_upscale and self.max_bucket_reso < max(width, height):
            raise ValueError(
                f"max_bucket_reso ({self.max_bucket_reso}) must be at least the resolution ({width}x{height})"
            )

    @property
    def max_area(self) -> int:
        return self.resolution[0] * self.resolution[1]


@dataclass(frozen=True)
class BucketPlan:
    """Where one image goes: scale it to ``resized`` then centre-crop to ``bucket``."""

    bucket: Size
    resized: Size
    crop_left: int
    crop_top: int


def make_bucket_resolutions(
    max_reso: Size, min_size: int = 256, max_size: int = 1024, divisible: int = 64
) -> list[Size]:
    """Return the sorted bucket sizes sd-scripts enumerates for ``max_reso`` (see module docstring)."""
    max_area = max_reso[0] * max_reso[1]
    resos: set[Size] = set()
    square = int(math.sqrt(max_area) // divisible) * divisible
    resos.add((square, square))
    width = min_size
    while width <= max_size:
        height = min(max_size, int((max_area // width) // divisible) * divisible)
        if height >= min_size:
            resos.add((width, height))
            resos.add((height, width))
        width += divisible
    return sorted(resos)


@lru_cache(maxsize=32)
def _buckets(settings: BucketSettings) -> tuple[tuple[Size, ...], frozenset[Size]]:
    resos = make_bucket_resolutions(
        settings.resolution, settings.min_bucket_reso, settings.max_bucket_reso, settings.bucket_reso_steps
    )
    return tuple(resos), frozenset(resos)


def bucket_resolutions(settings: BucketSettings) -> Sequence[Size]:
    """All predefined buckets of ``settings`` (empty list in ``bucket_no_upscale`` mode, which has none)."""
    if settings.bucket_no_upscale:
        return []
    return list(_buckets(settings)[0])


def _round_to_steps(value: float, steps: int) -> int:
    rounded = int(value + 0.5)
    return rounded - rounded % steps


def _closest_bucket(width: int, height: int, settings: BucketSettings) -> Size:
    resos, reso_set = _buckets(settings)
    if (width, height) in reso_set:
        return (width, height)
    aspect = width / height
    # argmin of |bucket ratio - image ratio|; the first bucket wins ties, as numpy's argmin does.
    best = resos[0]
    best_err = math.inf
    for reso in resos:
        err = abs(reso[0] / reso[1] - aspect)
        if err < best_err:
            best, best_err = reso, err
    return best


def select_bucket(width: int, height: int, settings: BucketSettings) -> BucketPlan:
    """Return the bucket, resized size and centre-crop offsets sd-scripts uses for a ``width`` x ``height`` image.

    Raises:
        ValueError: the image is so small that its bucket would be empty (``bucket_no_upscale`` with a side
            under ``bucket_reso_steps``) or its size is not positive.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    steps = settings.bucket_reso_steps
    aspect = width / height
    if not settings.bucket_no_upscale:
        bucket = _closest_bucket(width, height, settings)
        # Wider than the bucket: match heights and crop the sides; otherwise match widths.
        scale = bucket[1] / height if aspect > bucket[0] / bucket[1] else bucket[0] / width
        resized = (int(width * scale + 0.5), int(height * scale + 0.5))
    else:
        max_area = settings.max_area
        if width * height > max_area:
            resized_w = math.sqrt(max_area * aspect)
            resized_h = max_area / resized_w
            w_rounded = _round_to_steps(resized_w, steps)
            h_in_w = _round_to_steps(w_rounded / aspect, steps)
            ar_w = w_rounded / h_in_w if h_in_w else math.inf
            h_rounded = _round_to_steps(resized_h, steps)
            w_in_h = _round_to_steps(h_rounded * aspect, steps)
            ar_h = w_in_h / h_rounded if h_rounded else math.inf
            if abs(ar_w - aspect) < abs(ar_h - aspect):
                resized = (w_rounded, int(w_rounded / aspect + 0.5))
            else:
                resized = (int(h_rounded * aspect + 0.5), h_rounded)
        else:
            resized = (width, height)
        bucket = (resized[0] - resized[0] % steps, resized[1] - resized[1] % steps)
        if bucket[0] <= 0 or bucket[1] <= 0:
            raise ValueError(
                f"a {width}x{height} image is smaller than bucket_reso_steps ({steps}) with bucket_no_upscale"
            )
    crop_left = max(0, resized[0] - bucket[0]) // 2
    crop_top = max(0, resized[1] - bucket[1]) // 2
    return BucketPlan(bucket=bucket, resized=resized, crop_left=crop_left, crop_top=crop_top)
