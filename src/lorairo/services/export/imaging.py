"""Write one exported image (runs in a worker process: Pillow only, no database, no Qt).

Steps: bake EXIF orientation into the pixels (sd-scripts ignores it), take the first frame of animations,
composite alpha onto the background colour or keep it as a mask, resize and centre-crop onto the sd-scripts
bucket (area averaging when shrinking, like cv2.INTER_AREA; Lanczos otherwise), save in a format sd-scripts
reads. A file that needs none of that is copied byte for byte.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from lorairo.services.export.bucketing import BucketSettings, select_bucket

#: Pillow format -> extension, for formats sd-scripts reads (png, jpg, jpeg, webp, bmp).
KEEPABLE_FORMATS: dict[str, str] = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp"}
_SAVE_FORMAT = {".jpg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}
MASK_SUFFIX = "-masklabel.png"


def output_extension(source_format: str, image_format: str, keep_alpha: bool) -> str:
    """Extension of the exported file: the original when sd-scripts reads it, PNG for GIF/TIFF/others."""
    if image_format == "png":
        return ".png"
    if image_format == "jpg":
        return ".jpg"
    if image_format == "webp":
        return ".webp"
    ext = KEEPABLE_FORMATS.get(source_format.upper(), ".png")
    if keep_alpha and ext in (".jpg", ".bmp"):
        return ".png"
    return ext


@dataclass(frozen=True)
class ImageJob:
    """One image to write. ``alpha``: composite / keep (RGBA out) / mask (composite + mask file)."""

    image_id: int
    source: str
    dest: str
    buckets: BucketSettings | None
    alpha: str = "composite"
    background: tuple[int, int, int] = (255, 255, 255)
    mask_dest: str | None = None
    quality: int = 95
    resize_filter: str = "area"
    allow_copy: bool = True


@dataclass(frozen=True)
class ImageJobResult:
    image_id: int
    size: tuple[int, int] | None = None
    error: str | None = None
    copied: bool = False
    mask_written: bool = False


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)


def _to_rgb_or_rgba(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping (Pillow's convert would clip at 255).
        img = img.point(lambda v: v / 256).convert("L")
    if _has_alpha(img):
        return img.convert("RGBA")
    return img.convert("RGB")


def _resize(img: Image.Image, size: tuple[int, int], shrink_filter: str) -> Image.Image:
    if img.size == size:
        return img
    shrinking = size[0] < img.width and size[1] < img.height
    if shrinking and shrink_filter == "area":
        return img.resize(size, Image.Resampling.BOX)
    return img.resize(size, Image.Resampling.LANCZOS)


def process_image(job: ImageJob) -> ImageJobResult:
    """Write ``job.dest`` (and the mask); never raises: failures come back as ``error``."""
    try:
        return _process(job)
    except Exception as exc:  # one bad file must not stop the export; the message names it
        return ImageJobResult(job.image_id, error=f"{type(exc).__name__}: {exc}")


def _process(job: ImageJob) -> ImageJobResult:
    source = Path(job.source)
    dest = Path(job.dest)
    with Image.open(source) as opened:
        orientation = opened.getexif().get(0x0112, 1)
        upright = _oriented_size(opened.size, orientation)
        plan = select_bucket(*upright, job.buckets) if job.buckets else None
        alpha = _has_alpha(opened)
        same_format = KEEPABLE_FORMATS.get(opened.format or "") == dest.suffix.lower() and opened.format != "MPO"
        if (
            job.allow_copy
            and same_format
            and orientation in (0, 1)
            and (plan is None or plan.bucket == upright)
            and (not alpha or job.alpha == "keep")
            and getattr(opened, "n_frames", 1) == 1
        ):
            shutil.copyfile(source, dest)
            return ImageJobResult(job.image_id, size=opened.size, copied=True)
        if plan is not None and opened.format in ("JPEG", "MPO") and plan.resized != upright:
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale (never below the size we resize to): several times
            # faster for photos shrunk onto a bucket, and DCT scaling averages pixels like an area filter.
            rotated = orientation in (5, 6, 7, 8)
            opened.draft(opened.mode, (plan.resized[1], plan.resized[0]) if rotated else plan.resized)
        img = ImageOps.exif_transpose(opened) if orientation not in (0, 1) else opened
        img.load()
        img = _to_rgb_or_rgba(img)
    mask: Image.Image | None = None
    if img.mode == "RGBA" and job.alpha != "keep":
        if job.alpha == "mask" and job.mask_dest:
            mask = img.getchannel("A")
        background = Image.new("RGBA", img.size, (*job.background, 255))
        img = Image.alpha_composite(background, img).convert("RGB")
    if plan is not None and img.size != plan.bucket:
        box = (plan.crop_left, plan.crop_top, plan.crop_left + plan.bucket[0], plan.crop_top + plan.bucket[1])
        img = _resize(img, plan.resized, job.resize_filter).crop(box)
        if mask is not None:
            mask = _resize(mask, plan.resized, job.resize_filter).crop(box)
    _save(img, dest, job.quality)
    if mask is not None and job.mask_dest:
        mask.save(job.mask_dest, "PNG")
    return ImageJobResult(job.image_id, size=img.size, mask_written=mask is not None)


def _oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    # EXIF orientations 5-8 rotate by 90 degrees: width and height swap once the orientation is baked in.
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _save(img: Image.Image, dest: Path, quality: int) -> None:
    fmt = _SAVE_FORMAT.get(dest.suffix.lower(), "PNG")
    if fmt == "JPEG":
        img.convert("RGB").save(dest, fmt, quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        img.save(dest, fmt, quality=quality, method=4)
    elif fmt == "BMP":
        img.convert("RGB").save(dest, fmt)
    else:
        img.save(dest, fmt, compress_level=6)
