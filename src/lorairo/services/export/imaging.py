"""Write one exported image (runs in a worker process: Pillow only, no database, no Qt).

Steps: bake EXIF orientation into the pixels (sd-scripts ignores it), take the first frame of animations,
composite alpha onto the background colour or keep it as a mask, resize and centre-crop onto the sd-scripts
bucket (area averaging when shrinking, like cv2.INTER_AREA; Lanczos otherwise), save in a format sd-scripts
reads. A file that needs none of that is copied byte for byte.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageOps

from lorairo.services.export.bucketing import BucketSettings, select_bucket
from lorairo.services.export.staging import DISK_FULL_ERRNOS

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
    crop: tuple[int, int, int, int] | None = None  # (left, top, width, height) in upright pixels
    mask_source: str | None = None  # the project's stored mask (upright size): cropped and resized like the image
    mask_into_alpha: bool = False  # sd-scripts alpha_mask: the mask becomes the written image's alpha channel
    mask_white_default: bool = False  # write an all-white mask when the image has none (SimpleTuner pairs every image)


@dataclass(frozen=True)
class ImageJobResult:
    image_id: int
    size: tuple[int, int] | None = None
    error: str | None = None
    copied: bool = False
    mask_written: bool = False
    disk_full_at: str | None = None  # set when the write failed for lack of space: the export stops
    # Pillow's warnings while reading the file ("Corrupt EXIF data", ...): the parent logs them with the file's
    # name. A worker process has no log file of its own; left alone they would print through the progress bar.
    warnings: tuple[str, ...] = ()


#: Modes sd-scripts' loader (``convert("RGB")``) reads faithfully: anything else is re-encoded to 8-bit RGB.
_COPYABLE_MODES = frozenset({"RGB", "L"})
_HIGH_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})


def _has_alpha(img: Image.Image) -> bool:
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return True
    return "transparency" in img.info and img.mode in ("P", "1", "L", "RGB", *_HIGH_BIT_MODES)


def _to_eight_bit(img: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """16/32-bit integer or float greyscale -> ``L`` scaled to the data's range (Pillow's convert clips at 255,
    which turns a 16-bit scan white, and cannot read big-endian ``I;16B`` at all), plus a tRNS alpha mask."""
    import numpy as np  # only for these rare modes: keeps the CLI's start-up light

    values = np.asarray(img)
    data = values.astype(np.float64)
    if img.mode.startswith("I;16"):
        top = 65535.0
    elif img.mode == "F":
        finite = data[np.isfinite(data)]
        top = 1.0 if finite.size == 0 or (finite.min() >= 0.0 and finite.max() <= 1.0) else float(finite.max())
    else:
        top = 65535.0 if data.max(initial=0) <= 65535 else float(data.max())
    scaled = np.clip(np.nan_to_num(data) * (255.0 / max(top, 1e-12)), 0, 255)
    grey = Image.fromarray(np.rint(scaled).astype(np.uint8), "L")
    key = img.info.get("transparency")
    alpha = Image.fromarray(np.where(values == key, 0, 255).astype(np.uint8), "L") if isinstance(key, int) else None
    return grey, alpha


def _to_rgb_or_rgba(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB, or RGBA when the image has transparency (alpha channel, palette or colour key)."""
    mode = img.mode
    if mode in _HIGH_BIT_MODES:
        grey, alpha = _to_eight_bit(img)
        if alpha is None:
            return grey.convert("RGB")
        out = grey.convert("RGBA")
        out.putalpha(alpha)
        return out
    if mode == "1":
        key = img.info.get("transparency")
        grey = img.convert("L")  # 0 / 255
        if key is None:
            return grey.convert("RGB")
        out = grey.convert("RGBA")
        out.putalpha(grey.point(lambda v: 0 if v == (255 if key else 0) else 255))
        return out
    if mode in ("La", "RGBa"):
        img = img.convert("RGBA" if mode == "RGBa" else "LA")  # un-premultiply first
    if mode == "LAB":
        from PIL import ImageCms  # LittleCMS: loaded only for the rare LAB image

        lab = ImageCms.createProfile("LAB")
        srgb = ImageCms.createProfile("sRGB")
        converted = ImageCms.applyTransform(img, ImageCms.buildTransform(lab, srgb, "LAB", "RGB"))
        return converted if converted is not None else img.convert("RGB")  # None only when done in place
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
    """Write ``job.dest`` (and the mask); never raises: failures come back as ``error``, Pillow's warnings as
    ``warnings``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _process_or_error(job)
    if not caught:
        return result
    return replace(result, warnings=tuple(dict.fromkeys(str(w.message) for w in caught)))


def _process_or_error(job: ImageJob) -> ImageJobResult:
    try:
        return _process(job)
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            return ImageJobResult(job.image_id, error=str(exc), disk_full_at=exc.filename or job.dest)
        return ImageJobResult(job.image_id, error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # one bad file must not stop the export; the message names it
        return ImageJobResult(job.image_id, error=f"{type(exc).__name__}: {exc}")


def _process(job: ImageJob) -> ImageJobResult:
    source = Path(job.source)
    dest = Path(job.dest)
    with Image.open(source) as opened:
        orientation = opened.getexif().get(0x0112, 1)
        upright = _oriented_size(opened.size, orientation)
        crop = _clamped(job.crop, upright)
        cropped_size = (crop[2], crop[3]) if crop else upright
        plan = select_bucket(*cropped_size, job.buckets) if job.buckets else None
        alpha = _has_alpha(opened)
        same_format = KEEPABLE_FORMATS.get(opened.format or "") == dest.suffix.lower() and opened.format != "MPO"
        if (
            job.allow_copy
            and crop is None
            and job.mask_source is None
            and same_format
            and (opened.mode in _COPYABLE_MODES or (opened.mode == "RGBA" and job.alpha == "keep"))
            and "transparency" not in opened.info
            and _header_size(source) == opened.size
            and orientation in (0, 1)
            and (plan is None or plan.bucket == upright)
            and (not alpha or job.alpha == "keep")
            and getattr(opened, "n_frames", 1) == 1
        ):
            shutil.copyfile(source, dest)
            return ImageJobResult(job.image_id, size=opened.size, copied=True)
        if crop is None and plan is not None and opened.format in ("JPEG", "MPO") and plan.resized != upright:
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale (never below the size we resize to): several times
            # faster for photos shrunk onto a bucket, and DCT scaling averages pixels like an area filter.
            rotated = orientation in (5, 6, 7, 8)
            opened.draft(opened.mode, (plan.resized[1], plan.resized[0]) if rotated else plan.resized)
        img = ImageOps.exif_transpose(opened) if orientation not in (0, 1) else opened
        img.load()
        img = _to_rgb_or_rgba(img)
    mask: Image.Image | None = None
    if job.mask_source is not None:
        mask = _load_mask(Path(job.mask_source), upright)
    if img.mode == "RGBA" and (job.alpha != "keep" or job.mask_into_alpha):
        if mask is None and job.alpha == "mask" and (job.mask_dest or job.mask_into_alpha):
            mask = img.getchannel("A")
        background = Image.new("RGBA", img.size, (*job.background, 255))
        img = Image.alpha_composite(background, img).convert("RGB")
    if crop is not None:
        # The user's crop first, then the bucket: the mask takes exactly the same two steps.
        box = (crop[0], crop[1], crop[0] + crop[2], crop[1] + crop[3])
        img = img.crop(box)
        if mask is not None:
            mask = mask.crop(box)
    if plan is not None and img.size != plan.bucket:
        box = (plan.crop_left, plan.crop_top, plan.crop_left + plan.bucket[0], plan.crop_top + plan.bucket[1])
        img = _resize(img, plan.resized, job.resize_filter).crop(box)
        if mask is not None:
            mask = _resize(mask, plan.resized, job.resize_filter).crop(box)
    real_mask = mask is not None
    if mask is None and job.mask_white_default and job.mask_dest:
        mask = Image.new("L", img.size, 255)
    if job.mask_into_alpha:
        rgba = img.convert("RGB")
        rgba.putalpha(mask if mask is not None else Image.new("L", img.size, 255))
        img = rgba
    _save(img, dest, job.quality)
    written = False
    if mask is not None and job.mask_dest:
        _save_mask(mask, Path(job.mask_dest))
        written = True
    # Counted: masks from the project or the image's alpha, not the all-white fillers SimpleTuner is paired with.
    return ImageJobResult(job.image_id, size=img.size, mask_written=real_mask and (written or job.mask_into_alpha))


def _save_mask(mask: Image.Image, dest: Path) -> None:
    """A mask in the format its name says (SimpleTuner pairs masks by the image's own file name): PNG, lossless
    WebP, or JPEG at full quality without chroma subsampling."""
    fmt = _SAVE_FORMAT.get(dest.suffix.lower(), "PNG")
    if fmt == "JPEG":
        mask.save(dest, fmt, quality=100, subsampling=0)
    elif fmt == "WEBP":
        mask.save(dest, fmt, lossless=True)
    else:
        mask.save(dest, fmt)


def _clamped(crop: tuple[int, int, int, int] | None, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The crop inside the upright image (None when absent, empty or the whole image)."""
    if crop is None:
        return None
    left, top = max(0, crop[0]), max(0, crop[1])
    right, bottom = min(size[0], crop[0] + crop[2]), min(size[1], crop[1] + crop[3])
    if right <= left or bottom <= top or (left, top, right, bottom) == (0, 0, size[0], size[1]):
        return None
    return (left, top, right - left, bottom - top)


def _load_mask(path: Path, size: tuple[int, int]) -> Image.Image:
    """The stored mask as L at the upright image's size (a mask of another size is stretched onto it)."""
    with Image.open(path) as opened:
        mask = opened.convert("L")
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    return mask


def _header_size(path: Path) -> tuple[int, int] | None:
    """The size the trainers' size reader (sd-scripts uses ``imagesize``) finds in the header, or None.

    Pillow skips junk between JPEG markers that ``imagesize`` cannot walk past (it then reports -1 x -1 and
    training fails on that file); such a file is re-encoded instead of copied byte for byte.
    """
    import imagesize  # small; imported in the worker that copies, not at CLI start-up

    try:
        width, height = imagesize.get(str(path))
    except Exception:  # a header it cannot parse at all: the same verdict as -1 x -1
        return None
    return (int(width), int(height)) if width > 0 and height > 0 else None


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
