"""The image viewer: one image large (or two side by side) inside the main window, not a modal dialog.

`ImageViewer` holds one `ZoomView` (lorairo.gui.widgets.zoom_view), or two for a compare, and a small tool bar; it
emits navigation requests and leaves selection to its owner. Each pane decodes its image on the JobManager's
"viewer" lane at the size shown (lorairo.gui.widgets.view_decode), ahead of queued prefetches of the neighbours;
when the user zooms in past that size the full resolution is decoded once. A decode failure shows its message in
the view. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from lorairo.gui.widgets.view_decode import DecodeCache, ViewImage, decode_for_view, decode_quietly
from lorairo.gui.widgets.zoom_view import WHEEL_STEP, ViewTool, ZoomView
from lorairo.gui.workers import PRIORITY_LATER, PRIORITY_NOW, JobError, JobManager

# Re-exported: callers import the viewer's parts from here.
__all__ = ["DecodeCache", "ImageViewer", "PathLookup", "ViewImage", "ViewTool", "ZoomView", "decode_for_view"]


class _Pane(QWidget):
    """A ZoomView with its caption line (file name, size, zoom) and the decode bookkeeping for one image."""

    settled = Signal()  # the image asked for is shown, or its failure is

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
        self.loading = False  # a decode of the image asked for is under way
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
        self.loading = True
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
        self._settle()

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
            self._settle()

    def _failed(self, generation: int, error: JobError) -> None:
        if generation == self._generation:
            self.view.set_message(f"Cannot show this image:\n{error.message}")
            self._update_caption()
            self._settle()

    def _settle(self) -> None:
        if self.loading:
            self.loading = False
            self.settled.emit()

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
        # Neighbours asked for while the image itself is still decoding wait for it: on two cores a prefetch
        # decoding beside it would slow the open the user is waiting for.
        self._deferred_prefetch: list[Path] = []
        self.panes[0].settled.connect(self._prefetch_deferred)

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
            pane.loading = True  # the look-up, then the decode
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
        """Decode these files at the view's size in the background (the neighbours of the image shown), once the
        image shown is decoded."""
        if self.panes[0].loading:
            self._deferred_prefetch = list(paths)
            return
        self._deferred_prefetch = []
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
                return decode_quietly(path, target)

            self.jobs.submit(
                "Prefetch image for the viewer",
                work,
                on_result=done,
                visible=False,
                pool="viewer",
                priority=PRIORITY_LATER,
            )

    def _prefetch_deferred(self) -> None:
        if self._deferred_prefetch:
            self.prefetch(self._deferred_prefetch)

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
