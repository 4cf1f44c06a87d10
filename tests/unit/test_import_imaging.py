"""Per-image work of an import: pHash, reduced decode, metadata of unusual images, bomb guards."""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image

from lorairo.services.importing import imaging
from lorairo.services.importing.near_duplicates import PhashIndex, popcount
from tests.support import images as gen


def _hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@pytest.mark.parametrize("seed", range(12))
def test_phash_is_bit_identical_to_imagehash(seed: int) -> None:
    image = imaging.to_rgb(gen.photo_like(90 + seed * 37, 70 + seed * 23, seed, alpha=seed % 2 == 0))
    assert imaging.phash_of(image)[0] == str(imagehash.phash(image))


def test_phash_int_is_signed_int64_of_the_hex() -> None:
    hex_value, value = imaging.phash_of(gen.photo_like(200, 150, 3))
    assert -(2**63) <= value < 2**63
    assert value & 0xFFFF_FFFF_FFFF_FFFF == int(hex_value, 16)


def test_reduced_jpeg_decode_keeps_the_phash_and_the_thumbnail_size() -> None:
    data = gen.jpeg_bytes(1400, 1000, seed=11)
    image = imaging.open_checked(data, max_pixels=10**9)
    thumb = imaging.reduced_decode(image, 512)
    assert max(thumb.size) == 512 and thumb.mode == "RGB"
    assert _hamming(imaging.phash_of(thumb)[0], imaging.full_phash(data)) <= 2


def test_exif_rotated_jpeg_reports_displayed_size_and_thumbnail_is_upright() -> None:
    image = imaging.open_checked(gen.exif_rotated_jpeg(300, 200, orientation=6), max_pixels=10**9)
    meta = imaging.read_meta(image)
    assert (meta.width, meta.height, meta.exif_orientation) == (200, 300, 6)
    thumb = imaging.reduced_decode(image, 128)
    assert thumb.height > thumb.width


def test_16_bit_png_is_scaled_not_clipped() -> None:
    image = imaging.open_checked(gen.png16_gray(), max_pixels=10**9)
    assert imaging.read_meta(image).mode.startswith("I")
    pixels = np.asarray(imaging.reduced_decode(image, 128).convert("L"))
    assert pixels.min() < 20 and pixels.max() > 235 and 80 < pixels.mean() < 175  # the full ramp survives


def test_palette_transparency_and_animation_metadata() -> None:
    palette = imaging.read_meta(imaging.open_checked(gen.palette_png_transparent(), max_pixels=10**9))
    assert palette.has_alpha and palette.mode == "P"
    gif = imaging.open_checked(gen.animated_gif(frames=3), max_pixels=10**9)
    assert imaging.read_meta(gif).frames == 3
    assert imaging.reduced_decode(gif, 64).mode == "RGB"  # first frame


def test_cmyk_jpeg_becomes_rgb() -> None:
    image = imaging.open_checked(gen.cmyk_jpeg(), max_pixels=10**9)
    assert imaging.read_meta(image).mode == "CMYK"
    assert imaging.reduced_decode(image, 64).mode == "RGB"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"just some text, not a picture", "not an image"),
        (gen.truncated(gen.png_bytes()), "corrupt"),
        (gen.png_with_declared_size(12_000, 12_000), "implausible dimensions"),
        (gen.png_with_declared_size(60_000, 60_000), "decompression bomb"),
    ],
    ids=["text", "truncated-png", "huge-dims-small-file", "bomb"],
)
def test_bad_data_is_rejected_with_a_reason_before_decoding(data: bytes, code: str) -> None:
    with pytest.raises(imaging.Rejected) as info:
        imaging.open_checked(data, max_pixels=178_956_970)
    assert info.value.code == code


def test_truncated_jpeg_is_rejected_when_decoded() -> None:
    image = imaging.open_checked(gen.truncated(gen.jpeg_bytes(), 0.6), max_pixels=10**9)
    with pytest.raises(imaging.Rejected, match="corrupt"):
        imaging.reduced_decode(image, 128)


def test_configured_max_pixels_refuses_real_images() -> None:
    with pytest.raises(imaging.Rejected, match="decompression bomb"):
        imaging.open_checked(gen.png_bytes(200, 200), max_pixels=10_000)


def test_unsupported_format_is_named() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PPM")
    with pytest.raises(imaging.Rejected, match="PPM"):
        imaging.open_checked(buffer.getvalue(), max_pixels=10**9)


def test_phash_index_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    hashes = rng.integers(-(2**63), 2**63 - 1, size=3000, dtype=np.int64)
    index = PhashIndex.from_rows([(i + 1, int(h)) for i, h in enumerate(hashes[:2000])])
    for i, h in enumerate(hashes[2000:]):
        index.add(2001 + i, int(h))
    probe = int(hashes[1234]) ^ 0b1011  # 3 bits away from image 1235
    matches = index.query(probe, threshold=8)
    unsigned = hashes.view(np.uint64)
    expected = popcount(unsigned ^ np.uint64(probe & 0xFFFF_FFFF_FFFF_FFFF))
    assert [m.image_id for m in matches] == [int(i) + 1 for i in np.flatnonzero(expected <= 8)][:5]
    assert matches[0].image_id == 1235 and matches[0].distance == 3
