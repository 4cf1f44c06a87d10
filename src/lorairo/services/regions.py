"""Per-image crops and masks (issue 17): set, clear, invert, from a PNG, from the image's own alpha, letterbox.

Qt-free. Every write runs in one transaction, returns a :class:`RegionResult` with the broadcast
:class:`~lorairo.services.changes.Changes`, what was clamped or rescaled (warnings), per-image failures, and the
state before and after, so :class:`RegionCommand` can undo and redo it like an edit.

Storage: the crop lives in ``image_regions`` (upright pixels, EXIF orientation applied, as the viewer shows the
image); the mask is a greyscale PNG ``<project>/masks/<image hash>.png`` at the upright image's size, white =
train on this. Originals are never touched: export applies the crop to the image, its mask and its size.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageChops, ImageOps
from sqlalchemy import select
from sqlalchemy.orm import Session

from lorairo.database.chunks import chunked
from lorairo.database.schema import ImageRecord, ImageRegionRecord
from lorairo.exceptions import LoRAIroException
from lorairo.services.changes import Changes
from lorairo.services.project_service import Project

MASKS_DIR = "masks"

#: A row or column of the border differs from the border colour by at most this (0-255, greyscale) on average,
#: and its pixels vary by at most ``_LETTERBOX_SPREAD``: JPEG noise in a black bar stays within both.
_LETTERBOX_TOLERANCE = 16
_LETTERBOX_SPREAD = 24


class RegionError(LoRAIroException):
    """A crop or mask request was refused (unknown image, unreadable PNG, empty box); nothing was written."""


@dataclass(frozen=True)
class Crop:
    """A rectangle in the upright image's pixels."""

    left: int
    top: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Pillow's (left, top, right, bottom)."""
        return (self.left, self.top, self.left + self.width, self.top + self.height)

    def __str__(self) -> str:
        return f"{self.left},{self.top},{self.width},{self.height}"


def parse_box(text: str) -> Crop:
    """``x,y,w,h`` -> Crop (numbers only; clamping to the image happens when it is set)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(p.lstrip("-").isdigit() for p in parts):
        raise RegionError(f"crop box {text!r} must be four whole numbers x,y,w,h (e.g. 10,20,500,400)")
    x, y, w, h = (int(p) for p in parts)
    if w <= 0 or h <= 0:
        raise RegionError(f"crop box {text!r}: width and height must be positive")
    return Crop(x, y, w, h)


def clamp_crop(crop: Crop, size: tuple[int, int]) -> Crop | None:
    """The part of ``crop`` inside a ``size`` image, or None when nothing of it is inside."""
    width, height = size
    left, top = max(0, crop.left), max(0, crop.top)
    right, bottom = min(width, crop.left + crop.width), min(height, crop.top + crop.height)
    if right <= left or bottom <= top:
        return None
    return Crop(left, top, right - left, bottom - top)


@dataclass(frozen=True)
class RegionState:
    """One image's crop and mask (the PNG bytes) at one moment: what undo and redo put back."""

    image_id: int
    crop: Crop | None
    mask_png: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RegionResult:
    description: str
    changes: Changes
    warnings: tuple[str, ...] = ()
    failures: tuple[tuple[int, str], ...] = ()  # (image id, reason): could not be read
    skipped: tuple[tuple[int, str], ...] = ()  # (image id, reason): nothing to do (no transparency, no mask)
    before: tuple[RegionState, ...] = field(default=(), repr=False)
    after: tuple[RegionState, ...] = field(default=(), repr=False)

    @property
    def changed_ids(self) -> tuple[int, ...]:
        return tuple(sorted(self.changes.image_ids))


class RegionCommand:
    """Undo / redo of one region write (the edit-service pattern: a GUI undo stack drives it)."""

    def __init__(self, result: RegionResult) -> None:
        self.result = result
        self.text = result.description

    def undo(self, service: RegionService) -> RegionResult:
        return service.restore(self.result.before, f"Undo {self.text}")

    def redo(self, service: RegionService) -> RegionResult:
        return service.restore(self.result.after, self.text)


@dataclass(frozen=True)
class _Image:
    id: int
    path: Path
    hash_value: str
    size: tuple[int, int]  # upright
    shown: str


