"""Mask and crop tool of the viewer (issue 17): paint a mask, draw a crop snapped to its training bucket.

`RegionTool` lies over the viewer's `ZoomView` (its `tool` hook): it paints the mask as a semi-transparent
overlay and the crop as a dimmed outside, both drawn into the image's own target rectangle so they stay
pixel-aligned at any zoom. Painting happens on a QImage in the GUI thread (cheap); the tool only signals when
a stroke or a crop ends: `region_editor.RegionEditor` stores it. GUI thread only (`qimage_to_mask` and
`mask_from_png` also run on workers).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image
from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QWheelEvent,
)

from lorairo.gui.widgets.viewer import ZoomView
from lorairo.services.export.bucketing import BucketSettings, select_bucket
from lorairo.services.regions import Crop

MODE_VIEW, MODE_MASK, MODE_CROP = "view", "mask", "crop"
BRUSH, ERASER, RECTANGLE = "brush", "eraser", "rectangle"
MIN_BRUSH, MAX_BRUSH, DEFAULT_BRUSH = 1, 1000, 40  # brush diameter in image pixels
RESOLUTIONS = (512, 768, 1024, 1280, 1536, 2048)
MASK_COLOUR = QColor(255, 48, 96)  # painted ("train on this") pixels, shown at MASK_OPACITY
MASK_OPACITY = 0.45
HANDLE_PX = 7  # half the size of a crop handle, and how near the pointer must come to grab it (screen px)


def bucket_settings(resolution: int) -> BucketSettings:
    """The export's bucket options for a square training resolution (max_bucket_reso grows with it)."""
    return BucketSettings(resolution=(resolution, resolution), max_bucket_reso=max(1024, resolution))


def bucket_for(width: int, height: int, resolution: int) -> tuple[int, int]:
    """The bucket (w, h) an image (or crop) of this size lands in when exported at `resolution`."""
    return select_bucket(max(1, width), max(1, height), bucket_settings(resolution)).bucket


def snap_to_aspect(rect: QRectF, aspect: float, anchor: QPointF, bounds: QRectF) -> QRectF:
    """`rect` changed to width / height == `aspect`, keeping the corner `anchor` fixed and staying in `bounds`.

    The side that would have to grow is shortened instead, so a snapped crop never reaches outside the image.
    """
    width, height = rect.width(), rect.height()
    if width <= 0 or height <= 0 or aspect <= 0:
        return rect
    if width / height > aspect:
        width = height * aspect
    else:
        height = width / aspect
    right = rect.center().x() > anchor.x() or rect.left() >= anchor.x()  # the rect grows right of the anchor
    down = rect.center().y() > anchor.y() or rect.top() >= anchor.y()
    room_x = bounds.right() - anchor.x() if right else anchor.x() - bounds.left()
    room_y = bounds.bottom() - anchor.y() if down else anchor.y() - bounds.top()
    if width > room_x:
        width, height = room_x, room_x / aspect
    if height > room_y:
        width, height = room_y * aspect, room_y
    left = anchor.x() if right else anchor.x() - width
    top = anchor.y() if down else anchor.y() - height
    return QRectF(left, top, width, height)


def qimage_to_mask(image: QImage) -> Image.Image:
    """A Grayscale8 QImage -> a Pillow mode-L image (copies the pixels; safe on a worker)."""
    grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
    data = bytes(grey.constBits())
    return Image.frombuffer("L", (grey.width(), grey.height()), data, "raw", "L", grey.bytesPerLine(), 1).copy()


def mask_from_png(data: bytes | None, size: QSize) -> QImage | None:
    """Decode a stored mask PNG to Grayscale8 at the image's size (worker side); None without one."""
    if data is None:
        return None
    with Image.open(io.BytesIO(data)) as opened:
        mask = opened.convert("L")
    if (mask.width, mask.height) != (size.width(), size.height()) and not size.isEmpty():
        mask = mask.resize((size.width(), size.height()), Image.Resampling.BILINEAR)
    raw = mask.tobytes()
    image = QImage(raw, mask.width, mask.height, mask.width, QImage.Format.Format_Grayscale8)
    return image.copy()  # detach from `raw`


@dataclass
class _CropDrag:
    kind: str  # "new", "move", or a handle: "l", "r", "t", "b", "lt", "rt", "lb", "rb"
    start: QPointF  # image coords where the drag began
    original: QRectF


