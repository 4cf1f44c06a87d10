"""Pillow work of an import: open safely, read metadata, decode once at reduced size, pHash, thumbnail.

The expensive part of an import is decoding. Each image is decoded exactly once, at the smallest size that
still gives a sharp 512 px thumbnail: for JPEG, ``Image.draft`` lets libjpeg scale by 1/2, 1/4 or 1/8 while
decoding (docs/benchmarks.md measures it several times cheaper than a full decode). The thumbnail and the
pHash come from that one decode; the benchmark checks that the thumbnail's pHash stays within Hamming
distance 2 of the full image's.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import imagehash
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

#: Pillow formats accepted, by the extensions users give them (MPO is the JPEG variant phones write).
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"})
_BYTES_PER_PIXEL = {"1": 0.125, "L": 1, "P": 1, "LA": 2, "PA": 2, "I;16": 2, "I;16B": 2, "RGB": 3, "YCbCr": 3}
# Decoded bytes one compressed byte can expand to: deflate (PNG) stops near 1032:1; other codecs (LZW, RLE,
# JPEG's entropy coding) stay well below 4096:1. A file claiming more is lying about its dimensions.
_MAX_EXPANSION = {"PNG": 1100}
_DEFAULT_EXPANSION = 4096
_CHECK_EXPANSION_ABOVE = 64 * 1024 * 1024  # small images are cheap to try whatever they claim
_ORIENTATION_TAG = 0x0112
_WHITE = (255, 255, 255)


class Rejected(Exception):
    """A file that is not imported: `code` groups reasons in summaries, `detail` says what exactly."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ImageMeta:
    """Metadata of an image as the project shows it."""

    width: int  # as displayed: EXIF orientation applied
    height: int
    format: str
    mode: str
    has_alpha: bool
    exif_orientation: int
    frames: int


def open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Open `data` as an image after sniffing its real format and refusing bombs; nothing is decoded yet.

    Raises:
        Rejected: not an image, an unsupported format, too many pixels, implausible dimensions, or a
            structure Pillow's ``verify`` finds broken (truncated / bad checksums).
    """
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > 2 * Image.MAX_IMAGE_PIXELS:
        # Pillow refuses more than twice its own limit on open; honour a larger configured limit (only ever
        # raising Pillow's process-wide guard, never lowering it for other code).
        Image.MAX_IMAGE_PIXELS = max_pixels // 2 + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise Rejected("decompression bomb", str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise Rejected("not an image", "the content is not an image format Pillow can read") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # SyntaxError: Pillow's parsers signal bad headers so
        raise Rejected("corrupt", f"cannot read the image header: {exc}") from exc
    fmt = image.format or "?"
    if fmt not in SUPPORTED_FORMATS:
        raise Rejected("unsupported format", f"{fmt} is not one of {', '.join(sorted(SUPPORTED_FORMATS))}")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise Rejected("corrupt", f"declared size {width}x{height}")
    if width * height > max_pixels:
        raise Rejected("decompression bomb", f"{width}x{height} = {width * height:,} pixels > {max_pixels:,}")
    decoded_bytes = width * height * _BYTES_PER_PIXEL.get(image.mode, 4)
    expansion = _MAX_EXPANSION.get(fmt, _DEFAULT_EXPANSION)
    if decoded_bytes > _CHECK_EXPANSION_ABOVE and decoded_bytes > expansion * len(data):
        raise Rejected(
            "implausible dimensions",
            f"declares {width}x{height} ({decoded_bytes / 2**20:,.0f} MiB decoded) in a {len(data):,}-byte file",
        )
    try:
        image.verify()  # PNG: walks every chunk and checks CRCs, so truncation is caught before decoding
    except Exception as exc:  # Pillow raises many types here (OSError, SyntaxError, struct.error, ...)
        raise Rejected("corrupt", f"verification failed: {exc}") from exc
    if fmt == "PNG":
        _check_animation(data)
    # verify() leaves the image unusable; reopening from memory is cheap (headers only).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data))


def _check_animation(data: bytes) -> None:
    """Decode every frame of an APNG: one with broken frames (sequence errors, bad frame data) is refused now,
    not accepted here and refused later by an export that reads its frames. Plain PNGs cost nothing."""
    with Image.open(io.BytesIO(data)) as image:
        frames = int(getattr(image, "n_frames", 1) or 1)
        if frames <= 1:
            return
        frame = 0
        try:
            for frame in range(frames):
                image.seek(frame)
                image.load()
        except Exception as exc:  # SyntaxError("APNG contains frame sequence errors"), zlib errors, ...
            raise Rejected("corrupt", f"animated PNG frame {frame + 1} of {frames} is broken: {exc}") from exc


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not cost the image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def read_meta(image: Image.Image) -> ImageMeta:
    """Metadata from the headers of an opened (not yet decoded) image."""
    orientation = _orientation(image)
    width, height = image.size
    if orientation in (5, 6, 7, 8):  # rotated by 90 or 270 degrees when displayed
        width, height = height, width
    mode = image.mode
    has_alpha = mode in _ALPHA_MODES or "transparency" in image.info
    return ImageMeta(
        width=width,
        height=height,
        format=image.format or "?",
        mode=mode,
        has_alpha=has_alpha,
        exif_orientation=orientation,
        frames=int(getattr(image, "n_frames", 1) or 1),
    )


_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


def _colour_key_mask(image: Image.Image) -> Image.Image | None:
    """The opacity mask (0 = transparent) of a PNG ``tRNS`` colour key on an RGB / grey / 16-bit / 1-bit image;
    None when the image has no colour key (palette transparency and alpha channels are handled elsewhere)."""
    key = image.info.get("transparency")
    if key is None or image.mode == "P" or image.mode in _ALPHA_MODES:
        return None
    pixels = np.asarray(image)
    if pixels.ndim == 3 and isinstance(key, tuple) and len(key) == pixels.shape[2]:
        transparent = np.all(pixels == np.asarray(key, dtype=pixels.dtype), axis=-1)
    elif pixels.ndim == 2 and isinstance(key, int):
        transparent = pixels == (bool(key) if pixels.dtype == np.bool_ else key)
    else:
        return None
    return Image.fromarray(np.where(transparent, 0, 255).astype(np.uint8), "L")


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB view of any mode: alpha and ``tRNS`` colour keys composited on white, 16/32-bit and float
    scaled, CMYK converted."""
    mask = _colour_key_mask(image)
    if mask is not None:
        opaque = image.copy()
        opaque.info.pop("transparency", None)
        flattened = Image.new("RGB", image.size, _WHITE)
        flattened.paste(to_rgb(opaque), mask=mask)
        return flattened
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        # convert("L") clips 16-bit values at 255; scale to the 8-bit range instead.
        as_float = image.convert("F")
        extrema = as_float.getextrema()
        low, high = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]  # one band: two numbers
        span = high - low or 1.0
        image = as_float.point(lambda v: (v - low) * 255.0 / span).convert("L")
        mode = "L"
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if mode == "RGB" else image.convert("RGB")


