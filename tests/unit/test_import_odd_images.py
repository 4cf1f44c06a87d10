"""Odd images at import: tRNS colour keys flattened on white, broken APNG frames refused, odd modes accepted."""

from __future__ import annotations

import pytest

from lorairo.services.importing.imaging import ImageMeta, Rejected, open_checked, read_meta, reduced_decode
from tests.support import odd_images as odd

_WHITE = (255, 255, 255)


def _decode(data: bytes) -> tuple[ImageMeta, tuple[int, int, int], tuple[int, int, int]]:
    """(metadata, thumbnail pixel at the left middle, at the right middle)."""
    image = open_checked(data, 10**8)
    meta = read_meta(image)
    thumb = reduced_decode(image, 512)
    middle = thumb.height // 2
    return meta, thumb.getpixel((2, middle)), thumb.getpixel((thumb.width - 3, middle))  # type: ignore[return-value]


def test_rgb_colour_key_is_flattened_on_white_and_counts_as_alpha() -> None:
    meta, left, right = _decode(odd.rgb_colour_key_png())
    assert meta.has_alpha and meta.mode == "RGB"
    assert left == _WHITE  # was the key colour itself, pure green
    assert right == (200, 30, 30)


def test_16_bit_grey_colour_key_is_flattened_on_white() -> None:
    meta, left, right = _decode(odd.gray16_colour_key_png())
    assert meta.has_alpha and meta.mode.startswith("I;16")
    assert left == _WHITE  # was black: the 16-bit path dropped the key while scaling to 8 bits
    assert right[0] == right[1] == right[2] and 40 < right[0] < 90  # 10,000 of 40,000: a dark grey


def test_one_bit_png_with_transparency_imports_with_alpha() -> None:
    meta, left, right = _decode(odd.one_bit_transparent_png())
    assert meta.has_alpha and meta.mode == "1"
    assert left == _WHITE and right == _WHITE  # transparent black on white, opaque white


def test_16_bit_big_endian_tiff_imports_scaled_to_8_bits() -> None:
    meta, left, right = _decode(odd.tiff_16bit_big_endian())
    assert (meta.format, meta.mode, meta.has_alpha) == ("TIFF", "I;16B", False)
    assert left[0] < 20 and right[0] > 235  # the ramp survives: not clipped to white


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (odd.apng_with_sequence_error, "frame sequence errors"),
        (odd.apng_with_broken_frame_data, "frame 2 of 3 is broken"),
    ],
)
def test_apng_with_broken_frames_is_refused_at_import(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Rejected, match=message) as caught:
        open_checked(make(), 10**8)
    assert caught.value.code == "corrupt"


def test_valid_apng_and_mpo_import() -> None:
    meta, _left, _right = _decode(odd.apng())
    assert (meta.format, meta.frames) == ("PNG", 3)
    meta, left, _right = _decode(odd.mpo())
    assert (meta.format, meta.frames) == ("MPO", 2)
    assert left[0] > 150 and left[1] < 100  # the first (left) picture
