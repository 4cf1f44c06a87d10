"""Crop clamping and letterbox detection against plain references (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from lorairo.services.regions import Crop, clamp_crop, letterbox_box

sizes = st.tuples(st.integers(1, 300), st.integers(1, 300))
coords = st.integers(-400, 400)


@given(size=sizes, left=coords, top=coords, width=st.integers(1, 800), height=st.integers(1, 800))
def test_clamp_is_the_intersection_with_the_image(
    size: tuple[int, int], left: int, top: int, width: int, height: int
) -> None:
    # Reference: mark the crop's pixels on an unbounded grid, keep those inside the image.
    grid = np.zeros((size[1], size[0]), dtype=bool)
    ys = slice(max(0, top), max(0, min(size[1], top + height)))
    xs = slice(max(0, left), max(0, min(size[0], left + width)))
    grid[ys, xs] = True
    clamped = clamp_crop(Crop(left, top, width, height), size)
    if not grid.any():
        assert clamped is None
        return
    assert clamped is not None
    got = np.zeros_like(grid)
    got[clamped.top : clamped.top + clamped.height, clamped.left : clamped.left + clamped.width] = True
    assert (got == grid).all()


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(16, 120),
    height=st.integers(16, 120),
    bar=st.integers(1, 30),
    vertical=st.booleans(),
    colour=st.sampled_from([0, 255, 17]),
    seed=st.integers(0, 2**16),
)
def test_symmetric_bars_are_found_exactly(
    width: int, height: int, bar: int, vertical: bool, colour: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    # Busy content: no row or column of it is flat, so the bars end exactly where it starts.
    content = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
    stripes = np.resize(np.array([0, 255], dtype=np.uint8), max(width, height))
    content[0, :] = stripes[:width]  # edges that alternate black and white are never flat
    content[-1, :] = stripes[:width]
    content[:, 0] = stripes[:height]
    content[:, -1] = stripes[:height]
    if vertical:
        canvas = np.full((height + 2 * bar, width), colour, dtype=np.uint8)
        canvas[bar : bar + height, :] = content
        expected = Crop(0, bar, width, height)
    else:
        canvas = np.full((height, width + 2 * bar), colour, dtype=np.uint8)
        canvas[:, bar : bar + width] = content
        expected = Crop(bar, 0, width, height)
    assert letterbox_box(Image.fromarray(canvas, "L")) == expected
    assert letterbox_box(Image.fromarray(content, "L")) is None