_RESIZABLE_MODES = frozenset({"RGB", "RGBA", "L", "LA"})  # resized as they are (RGBA with premultiplied alpha)


def reduced_decode(image: Image.Image, longest_side: int) -> Image.Image:
    """Decode once, as small as possible, and return the upright RGB thumbnail (longest side `longest_side`).

    Order matters for speed: shrink first (draft while decoding, then resize), and only then rotate and
    flatten alpha, so those run on 512 px instead of the full image.

    Raises:
        Rejected: the pixel data is truncated or corrupt.
    """
    width, height = image.size
    scale = longest_side / max(width, height)
    if scale < 1 and image.format in ("JPEG", "MPO"):
        # Ask libjpeg for the smallest DCT scale whose output still covers the thumbnail size.
        image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
    try:
        image.load()  # first frame of animations
        if image.mode not in _RESIZABLE_MODES or "transparency" in image.info:
            # Palette, 16-bit, CMYK ...: resizing them directly is lossy (nearest) or unsupported. A tRNS colour
            # key is flattened before resizing: resampling mixes the key colour into its neighbours.
            image = to_rgb_keeping_exif(image)
        image.thumbnail((longest_side, longest_side), Image.Resampling.BICUBIC)
        upright = ImageOps.exif_transpose(image) or image
        return to_rgb(upright)
    except Image.DecompressionBombError as exc:
        raise Rejected("decompression bomb", str(exc)) from exc
    except Exception as exc:  # truncated data, bad Huffman tables, broken zlib streams ...
        raise Rejected("corrupt", f"cannot decode the pixels: {exc}") from exc


def to_rgb_keeping_exif(image: Image.Image) -> Image.Image:
    """`to_rgb`, keeping the EXIF block so the orientation can still be applied afterwards."""
    converted = to_rgb(image)
    if converted is not image and "exif" in image.info:
        converted.info["exif"] = image.info["exif"]
    return converted


def _dct_rows(size: int, keep: int) -> npt.NDArray[np.float64]:
    """The first `keep` rows of the unnormalised DCT-II matrix (what ``scipy.fftpack.dct`` computes)."""
    k = np.arange(keep, dtype=np.float64)[:, None]
    n = np.arange(size, dtype=np.float64)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))


_PHASH_SIZE, _PHASH_BITS = 32, 8
_DCT = _dct_rows(_PHASH_SIZE, _PHASH_BITS)


def phash_bits(image: Image.Image) -> npt.NDArray[np.bool_]:
    """imagehash.phash's algorithm (8x8 low frequencies of a 32x32 DCT against their median), bit for bit.

    Computed with two small matrix products instead of ``scipy.fftpack``: importing scipy costs about 1.6 s
    per process, more than decoding 30 images. A test checks equality with imagehash.phash.
    """
    small = image.convert("L").resize((_PHASH_SIZE, _PHASH_SIZE), Image.Resampling.LANCZOS)
    pixels = np.asarray(small, dtype=np.float64)
    low = _DCT @ pixels @ _DCT.T
    return np.asarray(low > np.median(low))


def phash_of(image: Image.Image) -> tuple[str, int]:
    """The 64-bit pHash of `image` as 16 hex digits and as a signed int64 (what `images.phash_int` stores)."""
    hex_value = str(imagehash.ImageHash(phash_bits(image)))
    unsigned = int(hex_value, 16)
    return hex_value, unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned


def encode_thumbnail(image: Image.Image, fmt: str, quality: int) -> bytes:
    """Encode an RGB thumbnail as JPEG or WebP bytes."""
    buffer = io.BytesIO()
    if fmt == "webp":
        image.save(buffer, "WEBP", quality=quality, method=4)
    else:
        image.save(buffer, "JPEG", quality=quality, optimize=False)
    return buffer.getvalue()


def full_phash(data: bytes) -> str:
    """pHash of the fully decoded image (no draft, no thumbnail): the reference the benchmark compares with."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        return str(imagehash.ImageHash(phash_bits(to_rgb(upright))))
