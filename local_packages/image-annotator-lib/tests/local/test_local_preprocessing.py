"""Exact preprocessing (conventions.md) and the awkward image modes users' folders contain."""

from __future__ import annotations

import io

import numpy as np
import pytest
from image_annotator_lib.core.errors import InvalidImageError
from image_annotator_lib.local.imaging import CLIP_MEAN, CLIP_STD, HUGE_SIDE, clip_input, siglip_input, to_rgb, wd_input
from PIL import Image

RED, WHITE = (255, 0, 0), (255, 255, 255)


def test_wd_pads_white_centred_with_remainder_bottom_and_outputs_bgr() -> None:
    # 1 wide x 4 high red column: square side 4, left pad (4-1)//2 = 1, so column 1 is red; remainder on the right.
    image = Image.new("RGB", (1, 4), RED)
    arr = wd_input(image, 4)
    assert arr.shape == (4, 4, 3) and arr.dtype == np.float32
    assert np.array_equal(arr[:, 1], np.tile([0.0, 0.0, 255.0], (4, 1)))  # BGR: red is the last channel
    for column in (0, 2, 3):
        assert np.array_equal(arr[:, column], np.full((4, 3), 255.0))
    # 4 wide x 1 high: the row lands at index 1 (top pad 1, bottom pad 2).
    arr = wd_input(Image.new("RGB", (4, 1), RED), 4)
    assert np.array_equal(arr[1], np.tile([0.0, 0.0, 255.0], (4, 1)))
    assert np.array_equal(arr[[0, 2, 3]], np.full((3, 4, 3), 255.0))


def test_wd_resizes_with_bicubic_and_does_not_normalise() -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    expected = np.asarray(image.resize((16, 16), Image.Resampling.BICUBIC), dtype=np.float32)[:, :, ::-1]
    assert np.array_equal(wd_input(image, 16), expected)


def test_rgba_is_composited_on_white() -> None:
    image = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    image.putpixel((0, 0), (0, 0, 255, 255))
    image.putpixel((1, 0), (0, 0, 0, 128))
    rgb = np.asarray(to_rgb(image))
    assert tuple(rgb[0, 0]) == (0, 0, 255)
    assert tuple(rgb[1, 1]) == WHITE
    assert 120 <= rgb[0, 1, 0] <= 135  # half-transparent black over white is mid grey


@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.new("LA", (3, 3), (0, 0)),
        lambda: _palette_with_transparency(),
        lambda: Image.new("PA", (3, 3), 0),
    ],
    ids=["LA", "P+transparency", "PA"],
)
def test_transparent_modes_become_white(make) -> None:
    rgb = to_rgb(make())
    assert rgb.mode == "RGB" and np.all(np.asarray(rgb) == 255)


def _palette_with_transparency() -> Image.Image:
    image = Image.new("P", (3, 3), 0)
    image.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    image.info["transparency"] = 0
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_sixteen_bit_is_scaled_not_clipped() -> None:
    data = np.array([[0, 32896, 65535]], dtype=np.uint16)
    image = Image.fromarray(data)
    rgb = np.asarray(to_rgb(image))
    assert rgb[0, :, 0].tolist() == [0, 128, 255]


def test_sixteen_bit_png_roundtrip_is_scaled() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)).save(buffer, format="PNG")
    loaded = Image.open(io.BytesIO(buffer.getvalue()))
    assert np.all(np.asarray(to_rgb(loaded)) == 255)


def test_cmyk_and_greyscale_convert() -> None:
    assert tuple(np.asarray(to_rgb(Image.new("CMYK", (2, 2), (0, 0, 0, 0))))[0, 0]) == WHITE
    assert to_rgb(Image.new("L", (2, 2), 7)).getpixel((0, 0)) == (7, 7, 7)
    assert to_rgb(Image.new("1", (2, 2), 1)).getpixel((0, 0)) == WHITE


def test_one_pixel_image_fills_the_whole_input() -> None:
    arr = wd_input(Image.new("RGB", (1, 1), RED), 8)
    assert arr.shape == (8, 8, 3) and np.allclose(arr[..., 2], 255) and np.allclose(arr[..., :2], 0, atol=1)


def test_huge_image_is_reduced_before_padding() -> None:
    image = Image.new("RGB", (HUGE_SIDE * 2 + 10, 4), RED)
    assert max(to_rgb(image).size) <= HUGE_SIDE
    assert wd_input(image, 16).shape == (16, 16, 3)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (4, 2), RED)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    assert to_rgb(Image.open(io.BytesIO(buffer.getvalue()))).size == (2, 4)


def test_truncated_file_is_an_invalid_image_error() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), RED).save(buffer, format="PNG")
    broken = Image.open(io.BytesIO(buffer.getvalue()[:60]))
    with pytest.raises(InvalidImageError, match="cannot read image"):
        to_rgb(broken)


def test_clip_shortest_side_centre_crop_and_normalisation() -> None:
    # 448 x 224 image: left half red, right half blue. Shortest side is already 224: crop takes the centre.
    pixels = np.zeros((224, 448, 3), dtype=np.uint8)
    pixels[:, :224] = RED
    pixels[:, 224:] = (0, 0, 255)
    arr = clip_input(Image.fromarray(pixels))
    assert arr.shape == (3, 224, 224)
    expected_left = (np.array([1.0, 0.0, 0.0]) - CLIP_MEAN) / CLIP_STD
    assert np.allclose(arr[:, 0, 0], expected_left) and np.allclose(arr[:, 0, 111], expected_left)
    assert np.allclose(arr[:, 0, 112], (np.array([0.0, 0.0, 1.0]) - CLIP_MEAN) / CLIP_STD)


def test_siglip_resizes_to_square_and_scales_to_minus_one_one() -> None:
    arr = siglip_input(Image.new("RGB", (500, 300), WHITE))
    assert arr.shape == (3, 384, 384) and np.allclose(arr, 1.0)
    assert np.allclose(siglip_input(Image.new("RGB", (10, 10), (0, 0, 0))), -1.0)
