"""Decoding an image for the viewer: EXIF-upright, at the size shown (full resolution only when zoomed in), and
the small cache of recent decodes that makes "next image" a hit when it was prefetched.

Worker side: `decode_for_view` runs on the JobManager's "viewer" lane and returns a QImage (thread-safe);
`DecodeCache` is used from the GUI thread only.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QImage, QImageIOHandler, QImageReader

from lorairo.exceptions import ImageProcessingError

PREFETCH_CACHE = 6  # decodes at view size kept (about 3 MB each at 1000 x 750)
_SWAPPING = (
    QImageIOHandler.Transformation.TransformationRotate90,
    QImageIOHandler.Transformation.TransformationRotate270,
    QImageIOHandler.Transformation.TransformationMirrorAndRotate90,
    QImageIOHandler.Transformation.TransformationFlipAndRotate90,
)


@dataclass(frozen=True)
class ViewImage:
    """A decoded image and the upright size of the file it came from (it may be decoded smaller)."""

    image: QImage
    full_size: QSize

    @property
    def is_full(self) -> bool:
        return self.image.width() >= self.full_size.width()


def decode_for_view(path: Path, target: QSize | None) -> ViewImage:
    """Decode `path` EXIF-upright, no larger than needed to fill `target` (None: full resolution).

    Worker side. Qt's reader decodes JPEG at 1/2, 1/4, 1/8 scale directly, so a 4000 px photo shown in a
    1000 px view costs a fraction of a full decode. Formats Qt cannot read fall back to Pillow.
    """
    if not path.is_file():
        raise ImageProcessingError(f"{path}: the image file is missing")
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    raw = reader.size()  # as stored, before the EXIF rotation
    swapped = reader.transformation() in _SWAPPING
    full = QSize(raw.height(), raw.width()) if swapped else QSize(raw)
    if target is not None and raw.isValid() and full.width() > 0 and full.height() > 0:
        scale = min(target.width() / full.width(), target.height() / full.height())
        if scale < 1.0:
            reader.setScaledSize(QSize(max(1, round(raw.width() * scale)), max(1, round(raw.height() * scale))))
    image = reader.read()
    if image.isNull():
        image = _decode_with_pillow(path, reader.errorString(), target)
        if not full.isValid() or full.isEmpty():
            full = image.size()
    return ViewImage(image, full if full.isValid() and not full.isEmpty() else image.size())


def _decode_with_pillow(path: Path, qt_error: str, target: QSize | None) -> QImage:
    import warnings

    from loguru import logger
    from PIL import Image, ImageOps

    try:
        # Pillow's "Corrupt EXIF data" and the like go to the log with the file's name, not to the terminal.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Image.open(path) as opened:
                upright = ImageOps.exif_transpose(opened).convert("RGBA")
    except Exception as exc:
        raise ImageProcessingError(f"{path}: cannot decode the image ({qt_error}; Pillow: {exc})") from exc
    for message in dict.fromkeys(str(w.message) for w in caught):
        logger.warning("{}: {}", path, message)
    if target is not None:
        upright.thumbnail((max(1, target.width()), max(1, target.height())))
    data = upright.tobytes("raw", "RGBA")
    image = QImage(data, upright.width, upright.height, upright.width * 4, QImage.Format.Format_RGBA8888)
    return image.copy()  # detach from `data`, which Python frees


def decode_quietly(path: Path, target: QSize) -> ViewImage | None:
    """A prefetch: a file that cannot be decoded is reported when it is shown, not while the user is elsewhere."""
    try:
        return decode_for_view(path, target)
    except ImageProcessingError:
        return None


class DecodeCache:
    """The last few decodes at view size (a prefetched neighbour makes "next image" a cache hit). GUI thread."""

    def __init__(self, size: int = PREFETCH_CACHE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int, int], ViewImage] = OrderedDict()
        self.pending: set[tuple[str, int, int]] = set()

    @staticmethod
    def key(path: Path, target: QSize) -> tuple[str, int, int]:
        return str(path), target.width(), target.height()

    def get(self, path: Path, target: QSize) -> ViewImage | None:
        key = self.key(path, target)
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, path: Path, target: QSize, image: ViewImage) -> None:
        key = self.key(path, target)
        self.pending.discard(key)
        self._items[key] = image
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
        self.pending.clear()
