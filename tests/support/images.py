"""Image generators for tests and benchmarks: photo-like images, mixed corpora and broken files.

Photo-like images have what makes real photos cost what they cost to decode and hash: smooth lighting,
large shapes (distinct pHashes), and sensor-like noise (realistic JPEG sizes at quality 90). Every generator
is deterministic for a given seed.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

_NOISE_TILE = 256


def photo_like(width: int, height: int, seed: int, *, alpha: bool = False) -> Image.Image:
    """A deterministic RGB (or RGBA) image with smooth lighting, 6-12 shapes and noise."""
    rng = np.random.default_rng(seed)
    # Smooth lighting: a random 6x6 colour field upsampled; it drives the low frequencies pHash looks at,
    # so different seeds give unrelated pHashes.
    field = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    image = Image.fromarray(field, "RGB").resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(6, 13))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(width // 8, width // 2 + 1)), int(rng.integers(height // 8, height // 2 + 1))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        box = (x0 - w // 2, y0 - h // 2, x0 + w // 2, y0 + h // 2)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=color)
        else:
            draw.rectangle(box, fill=color)
    # Sensor-like noise from a tiled random patch (fast at 3000 px, and enough to make JPEGs photo-sized).
    tile = rng.integers(-10, 11, size=(_NOISE_TILE, _NOISE_TILE, 1), dtype=np.int16)
    reps = (height // _NOISE_TILE + 1, width // _NOISE_TILE + 1, 1)
    noise = np.tile(tile, reps)[:height, :width]
    pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    result = Image.fromarray(pixels, "RGB")
    if alpha:
        # Smooth random transparency, different per image: a shared cut-out would give every PNG the same
        # white areas (after flattening on white) and pull their pHashes together.
        alpha_field = rng.integers(0, 256, size=(5, 5), dtype=np.uint8)
        mask = Image.fromarray(alpha_field, "L").resize((width, height), Image.Resampling.BICUBIC)
        result.putalpha(mask)
    return result


def write_jpeg(path: Path, width: int, height: int, seed: int, *, quality: int = 90, orientation: int = 1) -> Path:
    """A photo-like JPEG, optionally with an EXIF orientation tag."""
    image = photo_like(width, height, seed)
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=quality, exif=exif.tobytes())
    return path


def write_png(path: Path, width: int, height: int, seed: int, *, alpha: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    photo_like(width, height, seed, alpha=alpha).save(path, "PNG", compress_level=6)
    return path


def write_webp(path: Path, width: int, height: int, seed: int, *, quality: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    photo_like(width, height, seed).save(path, "WEBP", quality=quality)
    return path


def mixed_corpus(
    folder: Path,
    count: int,
    *,
    seed: int = 0,
    jpeg_sides: tuple[int, int] = (1024, 3000),
    png_sides: tuple[int, int] = (1024, 2048),
) -> list[Path]:
    """About 70% JPEG (q90), 20% PNG with alpha, 10% WebP, random sizes and aspect ratios."""
    rng = np.random.default_rng(seed)
    paths: list[Path] = []
    for index in range(count):
        roll = index % 10
        kind, sides = (
            ("png", png_sides) if roll in (3, 7) else ("webp", jpeg_sides) if roll == 9 else ("jpg", jpeg_sides)
        )
        long_side = int(rng.integers(sides[0], sides[1] + 1))
        short_side = int(long_side * rng.uniform(0.6, 1.0))
        width, height = (long_side, short_side) if rng.random() < 0.6 else (short_side, long_side)
        target = folder / f"{index // 100:03d}" / f"img_{index:05d}.{kind}"
        image_seed = seed * 1_000_003 + index
        if kind == "jpg":
            paths.append(write_jpeg(target, width, height, image_seed))
        elif kind == "png":
            paths.append(write_png(target, width, height, image_seed))
        else:
            paths.append(write_webp(target, width, height, image_seed))
    return paths


# --- broken and unusual files -------------------------------------------------------------------------


def jpeg_bytes(width: int = 256, height: int = 192, seed: int = 1, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    photo_like(width, height, seed).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(width: int = 256, height: int = 192, seed: int = 2, alpha: bool = False) -> bytes:
    buffer = io.BytesIO()
    photo_like(width, height, seed, alpha=alpha).save(buffer, "PNG")
    return buffer.getvalue()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The first `keep` fraction of an encoded image."""
    return data[: int(len(data) * keep)]


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims `width` x `height` (one compressed row of data)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def cmyk_jpeg(width: int = 200, height: int = 150, seed: int = 3) -> bytes:
    buffer = io.BytesIO()
    photo_like(width, height, seed).convert("CMYK").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def png16_gray(width: int = 200, height: int = 150) -> bytes:
    """A 16-bit grayscale PNG with values across the whole 0-65535 range."""
    ramp = np.linspace(0, 65535, width * height, dtype=np.float64).reshape(height, width).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, "PNG")  # uint16 array -> mode I;16
    return buffer.getvalue()


def palette_png_transparent(width: int = 160, height: int = 120, seed: int = 4) -> bytes:
    image = photo_like(width, height, seed).quantize(colors=32)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    return buffer.getvalue()


def animated_gif(width: int = 120, height: int = 90, frames: int = 3, seed: int = 5) -> bytes:
    images = [photo_like(width, height, seed + i).quantize(colors=64) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return buffer.getvalue()


def exif_rotated_jpeg(width: int = 300, height: int = 200, orientation: int = 6, seed: int = 6) -> bytes:
    """A landscape JPEG whose EXIF says to display it rotated (6 = 90 degrees clockwise: portrait)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    photo_like(width, height, seed).save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()
