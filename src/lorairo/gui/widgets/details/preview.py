"""The large preview: decoded EXIF-upright on a worker, painted scaled to fit (aspect kept).

`decode_preview` runs on a worker thread and returns a QImage (thread-safe, unlike QPixmap). Qt's reader
applies the EXIF orientation (`setAutoTransform`); formats Qt cannot read fall back to Pillow's
`exif_transpose`. `PreviewView` only paints what it is given. GUI thread only for the widget.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from lorairo.exceptions import ImageProcessingError

PREVIEW_MAX_SIDE = 2048  # enough for a sharp preview on a 4K screen; keeps memory per image ~16 MB


def decode_preview(path: Path, max_side: int = PREVIEW_MAX_SIDE) -> QImage:
    """Decode `path` upright (EXIF orientation applied), scaled so its longest side is at most `max_side`.

    The viewer's decoder does it: Qt's reader decodes a JPEG at 1/2, 1/4 or 1/8 scale directly, so a
    4000 px photo costs a fraction of a full decode (measured in bench/review.py)."""
    from lorairo.gui.widgets.viewer import decode_for_view

    return decode_for_view(path, QSize(max_side, max_side)).image


def _decode_with_pillow(path: Path, qt_error: str) -> QImage:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as opened:
            upright = ImageOps.exif_transpose(opened).convert("RGBA")
    except Exception as exc:
        raise ImageProcessingError(f"{path}: cannot decode the image ({qt_error}; Pillow: {exc})") from exc
    data = upright.tobytes("raw", "RGBA")
    image = QImage(data, upright.width, upright.height, upright.width * 4, QImage.Format.Format_RGBA8888)
    return image.copy()  # detach from `data`, which Python frees


class PreviewView(QWidget):
    """Paints one image scaled to fit, centred, with a message when there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._message = "No image selected"
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    @property
    def has_image(self) -> bool:
        return self._pixmap is not None

    @property
    def message(self) -> str:
        return self._message

    def image_size(self) -> QSize | None:
        return self._pixmap.size() if self._pixmap is not None else None

    def set_image(self, image: QImage) -> None:
        self._pixmap = QPixmap.fromImage(image)
        self._message = ""
        self.update()

    def set_message(self, message: str) -> None:
        self._pixmap = None
        self._message = message
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(420, 360)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window().color().darker(112))
        if self._pixmap is None:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        target = self._pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        if target.width() > 2 * self._pixmap.width():  # upscale at most 2x: tiny images would only blur
            target = self._pixmap.size() * 2
        x = (self.width() - target.width()) // 2
        y = (self.height() - target.height()) // 2
        painter.drawPixmap(QRect(x, y, target.width(), target.height()), self._pixmap)