class RegionTool(QObject):
    """The viewer tool: mask painting and the crop rectangle of the image shown (see the module docstring)."""

    stroke_finished = Signal()  # the mask changed in memory: save it
    crop_finished = Signal(object)  # Crop: the user let go of a drawn / moved / resized crop
    bucket_changed = Signal(str)  # "812 × 609 crop → 1024 × 768 bucket": the live line of the crop bar
    brush_changed = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.mode = MODE_VIEW
        self.brush = BRUSH
        self.brush_size = DEFAULT_BRUSH
        self.resolution = 1024
        self.snap = True
        self.size = QSize()  # the full upright image size
        self.mask: QImage | None = None  # Grayscale8, white = train on this
        self._overlay: QImage | None = None  # the same pixels in MASK_COLOUR with alpha: what is drawn
        self.crop: QRectF | None = None  # image coords
        self._last: QPointF | None = None  # previous brush point of the stroke (image coords)
        self._erasing = False
        self._rect_from: QPointF | None = None  # rectangle fill: where the drag began
        self._rect_to: QPointF | None = None
        self._drag: _CropDrag | None = None
        self._hover: QPointF | None = None  # widget coords of the pointer (for the brush circle)
        self.ready = False  # the stored crop and mask are loaded: until then a stroke could overwrite them

    # --- state -------------------------------------------------------------------------------------

    def reset(self, size: QSize) -> None:
        """A new image is shown: no mask, no crop until they are loaded."""
        self.size = QSize(size)
        self.mask = None
        self._overlay = None
        self.crop = None
        self._last = self._rect_from = self._rect_to = None
        self._drag = None
        self.ready = False

    def set_regions(self, crop: Crop | None, mask: QImage | None) -> None:
        self.crop = QRectF(crop.left, crop.top, crop.width, crop.height) if crop is not None else None
        self.mask = mask
        self._overlay = None
        if mask is not None:
            self._overlay = QImage(mask.size(), QImage.Format.Format_ARGB32_Premultiplied)
            self._overlay.fill(MASK_COLOUR)
            self._overlay.setAlphaChannel(mask)
        self.ready = True
        self._emit_bucket()

    @property
    def has_mask(self) -> bool:
        return self.mask is not None

    def _ensure_mask(self) -> bool:
        if self.mask is None:
            if self.size.isEmpty():
                return False
            self.mask = QImage(self.size, QImage.Format.Format_Grayscale8)
            self.mask.fill(0)
            self._overlay = QImage(self.size, QImage.Format.Format_ARGB32_Premultiplied)
            self._overlay.fill(Qt.GlobalColor.transparent)
        return True

    def set_brush_size(self, size: int) -> None:
        self.brush_size = max(MIN_BRUSH, min(MAX_BRUSH, int(size)))
        self.brush_changed.emit(self.brush_size)

    def crop_value(self) -> Crop | None:
        if self.crop is None:
            return None
        rect = self.crop.normalized()
        left, top = round(rect.left()), round(rect.top())
        return Crop(left, top, max(1, round(rect.right()) - left), max(1, round(rect.bottom()) - top))

    def bucket_text(self) -> str:
        if self.size.isEmpty():
            return ""
        crop = self.crop_value()
        width, height = (crop.width, crop.height) if crop else (self.size.width(), self.size.height())
        try:
            bucket = bucket_for(width, height, self.resolution)
        except ValueError as exc:
            return str(exc)
        what = "crop" if crop else "image"
        return f"{width} × {height} {what} → {bucket[0]} × {bucket[1]} bucket at {self.resolution}"

    def _emit_bucket(self) -> None:
        self.bucket_changed.emit(self.bucket_text())

    # --- mask painting -----------------------------------------------------------------------------

    def _pen(self, erase: bool, colour: QColor) -> QPen:
        pen = QPen(colour if not erase else QColor(0, 0, 0))
        pen.setWidthF(float(self.brush_size))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        return pen

    def paint_line(self, start: QPointF, end: QPointF, erase: bool) -> None:
        """One brush segment on the mask and on its overlay (the same geometry, so they always agree)."""
        if not self._ensure_mask():
            return
        assert self.mask is not None and self._overlay is not None
        for target, colour in ((self.mask, QColor(255, 255, 255)), (self._overlay, MASK_COLOUR)):
            painter = QPainter(target)
            if target is self._overlay:
                mode = (
                    QPainter.CompositionMode.CompositionMode_Clear
                    if erase
                    else QPainter.CompositionMode.CompositionMode_Source
                )
                painter.setCompositionMode(mode)
            painter.setPen(self._pen(erase, colour))
            if start == end:
                painter.drawPoint(start)
            else:
                painter.drawLine(start, end)
            painter.end()

    def fill_rect(self, rect: QRectF, erase: bool = False) -> None:
        """Fill (or erase) a rectangle of the mask, in whole image pixels."""
        if not self._ensure_mask():
            return
        assert self.mask is not None and self._overlay is not None
        box = rect.normalized().toAlignedRect().intersected(self.mask.rect())
        if box.isEmpty():
            return
        painter = QPainter(self.mask)
        painter.fillRect(box, QColor(0, 0, 0) if erase else QColor(255, 255, 255))
        painter.end()
        painter = QPainter(self._overlay)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.fillRect(box, Qt.GlobalColor.transparent if erase else MASK_COLOUR)
        painter.end()

    # --- ViewTool ----------------------------------------------------------------------------------

    def paint(self, painter: QPainter, view: ZoomView) -> None:
        target = view.target_rect()
        scale = view.scale
        if self.mode == MODE_MASK and self._overlay is not None:
            painter.save()
            painter.setOpacity(MASK_OPACITY)
            # No smoothing: every mask pixel covers exactly the screen area of its image pixel.
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(target, self._overlay, QRectF(self._overlay.rect()))
            painter.restore()
        if self.crop is not None:
            rect = self._to_widget(self.crop.normalized(), target, scale)
            outside = QPainterPath()
            outside.addRect(QRectF(view.rect()))
            inside = QPainterPath()
            inside.addRect(rect)
            painter.save()
            painter.fillPath(outside.subtracted(inside), QColor(0, 0, 0, 150))
            painter.setPen(QPen(QColor(255, 255, 255, 220), 1, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)
            if self.mode == MODE_CROP:
                painter.setBrush(QBrush(QColor(255, 255, 255)))
                painter.setPen(QPen(QColor(0, 0, 0), 1))
                for point in self._handles(rect).values():
                    painter.drawRect(QRectF(point.x() - HANDLE_PX / 2, point.y() - HANDLE_PX / 2, HANDLE_PX, HANDLE_PX))
                painter.setPen(QColor(255, 255, 255))
                painter.drawText(rect.adjusted(6, 4, -6, -4), Qt.AlignmentFlag.AlignLeft, self.bucket_text())
            painter.restore()
        if self.mode == MODE_MASK and self._rect_from is not None and self._rect_to is not None:
            painter.save()
            painter.setPen(QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine))
            painter.setBrush(QColor(255, 48, 96, 60))
            painter.drawRect(self._to_widget(QRectF(self._rect_from, self._rect_to).normalized(), target, scale))
            painter.restore()
        if self.mode == MODE_MASK and self.brush != RECTANGLE and self._hover is not None:
            radius = self.brush_size * scale / 2
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0), 3))
            painter.drawEllipse(self._hover, radius, radius)
            painter.setPen(QPen(QColor(255, 255, 255), 1))
            painter.drawEllipse(self._hover, radius, radius)
            painter.restore()

    @staticmethod
    def _to_widget(rect: QRectF, target: QRectF, scale: float) -> QRectF:
        return QRectF(
            target.left() + rect.left() * scale,
            target.top() + rect.top() * scale,
            rect.width() * scale,
            rect.height() * scale,
        )

    @staticmethod
    def _handles(rect: QRectF) -> dict[str, QPointF]:
        cx, cy = rect.center().x(), rect.center().y()
        return {
            "lt": rect.topLeft(),
            "rt": rect.topRight(),
            "lb": rect.bottomLeft(),
            "rb": rect.bottomRight(),
            "l": QPointF(rect.left(), cy),
            "r": QPointF(rect.right(), cy),
            "t": QPointF(cx, rect.top()),
            "b": QPointF(cx, rect.bottom()),
        }

    def _pixel(self, view: ZoomView, event: QMouseEvent | QWheelEvent) -> QPointF:
        """The image point under the pointer, at the centre of its pixel."""
        point = view.image_point(event.position())
        return QPointF(
            int(point.x()) + 0.5 if point.x() >= 0 else point.x(), int(point.y()) + 0.5 if point.y() >= 0 else point.y()
        )

    def _bounded(self, point: QPointF) -> QPointF:
        return QPointF(
            min(max(point.x(), 0.0), float(self.size.width())), min(max(point.y(), 0.0), float(self.size.height()))
        )

    def mouse_press(self, event: QMouseEvent, view: ZoomView) -> bool:
        button = event.button()
        if self.mode == MODE_VIEW or button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False  # the middle button pans in every mode
        if not self.ready:
            return True  # still loading what is stored: a stroke now would be lost or overwrite it
        if self.mode == MODE_MASK:
            erase = button == Qt.MouseButton.RightButton or self.brush == ERASER
            if self.brush == RECTANGLE:
                point = self._bounded(view.image_point(event.position()))
                self._rect_from, self._rect_to, self._erasing = point, point, erase
            else:
                point = self._pixel(view, event)
                self._last, self._erasing = point, erase
                self.paint_line(point, point, erase)
            view.update()
            return True
        if button != Qt.MouseButton.LeftButton:
            return False
        point = self._bounded(view.image_point(event.position()))
        self._drag = _CropDrag(self._hit(event.position(), view), point, QRectF(self.crop) if self.crop else QRectF())
        if self._drag.kind == "new":
            self.crop = QRectF(point, point)
        view.update()
        return True

    def _hit(self, position: QPointF, view: ZoomView) -> str:
        if self.crop is None:
            return "new"
        rect = self._to_widget(self.crop.normalized(), view.target_rect(), view.scale)
        for name, point in self._handles(rect).items():
            if abs(point.x() - position.x()) <= HANDLE_PX and abs(point.y() - position.y()) <= HANDLE_PX:
                return name
        return "move" if rect.contains(position) else "new"

    def mouse_move(self, event: QMouseEvent, view: ZoomView) -> bool:
        if self.mode == MODE_VIEW:
            return False
        self._hover = event.position()
        if self.mode == MODE_MASK:
            if self._rect_from is not None:
                self._rect_to = self._bounded(view.image_point(event.position()))
            elif self._last is not None:
                point = self._pixel(view, event)
                self.paint_line(self._last, point, self._erasing)
                self._last = point
            view.update()
            return True
        if self._drag is not None:
            self._drag_crop(
                self._bounded(view.image_point(event.position())),
                snap=self.snap and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier,
            )
            self._emit_bucket()
            view.update()
            return True
        return False

    def _drag_crop(self, point: QPointF, *, snap: bool) -> None:
        drag = self._drag
        assert drag is not None
        bounds = QRectF(0, 0, self.size.width(), self.size.height())
        if drag.kind == "move":
            rect = QRectF(drag.original.normalized())
            delta = point - drag.start
            rect.translate(delta)
            rect.moveLeft(min(max(rect.left(), 0.0), bounds.width() - rect.width()))
            rect.moveTop(min(max(rect.top(), 0.0), bounds.height() - rect.height()))
            self.crop = rect
            return
        if drag.kind == "new":
            anchor, moving = drag.start, point
        else:
            original = drag.original.normalized()
            # The corner opposite the grabbed handle stays put; an edge handle moves only its own side.
            left, top, right, bottom = original.left(), original.top(), original.right(), original.bottom()
            if "l" in drag.kind:
                left = point.x()
            if "r" in drag.kind:
                right = point.x()
            if "t" in drag.kind:
                top = point.y()
            if "b" in drag.kind:
                bottom = point.y()
            anchor_x = original.right() if "l" in drag.kind else original.left()
            anchor_y = original.bottom() if "t" in drag.kind else original.top()
            anchor = QPointF(anchor_x, anchor_y)
            moving = QPointF(left if "l" in drag.kind else right, top if "t" in drag.kind else bottom)
        rect = QRectF(anchor, moving).normalized()
        if snap and rect.width() >= 2 and rect.height() >= 2:
            bucket = bucket_for(round(rect.width()), round(rect.height()), self.resolution)
            rect = snap_to_aspect(rect, bucket[0] / bucket[1], anchor, bounds)
        self.crop = rect

    def mouse_release(self, event: QMouseEvent, view: ZoomView) -> bool:
        if self.mode == MODE_MASK:
            if self._rect_from is not None and self._rect_to is not None:
                self.fill_rect(QRectF(self._rect_from, self._rect_to), self._erasing)
                self._rect_from = self._rect_to = None
                view.update()
                self.stroke_finished.emit()
                return True
            if self._last is not None:
                self._last = None
                self.stroke_finished.emit()
                return True
            return False
        if self.mode == MODE_CROP and self._drag is not None:
            self._drag = None
            crop = self.crop_value()
            if crop is None or crop.width < 2 or crop.height < 2:
                self.crop = None  # a click, not a rectangle: the crop stays as stored
                self.crop_finished.emit(None)
            else:
                self.crop_finished.emit(crop)
            view.update()
            return True
        return False

    def mouse_left(self, view: ZoomView) -> None:
        if self._hover is not None:
            self._hover = None
            view.update()

    def wheel(self, event: QWheelEvent, view: ZoomView) -> bool:
        if self.mode != MODE_MASK or event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            return False  # Ctrl+wheel zooms while painting
        steps = event.angleDelta().y() / 120
        if steps:
            self.set_brush_size(round(self.brush_size * (1.2**steps)) + (1 if steps > 0 else -1))
            self._hover = event.position()
            view.update()
        return True
