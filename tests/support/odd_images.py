"""Generated odd image files for import tests: tRNS colour keys, broken APNGs, I;16B TIFF, 1-bit, MPO."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk of a PNG."""
    out: list[tuple[bytes, bytes]] = []
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        out.append((kind, png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _assemble(chunks: list[tuple[bytes, bytes]]) -> bytes:
    parts = [b"\x89PNG\r\n\x1a\n"]
    for kind, body in chunks:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        parts.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc))
    return b"".join(parts)


def rgb_colour_key_png(width: int = 64, height: int = 48) -> bytes:
    """RGB PNG whose pure green pixels (the left half) are transparent through a tRNS colour key."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = (0, 255, 0)
    pixels[:, width // 2 :] = (200, 30, 30)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "PNG", transparency=(0, 255, 0))
    return buffer.getvalue()


def gray16_colour_key_png(width: int = 64, height: int = 48) -> bytes:
    """16-bit grey PNG whose value-0 pixels (the left half but the last row) are transparent (tRNS key)."""
    pixels = np.zeros((height, width), dtype=np.uint16)
    pixels[:, width // 2 :] = 10_000
    pixels[-1, :] = 40_000  # a brighter last row: the opaque half scales to a mid grey, not white
    buffer = io.BytesIO()
    Image.frombuffer("I;16", (width, height), pixels.tobytes(), "raw", "I;16", 0, 1).save(buffer, "PNG", transparency=0)
    return buffer.getvalue()


def one_bit_transparent_png(width: int = 64, height: int = 48) -> bytes:
    """1-bit PNG whose black pixels are transparent (tRNS)."""
    pixels = np.zeros((height, width), dtype=bool)
    pixels[:, width // 2 :] = True
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert("1").save(buffer, "PNG", transparency=0)
    return buffer.getvalue()


def tiff_16bit_big_endian(width: int = 64, height: int = 48) -> bytes:
    """A 16-bit big-endian greyscale TIFF (mode I;16B)."""
    ramp = np.tile(np.linspace(0, 65535, width, dtype=np.uint16), (height, 1)).astype(">u2")
    image = Image.frombuffer("I;16B", (width, height), ramp.tobytes(), "raw", "I;16B", 0, 1)
    buffer = io.BytesIO()
    image.save(buffer, "TIFF")
    return buffer.getvalue()


def apng(width: int = 64, height: int = 48, frames: int = 3) -> bytes:
    """A valid animated PNG."""
    images = [Image.new("RGB", (width, height), (40 * i, 100, 200 - 40 * i)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "PNG", save_all=True, append_images=images[1:], duration=100)
    return buffer.getvalue()


def apng_with_sequence_error() -> bytes:
    """An APNG whose second frame has a wrong sequence number (CRCs valid, so `verify` passes)."""
    chunks = _chunks(apng())
    for index, (kind, body) in enumerate(chunks):
        if kind == b"fcTL" and struct.unpack(">I", body[:4])[0] > 0:
            chunks[index] = (kind, struct.pack(">I", 99) + body[4:])
            break
    return _assemble(chunks)


def apng_with_broken_frame_data() -> bytes:
    """An APNG whose second frame's compressed data is garbage (CRCs valid)."""
    chunks = _chunks(apng())
    for index, (kind, body) in enumerate(chunks):
        if kind == b"fdAT":
            chunks[index] = (kind, body[:4] + b"\x78\x9c" + b"\xff" * (len(body) - 6))
            break
    return _assemble(chunks)


def mpo(width: int = 64, height: int = 48) -> bytes:
    """A two-frame MPO (the JPEG variant cameras write for 3-D / depth pictures)."""
    left = Image.new("RGB", (width, height), (200, 50, 50))
    right = Image.new("RGB", (width, height), (50, 200, 50))
    buffer = io.BytesIO()
    left.save(buffer, "MPO", save_all=True, append_images=[right])
    return buffer.getvalue()
