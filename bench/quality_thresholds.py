"""Measure the quality metrics on real photos and degraded copies, to choose the `[quality]` defaults.

    uv run python bench/quality_thresholds.py [PHOTOS_DIR]

Every photo in /work/shared/data/photos (or PHOTOS_DIR) is measured as it is and as copies with a known defect:
Gaussian blur of radius 1, 2 and 4 px, darkened (x0.25), brightened (x2.5 + 60), greyscale, letterboxed (black
bands of 15% of the height at top and bottom) and re-saved as JPEG quality 40. The metrics come from the same
code an import runs (`imaging.reduced_decode` then `quality.measure`), so the table is what the filters see.
The last column says which checks the shipped defaults flag: degraded copies should be flagged by their check,
originals by none of the metric checks (except where the photo really is so: see docs/benchmarks.md).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from lorairo.services.importing.imaging import open_checked, reduced_decode
from lorairo.services.importing.quality import QualityMetrics, measure, quantization_of
from lorairo.services.quality_rules import QualityThresholds

PHOTOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "photos"
ROOT = Path("/work/shared/data/photos")


def _save(image: Image.Image, fmt: str = "PNG", **kwargs: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def letterbox(image: Image.Image, share: float = 0.15) -> Image.Image:
    """The photo shrunk into the middle of a canvas of the same size with black bands at top and bottom."""
    band = int(image.height * share)
    inner = image.resize((image.width, image.height - 2 * band))
    canvas = Image.new("RGB", image.size, (0, 0, 0))
    canvas.paste(inner, (0, band))
    return canvas


VARIANTS: dict[str, Callable[[Image.Image], bytes]] = {
    "original": lambda im: _save(im),
    "blur1": lambda im: _save(im.filter(ImageFilter.GaussianBlur(1))),
    "blur2": lambda im: _save(im.filter(ImageFilter.GaussianBlur(2))),
    "blur4": lambda im: _save(im.filter(ImageFilter.GaussianBlur(4))),
    "dark": lambda im: _save(ImageEnhance.Brightness(im).enhance(0.25)),
    "bright": lambda im: _save(im.point(lambda v: min(255, int(v * 2.5 + 60)))),
    "grey": lambda im: _save(ImageOps.grayscale(im).convert("RGB")),
    "letterbox": lambda im: _save(letterbox(im)),
    "jpeg40": lambda im: _save(im, "JPEG", quality=40),
}


def metrics_of(data: bytes) -> QualityMetrics:
    image = open_checked(data, 10**9)
    tables = quantization_of(image)
    return measure(reduced_decode(image, 512), tables)


def flags(m: QualityMetrics, t: QualityThresholds) -> list[str]:
    """The metric checks the thresholds flag (the SQL of quality_rules, in Python for this table)."""
    out = []
    if m.sharpness < t.blurry_sharpness:
        out.append("blurry")
    if m.brightness < t.dark_mean or m.clipped_dark > t.clipped_fraction:
        out.append("dark")
    if m.brightness > t.bright_mean or m.clipped_bright > t.clipped_fraction:
        out.append("bright")
    if m.entropy < t.low_info_entropy:
        out.append("low-info")
    if m.saturation < t.greyscale_saturation:
        out.append("greyscale")
    if m.jpeg_quality is not None and m.jpeg_quality < t.low_jpeg_quality:
        out.append("low-jpeg")
    if m.border_fraction >= t.letterbox_fraction:
        out.append("letterbox")
    return out


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else (PHOTOS if PHOTOS.is_dir() else ROOT)
    t = QualityThresholds()
    print(f"{'photo':<22}{'variant':<10}{'sharp':>9}{'bright':>8}{'clipD':>7}{'clipB':>7}{'entropy':>8}"
          f"{'sat':>7}{'jpegQ':>6}{'border':>7}  flagged")  # fmt: skip
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            continue
        with Image.open(path) as opened:
            photo = opened.convert("RGB")
        for name, make in VARIANTS.items():
            m = metrics_of(make(photo))
            jq = "-" if m.jpeg_quality is None else str(m.jpeg_quality)
            print(
                f"{path.name:<22}{name:<10}{m.sharpness:>9.1f}{m.brightness:>8.3f}{m.clipped_dark:>7.3f}"
                f"{m.clipped_bright:>7.3f}{m.entropy:>8.2f}{m.saturation:>7.3f}{jq:>6}{m.border_fraction:>7.3f}"
                f"  {' '.join(flags(m, t))}"
            )


if __name__ == "__main__":
    main()
