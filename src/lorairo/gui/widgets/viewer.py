"""The image viewer: one image large (or two side by side) inside the main window, not a modal dialog.

`ZoomView` paints one image with fit / 100% / wheel zoom around the cursor and pan by drag. The image is
decoded on a worker at the size shown (`decode_for_view` asks Qt's reader for a scaled decode, which JPEG
does at a fraction of the cost); when the user zooms in past that size the full resolution is decoded once.
Decoding is EXIF-upright. A decode failure shows its message in the view. `ImageViewer` holds one view, or
two for a compare, and a small tool bar; it emits navigation requests and leaves selection to its owner.
GUI thread only (the decode function runs on workers: it returns a QImage, which is thread-safe).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QImage,
    QImageIOHandler,
    QImageReader,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from lorairo.exceptions import ImageProcessingError
from lorairo.gui.workers import PRIORITY_LATER, PRIORITY_NOW, JobError, JobManager

MIN_SCALE, MAX_SCALE = 0.02, 32.0
PREFETCH_CACHE = 6  # decodes at view size kept (about 3 MB each at 1000 x 750)
MAX_FIT_SCALE = 4.0  # a tiny image is enlarged to fit at most 4x (more only blurs)
WHEEL_STEP = 1.25  # one wheel notch zooms by 25%
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


def _decode_quietly(path: Path, target: QSize) -> ViewImage | None:
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


class _Pane(QWidget):
    """A ZoomView with its caption line (file name, size, zoom) and the decode bookkeeping for one image."""

    def __init__(self, jobs: JobManager, cache: DecodeCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.cache = cache
        self.view = ZoomView(self)
        self.caption = QLabel(self)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        self.image_id: int | None = None
        self.path: Path | None = None
        self.name = ""
        self._generation = 0
        self._full_requested = False
        self.view.resolution_wanted.connect(self._decode_full)
        self.view.zoom_changed.connect(lambda _s: self._update_caption())

    def target_size(self) -> QSize:
        """Device pixels of the view: what a decode for it needs."""
        ratio = self.devicePixelRatioF() or 1.0
        size = self.view.size() if self.view.width() > 10 else QSize(1200, 900)
        return QSize(int(size.width() * ratio), int(size.height() * ratio))

    def load(self, image_id: int, path: Path, name: str) -> None:
        """Decode `path` at the size of the view, on a worker (or take it from the prefetch cache); results for
        an earlier image are dropped."""
        self.image_id, self.path, self.name = image_id, path, name
        self._generation += 1
        self._full_requested = False
        generation = self._generation
        target = self.target_size()
        cached = self.cache.get(path, target)
        if cached is not None:
            self._loaded(generation, cached, keep=False)
            return
        self.view.set_message("Loading…")
        self._update_caption()
        cache = self.cache

        def done(image: ViewImage) -> None:
            cache.put(path, target, image)
            self._loaded(generation, image, keep=False)

        self.jobs.submit(
            "Decode image for the viewer",
            lambda _ctx: decode_for_view(path, target),
            on_result=done,
            on_error=lambda error: self._failed(generation, error),
            visible=False,
            pool="viewer",
            priority=PRIORITY_NOW,
        )

    def show_message(self, message: str) -> None:
        self._generation += 1
        self.view.set_message(message)
        self.caption.setText("")

    def _decode_full(self) -> None:
        decoded = self.view.decoded_size()
        if self._full_requested or self.path is None or decoded is None:
            return
        if decoded.width() >= self.view.full_size().width():
            return  # already full resolution
        self._full_requested = True
        generation, path = self._generation, self.path
        self.jobs.submit(
            "Decode full resolution",
            lambda _ctx: decode_for_view(path, None),
            on_result=lambda image: self._loaded(generation, image, keep=True),
            on_error=lambda error: self._failed(generation, error),
            visible=False,
            pool="viewer",
            priority=PRIORITY_NOW,
        )

    def _loaded(self, generation: int, image: ViewImage, *, keep: bool) -> None:
        if generation == self._generation:
            self.view.set_image(image, keep_view=keep)
            self._update_caption()

    def _failed(self, generation: int, error: JobError) -> None:
        if generation == self._generation:
            self.view.set_message(f"Cannot show this image:\n{error.message}")
            self._update_caption()

    def _update_caption(self) -> None:
        full = self.view.full_size()
        size = f"  ·  {full.width()} × {full.height()}" if not full.isEmpty() and self.view.has_image else ""
        zoom = f"  ·  {self.view.scale * 100:.0f}%" if self.view.has_image else ""
        self.caption.setText(f"{self.name}{size}{zoom}")


PathLookup = Callable[[int], tuple[Path, str]]  # image id -> (absolute path, display name); worker side


class ImageViewer(QWidget):
    """The viewer page: one image, or two side by side (`compare`). Keys: Left/Right (or Page Up/Down) move,
    F fits, 1 shows 100%, +/- zoom, Escape closes. Emits requests; the owner moves the grid's selection."""

    navigate_requested = Signal(int)  # -1 previous, +1 next
    close_requested = Signal()
    edit_requested = Signal()  # Enter / F2: the owner puts the cursor in the tag field

    def __init__(self, jobs: JobManager, lookup: PathLookup, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("image_viewer")
        self.jobs = jobs
        self.lookup = lookup
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)

        def button(text: str, tip: str, slot: Callable[[], None]) -> QToolButton:
            tool = QToolButton(self)
            tool.setText(text)
            tool.setToolTip(tip)
            tool.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the image
            tool.clicked.connect(slot)
            bar.addWidget(tool)
            return tool

        self.back_button = button("← Grid", "Back to the grid (Esc)", self.close_requested.emit)
        self.prev_button = button("◀", "Previous image (Left)", lambda: self.navigate_requested.emit(-1))
        self.next_button = button("▶", "Next image (Right)", lambda: self.navigate_requested.emit(1))
        self.fit_button = button("Fit", "Fit the window (F)", self.fit)
        self.actual_button = button("100%", "Actual pixels (1)", self.actual_size)
        self.title = QLabel(self)
        bar.addSpacing(12)
        bar.addWidget(self.title, 1)
        self.cache = DecodeCache()
        self.panes = [_Pane(jobs, self.cache, self), _Pane(jobs, self.cache, self)]
        views = QHBoxLayout()
        views.setContentsMargins(4, 4, 4, 4)
        views.setSpacing(6)
        for pane in self.panes:
            views.addWidget(pane, 1)
            pane.view.installEventFilter(self)
        self.panes[1].hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addLayout(views, 1)
        self.setFocusProxy(self.panes[0].view)
        self._lookup_generation = 0

    @property
    def view(self) -> ZoomView:
        return self.panes[0].view

    @property
    def comparing(self) -> bool:
        return self.panes[1].isVisible()

    def image_ids(self) -> list[int]:
        return [pane.image_id for pane in self.panes if pane.isVisible() and pane.image_id is not None]

    def show_image(self, image_id: int, known: tuple[Path, str] | None = None) -> None:
        """Show one image (leaves compare mode); `known` (path, name) skips the look-up job."""
        self.panes[1].hide()
        if known is not None:
            self._lookup_generation += 1
            self.title.setText("")
            self.panes[0].load(image_id, known[0], known[1])
            return
        self._open([image_id])

    def compare(self, first: int, second: int) -> None:
        """Show two images side by side."""
        self.panes[1].show()
        self._open([first, second])

    def _open(self, ids: list[int]) -> None:
        self._lookup_generation += 1
        generation, lookup = self._lookup_generation, self.lookup
        for pane, image_id in zip(self.panes, ids, strict=False):
            pane.image_id = image_id
            pane.view.set_message("Loading…")
        self.title.setText("Compare" if len(ids) == 2 else "")

        def found(paths: list[tuple[Path, str] | str]) -> None:
            if generation != self._lookup_generation:
                return
            for pane, image_id, item in zip(self.panes, ids, paths, strict=False):
                if isinstance(item, str):
                    pane.image_id = image_id
                    pane.show_message(item)
                else:
                    pane.load(image_id, item[0], item[1])

        def work(_ctx: object) -> list[tuple[Path, str] | str]:
            results: list[tuple[Path, str] | str] = []
            for image_id in ids:
                try:
                    results.append(lookup(image_id))
                except Exception as exc:  # one missing image must not hide the other of a compare
                    results.append(f"Cannot show image {image_id}: {exc}")
            return results

        self.jobs.submit(
            "Find image for the viewer", work, on_result=found, visible=False, pool="viewer", priority=PRIORITY_NOW
        )

    def prefetch(self, paths: list[Path]) -> None:
        """Decode these files at the view's size in the background (the neighbours of the image shown)."""
        target = self.panes[0].target_size()
        cache = self.cache
        for path in paths:
            key = cache.key(path, target)
            if cache.get(path, target) is not None or key in cache.pending:
                continue
            cache.pending.add(key)

            def done(image: ViewImage | None, path: Path = path, key: tuple[str, int, int] = key) -> None:
                if image is None:
                    cache.pending.discard(key)  # a bad file: its message shows when the user gets there
                else:
                    cache.put(path, target, image)

            def work(_ctx: object, path: Path = path) -> ViewImage | None:
                return _decode_quietly(path, target)

            self.jobs.submit(
                "Prefetch image for the viewer",
                work,
                on_result=done,
                visible=False,
                pool="viewer",
                priority=PRIORITY_LATER,
            )

    def fit(self) -> None:
        for pane in self.panes:
            pane.view.fit()

    def actual_size(self) -> None:
        for pane in self.panes:
            if pane.isVisible():
                pane.view.actual_size()

    def eventFilter(self, watched: object, event: object) -> bool:
        if isinstance(event, QKeyEvent) and event.type() == QKeyEvent.Type.KeyPress:
            return self._key(event)
        return False

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self._key(event):
            super().keyPressEvent(event)

    def _key(self, event: QKeyEvent) -> bool:
        key, mods = event.key(), event.modifiers()
        if mods & ~Qt.KeyboardModifier.KeypadModifier:
            return False  # Ctrl/Alt combinations are the window's shortcuts
        if key in (Qt.Key.Key_Right, Qt.Key.Key_PageDown):
            self.navigate_requested.emit(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_PageUp):
            self.navigate_requested.emit(-1)
        elif key == Qt.Key.Key_Escape:
            self.close_requested.emit()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_F2):
            self.edit_requested.emit()
        elif key == Qt.Key.Key_F:
            self.fit()
        elif key == Qt.Key.Key_1:
            self.actual_size()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            for pane in self.panes:
                pane.view.zoom_by(WHEEL_STEP)
        elif key == Qt.Key.Key_Minus:
            for pane in self.panes:
                pane.view.zoom_by(1 / WHEEL_STEP)
        else:
            return False
        return True
