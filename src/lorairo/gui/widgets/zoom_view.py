"""`ZoomView`: one image with fit / 100% / wheel zoom around the cursor and pan by drag, plus the hook for
editing tools (masks, crops) laid over it. GUI thread only; the pixels come decoded (lorairo.gui.widgets.view_decode).
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent, QPixmap, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from lorairo.gui.widgets.view_decode import ViewImage

MIN_SCALE, MAX_SCALE = 0.02, 32.0
MAX_FIT_SCALE = 4.0  # a tiny image is enlarged to fit at most 4x (more only blurs)
WHEEL_STEP = 1.25  # one wheel notch zooms by 25%


class ViewTool(Protocol):
    """An editing tool laid over a ZoomView (masks, crops: lorairo.gui.widgets.region_tools).

    Each handler returns True when it used the event; the view then does not pan or zoom with it.
    """

    def paint(self, painter: QPainter, view: ZoomView) -> None: ...
    def mouse_press(self, event: QMouseEvent, view: ZoomView) -> bool: ...
    def mouse_move(self, event: QMouseEvent, view: ZoomView) -> bool: ...
    def mouse_release(self, event: QMouseEvent, view: ZoomView) -> bool: ...
    def wheel(self, event: QWheelEvent, view: ZoomView) -> bool: ...
    def mouse_left(self, view: ZoomView) -> None: ...


class ZoomView(QWidget):
    """One image: fit (default), 100%, wheel zoom around the cursor, drag to pan.

    Coordinates: `scale` is screen pixels per pixel of the FULL image; the decoded pixmap may be smaller and is
    stretched. `resolution_wanted(QSize)` asks the owner for a sharper decode when the zoom shows more pixels
    than the pixmap has.
    """

    resolution_wanted = Signal()
    zoom_changed = Signal(float)
    image_changed = Signal()  # another image (or a message) is shown; not for a sharper decode of the same one

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._full = QSize()
        self._message = ""
        self._fit = True
        self._scale = 1.0
        self._center = QPointF()  # the full-image point shown at the widget's centre
        self._drag_from: QPointF | None = None
        self.tool: ViewTool | None = None  # a mask / crop tool gets the mouse first and paints over the image
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    # --- state -----------------------------------------------------------------------------------------

    @property
    def has_image(self) -> bool:
        return self._pixmap is not None

    @property
    def message(self) -> str:
        return self._message

    @property
    def scale(self) -> float:
        return self._fit_scale() if self._fit else self._scale

    @property
    def is_fit(self) -> bool:
        return self._fit

    def decoded_size(self) -> QSize | None:
        return self._pixmap.size() if self._pixmap is not None else None

    def full_size(self) -> QSize:
        return QSize(self._full)

    def set_image(self, view_image: ViewImage, *, keep_view: bool = False) -> None:
        """Show a decoded image; `keep_view` keeps the zoom and position (a sharper decode of the same file)."""
        self._pixmap = QPixmap.fromImage(view_image.image)
        self._full = QSize(view_image.full_size)
        self._message = ""
        if not keep_view:
            self._fit = True
            self._center = QPointF(self._full.width() / 2, self._full.height() / 2)
        self.update()
        self.zoom_changed.emit(self.scale)
        if not keep_view:
            self.image_changed.emit()

    def set_message(self, message: str) -> None:
        self._pixmap = None
        self._message = message
        self.update()
        self.image_changed.emit()

    def fit(self) -> None:
        self._fit = True
        self._center = QPointF(self._full.width() / 2, self._full.height() / 2)
        self.update()
        self.zoom_changed.emit(self.scale)

    def actual_size(self) -> None:
        """100%: one image pixel per screen pixel, around the current centre."""
        self._set_scale(1.0, QPointF(self.width() / 2, self.height() / 2))

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by `factor` keeping the image point under `anchor` (widget coords; default the centre) fixed."""
        self._set_scale(
            self.scale * factor, anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        )

    def image_point(self, widget_point: QPointF) -> QPointF:
        """The full-image coordinate under a widget point."""
        scale = self.scale
        return QPointF(
            self._center_now().x() + (widget_point.x() - self.width() / 2) / scale,
            self._center_now().y() + (widget_point.y() - self.height() / 2) / scale,
        )

    def _center_now(self) -> QPointF:
        if self._fit:
            return QPointF(self._full.width() / 2, self._full.height() / 2)
        return self._center

    def _fit_scale(self) -> float:
        if self._full.isEmpty():
            return 1.0
        return min(self.width() / self._full.width(), self.height() / self._full.height(), MAX_FIT_SCALE)

    def _set_scale(self, scale: float, anchor: QPointF) -> None:
        if self._full.isEmpty():
            return
        under = self.image_point(anchor)
        self._scale = max(MIN_SCALE, min(MAX_SCALE, scale))
        self._fit = False
        # Keep `under` beneath the anchor: centre = under - (anchor - mid) / scale.
        self._center = QPointF(
            under.x() - (anchor.x() - self.width() / 2) / self._scale,
            under.y() - (anchor.y() - self.height() / 2) / self._scale,
        )
        self._clamp()
        self.update()
        self.zoom_changed.emit(self._scale)
        if self._pixmap is not None and self._scale * self._full.width() > self._pixmap.width() * 1.05:
            self.resolution_wanted.emit()

    def _clamp(self) -> None:
        """Keep the image on screen: a side smaller than the view is centred, a larger one cannot leave a gap."""
        for axis in (0, 1):
            span = (self.width(), self.height())[axis] / self._scale
            size = (self._full.width(), self._full.height())[axis]
            value = (self._center.x(), self._center.y())[axis]
            value = size / 2 if span >= size else min(max(value, span / 2), size - span / 2)
            if axis == 0:
                self._center.setX(value)
            else:
                self._center.setY(value)

    def target_rect(self) -> QRectF:
        """Where the whole image lies in widget coordinates."""
        scale, center = self.scale, self._center_now()
        left = self.width() / 2 - center.x() * scale
        top = self.height() / 2 - center.y() * scale
        return QRectF(left, top, self._full.width() * scale, self._full.height() * scale)

    # --- events ----------------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            # Ended here, not when Python frees the painter: anything holding the frame a moment longer (a
            # traceback, a profiler's stack sample) would leave it active past the paint event.
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        painter.fillRect(self.rect(), self.palette().window().color().darker(125))
        if self._pixmap is None:
            painter.setPen(self.palette().placeholderText().color())
            text = self._message or "No image"
            painter.drawText(
                self.rect().adjusted(12, 12, -12, -12), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text
            )
            return
        if self.scale < 2:  # smooth when shrinking; crisp pixels when inspecting at high zoom
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(self.target_rect(), self._pixmap, QRectF(self._pixmap.rect()))
        if self.tool is not None:
            self.tool.paint(painter, self)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if not self._fit:
            self._clamp()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.tool is not None and self._pixmap is not None and self.tool.wheel(event, self):
            event.accept()
            return
        steps = event.angleDelta().y() / 120
        if steps and self._pixmap is not None:
            self.zoom_by(WHEEL_STEP**steps, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.tool is not None and self._pixmap is not None and self.tool.mouse_press(event, self):
            return
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._drag_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is None and self.tool is not None and self.tool.mouse_move(event, self):
            return
        if self._drag_from is not None and not self._full.isEmpty():
            delta = event.position() - self._drag_from
            self._drag_from = event.position()
            if self._fit:
                self._scale, self._fit = self._fit_scale(), False
                self._center = QPointF(self._full.width() / 2, self._full.height() / 2)
            self._center = QPointF(
                self._center.x() - delta.x() / self._scale, self._center.y() - delta.y() / self._scale
            )
            self._clamp()
            self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is None and self.tool is not None and self.tool.mouse_release(event, self):
            return
        self._drag_from = None
        self.setCursor(Qt.CursorShape.OpenHandCursor if self.tool is None else Qt.CursorShape.CrossCursor)
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        if self.tool is not None:
            self.tool.mouse_left(self)  # e.g. the brush circle goes with the pointer
        super().leaveEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.tool is not None:
            return  # a double click while painting or cropping is two clicks of the tool, not a zoom
        if self._fit:
            self._set_scale(1.0, event.position())
        else:
            self.fit()
