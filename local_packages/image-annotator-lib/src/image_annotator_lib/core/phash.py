"""Perceptual hash (the DCT pHash of the `imagehash` package, same bits and hex form) for results keys.

Used only when the caller gives no pHash list. Implemented with numpy so the library needs neither scipy nor
imagehash: 32x32 greyscale (Lanczos), 2-D DCT-II, top-left 8x8 block, bits = value > median.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

_HASH = 8
_SIZE = _HASH * 4


@cache
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    # Unnormalised DCT-II basis (scipy.fftpack.dct default up to a constant factor, which the median ignores).
    return np.cos(np.pi * k * (2 * i + 1) / (2 * n))


def phash(image: Image.Image) -> str:
    """The 16-hex-digit pHash of `image`."""
    grey = image.convert("L").resize((_SIZE, _SIZE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    basis = _dct_matrix(_SIZE)
    dct = basis @ pixels @ basis.T
    low = dct[:_HASH, :_HASH]
    bits = (low > np.median(low)).flatten()
    value = int("".join("1" if b else "0" for b in bits), 2)
    return f"{value:0{_HASH * _HASH // 4}x}"