class RegionService:
    """Crops and masks of one open project. Opens its own sessions: safe to call from any worker thread."""

    def __init__(self, project: Project) -> None:
        self.project = project

    # --- reading -------------------------------------------------------------------------------------

    @property
    def masks_dir(self) -> Path:
        return self.project.root / MASKS_DIR

    def state(self, image_id: int) -> RegionState:
        with self.project.db.session() as session:
            self._images(session, [image_id])
            return self._state(session, image_id)

    def mask_path(self, image_id: int) -> Path | None:
        """The stored mask file of an image, or None."""
        with self.project.db.session() as session:
            row = session.scalar(select(ImageRegionRecord).where(ImageRegionRecord.image_id == image_id))
        if row is None or not row.mask_file:
            return None
        return self.project.root / row.mask_file

    def crop(self, image_id: int) -> Crop | None:
        return self.state(image_id).crop

    # --- crops ---------------------------------------------------------------------------------------

    def set_crop(self, image_id: int, crop: Crop) -> RegionResult:
        """Set an image's crop, clamped to the image (the clamping is reported as a warning)."""
        with self.project.db.session(write=True) as session:
            (image,) = self._images(session, [image_id])
            clamped = clamp_crop(crop, image.size)
            if clamped is None:
                raise RegionError(
                    f"crop {crop} lies outside image {image_id} ({image.size[0]}x{image.size[1]}, {image.shown})"
                )
            warnings: list[str] = []
            if clamped != crop:
                warnings.append(
                    f"image {image_id}: crop {crop} reaches outside the {image.size[0]}x{image.size[1]} image; "
                    f"clamped to {clamped}"
                )
            before = self._state(session, image_id)
            self._write_crop(session, image_id, clamped)
            after = RegionState(image_id, clamped, before.mask_png)
        return self._result(f"Crop image {image_id}", [before], [after], warnings)

    def clear_crop(self, image_ids: Iterable[int]) -> RegionResult:
        ids = sorted(set(image_ids))
        befores: list[RegionState] = []
        afters: list[RegionState] = []
        with self.project.db.session(write=True) as session:
            self._images(session, ids)
            for image_id in ids:
                before = self._state(session, image_id)
                if before.crop is None:
                    continue
                self._write_crop(session, image_id, None)
                befores.append(before)
                afters.append(RegionState(image_id, None, before.mask_png))
        return self._result(f"Clear crop of {len(befores)} image(s)", befores, afters)

    def auto_letterbox(self, image_ids: Iterable[int]) -> RegionResult:
        """Crop away uniform bars (black, white or any flat colour) at the edges of each image.

        Images without bars are left alone; images that cannot be read are listed as failures.
        """
        ids = sorted(set(image_ids))
        befores: list[RegionState] = []
        afters: list[RegionState] = []
        failures: list[tuple[int, str]] = []
        found: dict[int, Crop] = {}
        with self.project.db.session() as session:
            images = self._images(session, ids)
        for image in images:  # decoded outside the write transaction: other writers are not held up
            try:
                with Image.open(image.path) as opened:
                    upright = ImageOps.exif_transpose(opened).convert("L")
            except Exception as exc:  # one unreadable file must not stop the batch
                failures.append((image.id, f"{image.shown}: {type(exc).__name__}: {exc}"))
                continue
            box = letterbox_box(upright)
            if box is not None:
                found[image.id] = box
        with self.project.db.session(write=True) as session:
            for image_id, box in found.items():
                before = self._state(session, image_id)
                if before.crop == box:
                    continue
                self._write_crop(session, image_id, box)
                befores.append(before)
                afters.append(RegionState(image_id, box, before.mask_png))
        return self._result(f"Remove letterbox borders of {len(befores)} image(s)", befores, afters, (), failures)

    # --- masks ---------------------------------------------------------------------------------------

    def set_mask_from_png(self, image_id: int, png: Path) -> RegionResult:
        """Use a greyscale (or any) image file as the mask; another size is rescaled to the image, with a warning."""
        try:
            with Image.open(png) as opened:
                mask = _to_mask(opened)
        except Exception as exc:
            raise RegionError(f"cannot read mask {png}: {type(exc).__name__}: {exc}") from exc
        return self.set_mask(image_id, mask, source=str(png))

    def set_mask(self, image_id: int, mask: Image.Image, *, source: str = "mask") -> RegionResult:
        """Store ``mask`` (mode L) for an image, rescaled to its size when it differs (reported)."""
        with self.project.db.session(write=True) as session:
            (image,) = self._images(session, [image_id])
            warnings: list[str] = []
            if mask.size != image.size:
                warnings.append(
                    f"image {image_id}: {source} is {mask.size[0]}x{mask.size[1]}, the image "
                    f"{image.size[0]}x{image.size[1]}; rescaled to the image"
                )
                mask = mask.resize(image.size, Image.Resampling.BILINEAR)
            before = self._state(session, image_id)
            data = _png_bytes(mask)
            self._write_mask(session, image, data)
            after = RegionState(image_id, before.crop, data)
        return self._result(f"Set mask of image {image_id}", [before], [after], warnings)

    def set_mask_from_alpha(self, image_ids: Iterable[int]) -> RegionResult:
        """The mask of each image is its own alpha channel (opaque = train on this). Images without transparency
        are listed as skipped and keep their mask; unreadable ones as failures."""
        ids = sorted(set(image_ids))
        befores: list[RegionState] = []
        afters: list[RegionState] = []
        failures: list[tuple[int, str]] = []
        skipped: list[tuple[int, str]] = []
        found: dict[int, bytes] = {}
        with self.project.db.session() as session:
            images = self._images(session, ids)
        for image in images:  # decoded outside the write transaction
            try:
                with Image.open(image.path) as opened:
                    alpha = _alpha_of(ImageOps.exif_transpose(opened))
            except Exception as exc:  # one unreadable file must not stop the batch
                failures.append((image.id, f"{image.shown}: {type(exc).__name__}: {exc}"))
                continue
            if alpha is None:
                skipped.append((image.id, f"{image.shown}: has no transparency to make a mask from"))
                continue
            found[image.id] = _png_bytes(alpha)
        by_id = {image.id: image for image in images}
        with self.project.db.session(write=True) as session:
            for image_id, data in found.items():
                before = self._state(session, image_id)
                self._write_mask(session, by_id[image_id], data)
                befores.append(before)
                afters.append(RegionState(image_id, before.crop, data))
        return self._result(f"Mask from alpha of {len(befores)} image(s)", befores, afters, (), failures, skipped)

    def invert_mask(self, image_ids: Iterable[int]) -> RegionResult:
        """Invert existing masks (images without one are listed as skipped)."""
        ids = sorted(set(image_ids))
        befores: list[RegionState] = []
        afters: list[RegionState] = []
        skipped: list[tuple[int, str]] = []
        with self.project.db.session(write=True) as session:
            for image in self._images(session, ids):
                before = self._state(session, image.id)
                if before.mask_png is None:
                    skipped.append((image.id, f"{image.shown}: has no mask to invert"))
                    continue
                with Image.open(io.BytesIO(before.mask_png)) as opened:
                    inverted = ImageChops.invert(opened.convert("L"))
                data = _png_bytes(inverted)
                self._write_mask(session, image, data)
                befores.append(before)
                afters.append(RegionState(image.id, before.crop, data))
        return self._result(f"Invert mask of {len(befores)} image(s)", befores, afters, (), (), skipped)

    def clear_mask(self, image_ids: Iterable[int]) -> RegionResult:
        ids = sorted(set(image_ids))
        befores: list[RegionState] = []
        afters: list[RegionState] = []
        with self.project.db.session(write=True) as session:
            for image in self._images(session, ids):
                before = self._state(session, image.id)
                if before.mask_png is None:
                    continue
                self._write_mask(session, image, None)
                befores.append(before)
                afters.append(RegionState(image.id, before.crop, None))
        return self._result(f"Clear mask of {len(befores)} image(s)", befores, afters)

    # --- undo ----------------------------------------------------------------------------------------

    def restore(self, states: Sequence[RegionState], description: str) -> RegionResult:
        """Put crops and masks back as ``states`` record them (undo / redo)."""
        befores: list[RegionState] = []
        with self.project.db.session(write=True) as session:
            images = {i.id: i for i in self._images(session, [s.image_id for s in states])}
            for state in states:
                befores.append(self._state(session, state.image_id))
                self._write_crop(session, state.image_id, state.crop)
                self._write_mask(session, images[state.image_id], state.mask_png)
        return self._result(description, befores, list(states))

    # --- internals -----------------------------------------------------------------------------------

    def _images(self, session: Session, ids: Sequence[int]) -> list[_Image]:
        rows: list[ImageRecord] = []
        for chunk in chunked(sorted(set(ids))):
            rows.extend(session.scalars(select(ImageRecord).where(ImageRecord.id.in_(chunk))))
        missing = sorted(set(ids) - {r.id for r in rows})
        if missing:
            shown = ", ".join(str(i) for i in missing[:10])
            raise RegionError(f"no image with id {shown}{' ...' if len(missing) > 10 else ''} in this project")
        out = []
        for rec in sorted(rows, key=lambda r: r.id):
            path = Path(rec.file_path)
            out.append(
                _Image(
                    id=rec.id,
                    path=path if path.is_absolute() else self.project.root / path,
                    hash_value=rec.hash_value,
                    size=(rec.width, rec.height),
                    shown=rec.original_path or rec.file_name,
                )
            )
        return out

    def _row(self, session: Session, image_id: int) -> ImageRegionRecord | None:
        return session.scalar(select(ImageRegionRecord).where(ImageRegionRecord.image_id == image_id))

    def _state(self, session: Session, image_id: int) -> RegionState:
        row = self._row(session, image_id)
        if row is None:
            return RegionState(image_id, None, None)
        crop = None
        if row.crop_left is not None and row.crop_top is not None and row.crop_width and row.crop_height:
            crop = Crop(row.crop_left, row.crop_top, row.crop_width, row.crop_height)
        data = None
        if row.mask_file:
            path = self.project.root / row.mask_file
            data = path.read_bytes() if path.is_file() else None
        return RegionState(image_id, crop, data)

    def _ensure_row(self, session: Session, image_id: int) -> ImageRegionRecord:
        row = self._row(session, image_id)
        if row is None:
            row = ImageRegionRecord(image_id=image_id)
            session.add(row)
        return row

    def _write_crop(self, session: Session, image_id: int, crop: Crop | None) -> None:
        row = self._ensure_row(session, image_id)
        row.crop_left = crop.left if crop else None
        row.crop_top = crop.top if crop else None
        row.crop_width = crop.width if crop else None
        row.crop_height = crop.height if crop else None
        session.flush()

    def _write_mask(self, session: Session, image: _Image, data: bytes | None) -> None:
        row = self._ensure_row(session, image.id)
        relative = f"{MASKS_DIR}/{image.hash_value}.png"
        path = self.project.root / relative
        if data is None:
            row.mask_file = None
            session.flush()
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed: a crash never leaves half a PNG under the mask's name.
        fd, tmp = tempfile.mkstemp(prefix=".mask-", suffix=".png", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        row.mask_file = relative
        session.flush()

    @staticmethod
    def _result(
        description: str,
        befores: Sequence[RegionState],
        afters: Sequence[RegionState],
        warnings: Sequence[str] = (),
        failures: Sequence[tuple[int, str]] = (),
        skipped: Sequence[tuple[int, str]] = (),
    ) -> RegionResult:
        return RegionResult(
            description=description,
            changes=Changes.of(s.image_id for s in afters),
            warnings=tuple(warnings),
            failures=tuple(failures),
            skipped=tuple(skipped),
            before=tuple(befores),
            after=tuple(afters),
        )


def _png_bytes(mask: Image.Image) -> bytes:
    buffer = io.BytesIO()
    mask.convert("L").save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def _to_mask(img: Image.Image) -> Image.Image:
    """Any image -> an L mask: its alpha when it has one and is otherwise flat, else its luminance."""
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        if rgba.convert("L").getextrema()[0] == rgba.convert("L").getextrema()[1]:
            return rgba.getchannel("A")
    return img.convert("L")


def _alpha_of(img: Image.Image) -> Image.Image | None:
    """The alpha channel (mode L) of an image with transparency, or None."""
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return img.convert("RGBA").getchannel("A")
    if "transparency" in img.info:
        return img.convert("RGBA").getchannel("A")
    return None


def _paired(first: int, second: int) -> bool:
    """Letterbox and pillarbox bars come in pairs of about the same size; one flat edge alone is a clear sky or
    a studio backdrop, which must not be cropped away."""
    return first > 0 and second > 0 and abs(first - second) <= max(2, (first + second) // 10)


def letterbox_box(grey: Image.Image) -> Crop | None:
    """The content rectangle inside flat bars at the image's edges (mode L input), or None without bars.

    Bars are rows (columns) of one colour, the corners' median, on both opposite edges with about the same size.
    """
    import numpy as np  # only for this scan

    data = np.asarray(grey, dtype=np.int16)
    height, width = data.shape
    if height < 4 or width < 4:
        return None
    corners = np.array([data[0, 0], data[0, -1], data[-1, 0], data[-1, -1]])
    border = int(np.median(corners))

    def flat(line: np.ndarray) -> bool:
        return bool(
            abs(float(line.mean()) - border) <= _LETTERBOX_TOLERANCE
            and int(line.max()) - int(line.min()) <= _LETTERBOX_SPREAD
        )

    top = 0
    while top < height and flat(data[top, :]):
        top += 1
    if top == height:
        return None  # the whole image is one flat colour: nothing to keep
    bottom = height
    while bottom > top and flat(data[bottom - 1, :]):
        bottom -= 1
    if not _paired(top, height - bottom):
        top, bottom = 0, height
    left = 0
    while left < width and flat(data[top:bottom, left]):
        left += 1
    right = width
    while right > left and flat(data[top:bottom, right - 1]):
        right -= 1
    if not _paired(left, width - right):
        left, right = 0, width
    if (top, bottom, left, right) == (0, height, 0, width):
        return None
    return Crop(left, top, right - left, bottom - top)
