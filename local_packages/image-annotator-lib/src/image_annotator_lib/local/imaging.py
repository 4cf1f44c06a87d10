"""Image normalisation and the exact preprocessing of each local model family (numpy + Pillow only).

Every model first gets `to_rgb()`: EXIF orientation applied, 16-bit and float images scaled to 8 bits (not
clipped), anything with transparency (RGBA, LA, PA, P/L/RGB with a tRNS key) composited on white, CMYK/YCbCr/...
converted to RGB. Images over `HUGE_SIDE` pixels on a side are first reduced by an integer box filter, so a
gigapixel scan costs memory in proportion to the model input, not to the scan.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageOps

from image_annotator_lib.core.errors import InvalidImageError

HUGE_SIDE = 8192
WHITE = (255, 255, 255)
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit / 32-bit integer and float greyscale to 8-bit L, scaled so that white stays white."""
    arr = np.asarray(image)
    if image.mode in _SIXTEEN_BIT:
        scaled = arr.astype(np.float32) / 257.0
    elif image.mode == "I":
        top = float(arr.max(initial=0))
        scaled = arr.astype(np.float32) / (257.0 if top > 255 and top <= 65535 else max(top / 255.0, 1.0))
    else:  # "F": 0..1 floats are the usual convention; larger values are taken as 0..255
        top = float(np.nanmax(arr)) if arr.size else 0.0
        scaled = np.nan_to_num(arr.astype(np.float32)) * (255.0 if top <= 1.0 else 1.0)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def to_rgb(image: Image.Image) -> Image.Image:
    """The image as 8-bit RGB on white, upright. Raises InvalidImageError with the reason."""
    try:
        image.load()
        width, height = image.size
        if width < 1 or height < 1:
            raise InvalidImageError(f"image has no pixels ({width}x{height})")
        if image.getexif().get(0x0112, 1) not in (0, 1):  # exif_transpose copies even when there is nothing to do
            image = ImageOps.exif_transpose(image) or image
        if image.mode in _SIXTEEN_BIT or image.mode in ("I", "F"):
            image = _eight_bit(image)
        has_alpha = image.mode in _ALPHA_MODES or (
            image.mode in ("P", "L", "RGB", "1") and "transparency" in image.info
        )
        target = "RGBA" if has_alpha else "RGB"
        if image.mode != target:
            image = image.convert(target)
        side = max(image.size)
        if side > HUGE_SIDE:
            factor = math.ceil(side / HUGE_SIDE)
            image = image.reduce(factor)
        if has_alpha:
            canvas = Image.new("RGBA", image.size, (*WHITE, 255))
            canvas.alpha_composite(image)
            image = canvas.convert("RGB")
        return image
    except InvalidImageError:
        raise
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise InvalidImageError(f"cannot read image ({image.mode} {image.size}): {exc}") from exc


def pad_square(image: Image.Image) -> Image.Image:
    """Pad an RGB image to a white square of side max(w, h), centred (odd remainder goes right/bottom)."""
    width, height = image.size
    side = max(width, height)
    if width == height:
        return image
    canvas = Image.new("RGB", (side, side), WHITE)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def wd_input(image: Image.Image, size: int) -> np.ndarray:
    """WD tagger input (H, W, 3): pad square white, bicubic to size, float32 0..255, BGR, no normalisation."""
    square = pad_square(to_rgb(image))
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.BICUBIC)
    out = np.empty((size, size, 3), dtype=np.float32)
    out[...] = np.asarray(square)[:, :, ::-1]  # one pass: uint8 RGB -> float32 BGR
    return out


def clip_input(image: Image.Image, size: int = 224) -> np.ndarray:
    """CLIP input (3, S, S): shortest side to S bicubic, centre crop S, /255, CLIP mean/std."""
    rgb = to_rgb(image)
    width, height = rgb.size
    if width <= height:
        new_w, new_h = size, max(size, int(size * height / width))
    else:
        new_w, new_h = max(size, int(size * width / height)), size
    if (new_w, new_h) != (width, height):
        rgb = rgb.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left = round((new_w - size) / 2.0)
    top = round((new_h - size) / 2.0)
    crop = rgb.crop((left, top, left + size, top + size))
    arr = (np.asarray(crop, dtype=np.float32) / 255.0 - CLIP_MEAN) / CLIP_STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def siglip_input(image: Image.Image, size: int = 384) -> np.ndarray:
    """SigLIP input (3, S, S): resize to S x S bicubic, /255, mean 0.5, std 0.5."""
    rgb = to_rgb(image)
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
    arr = (np.asarray(rgb, dtype=np.float32) / 255.0 - 0.5) / 0.5
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


PREPROCESSORS: dict[str, Callable[[Image.Image, int], np.ndarray]] = {
    "clip": clip_input,
    "siglip": siglip_input,
    "wd": wd_input,
}
