"""The viewer's mask and crop editing: tool bar, loading, saving, undo and the grid's selection actions.

`RegionEditor` owns a `RegionTool` (region_tools) laid over the viewer. When a stroke ends (or a crop is let
go) the mask / crop is saved through `RegionService` on the worker helper's single "write" pool, pushed on the
edit history (`RegionUndoCommand`, the service's `RegionCommand`) and broadcast with `session.notify(changes)`.
GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QImage, QKeyEvent, QUndoStack
from PySide6.QtWidgets import (
    QBoxLayout,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.details.undo import WriteUndoCommand
from lorairo.gui.widgets.region_tools import (
    BRUSH,
    ERASER,
    MODE_CROP,
    MODE_MASK,
    MODE_VIEW,
    RECTANGLE,
    RESOLUTIONS,
    RegionTool,
    mask_from_png,
    qimage_to_mask,
)
from lorairo.gui.widgets.viewer import ImageViewer, ZoomView
from lorairo.gui.workers import JobError, JobManager
from lorairo.services.regions import Crop, RegionCommand, RegionResult, RegionService, RegionState


def RegionUndoCommand(
    jobs: JobManager, service: RegionService, result: RegionResult, on_result: Callable[[RegionResult], None]
) -> WriteUndoCommand:
    """One undoable crop / mask write (the shared write-pool undo command over the service's RegionCommand)."""
    return WriteUndoCommand(jobs, service, RegionCommand(result), result.description, on_result)


class RegionToolBar(QWidget):
    """View / Mask / Crop, and the controls of the chosen mode (one row under the viewer's bar)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 0, 6, 0)
        self.modes = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        for mode, text, tip in (
            (MODE_VIEW, "View", "Look, zoom and pan (drag)"),
            (
                MODE_MASK,
                "Mask",
                "Paint the mask: white = train on this (wheel: brush size, Ctrl+wheel: zoom, "
                "right button erases, middle button pans)",
            ),
            (MODE_CROP, "Crop", "Draw the crop; it snaps to its bucket's aspect (hold Shift to draw freely)"),
        ):
            button = self._tool(text, tip, checkable=True)
            self.modes.addButton(button)
            self.mode_buttons[mode] = button
            row.addWidget(button)
        self.mode_buttons[MODE_VIEW].setChecked(True)
        row.addSpacing(10)
        self.pages = QStackedWidget(self)
        row.addWidget(self.pages, 1)
        self.pages.addWidget(QWidget(self))

        mask = QWidget(self)
        mask_row = QHBoxLayout(mask)
        mask_row.setContentsMargins(0, 0, 0, 0)
        self.brushes = QButtonGroup(self)
        self.brush_buttons: dict[str, QToolButton] = {}
        for brush, text in ((BRUSH, "Brush"), (ERASER, "Eraser"), (RECTANGLE, "Fill rectangle")):
            button = self._tool(text, "", checkable=True)
            self.brushes.addButton(button)
            self.brush_buttons[brush] = button
            mask_row.addWidget(button)
        self.brush_buttons[BRUSH].setChecked(True)
        self.size_label = QLabel(self)
        mask_row.addWidget(self.size_label)
        self.invert_button = self._tool("Invert", "Swap painted and unpainted")
        self.clear_mask_button = self._tool("Clear", "Remove this image's mask")
        self.alpha_button = self._tool("From alpha", "Use the image's own transparency as its mask")
        for button in (self.invert_button, self.clear_mask_button, self.alpha_button):
            mask_row.addWidget(button)
        mask_row.addStretch(1)
        self.pages.addWidget(mask)

        crop = QWidget(self)
        crop_row = QHBoxLayout(crop)
        crop_row.setContentsMargins(0, 0, 0, 0)
        crop_row.addWidget(QLabel("Resolution", self))
        self.resolution_combo = QComboBox(self)
        for value in RESOLUTIONS:
            self.resolution_combo.addItem(str(value), value)
        self.resolution_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        crop_row.addWidget(self.resolution_combo)
        self.snap_check = QCheckBox("Snap to bucket", self)
        self.snap_check.setChecked(True)
        self.snap_check.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        crop_row.addWidget(self.snap_check)
        self.clear_crop_button = self._tool("Clear crop", "Remove this image's crop")
        crop_row.addWidget(self.clear_crop_button)
        self.bucket_label = QLabel(self)
        crop_row.addWidget(self.bucket_label, 1)
        self.pages.addWidget(crop)

    def _tool(self, text: str, tip: str, *, checkable: bool = False) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setCheckable(checkable)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the image
        return button

    def show_mode(self, mode: str) -> None:
        self.mode_buttons[mode].setChecked(True)
        self.pages.setCurrentIndex((MODE_VIEW, MODE_MASK, MODE_CROP).index(mode))


class RegionEditor(QObject):
    """Mask and crop editing for the window's viewer (the tool bar, loading, saving, undo, grid actions)."""

    def __init__(
        self,
        viewer: ImageViewer,
        session: ProjectSession,
        jobs: JobManager,
        undo_stack: Callable[[], QUndoStack | None],
        report: Callable[[str], None],
    ) -> None:
        super().__init__(viewer)
        self.viewer, self.session, self.jobs = viewer, session, jobs
        self._undo_stack = undo_stack
        self._own_stack = QUndoStack(self)
        self.report = report
        self.tool = RegionTool(self)
        self.bar = RegionToolBar(viewer)
        layout = viewer.layout()
        if isinstance(layout, QBoxLayout):
            layout.insertWidget(1, self.bar)  # under the viewer's own bar
        self._generation = 0
        self.saves_pending = 0
        self.loaded_id: int | None = None
        self.view.tool = self.tool
        self.view.installEventFilter(self)  # after the viewer's filter, so it sees the keys first
        self.view.image_changed.connect(self._image_changed)
        self.tool.stroke_finished.connect(self.save_mask)
        self.tool.crop_finished.connect(self._crop_finished)
        self.tool.bucket_changed.connect(self.bar.bucket_label.setText)
        self.tool.brush_changed.connect(lambda size: self.bar.size_label.setText(f"{size} px"))
        self.bar.size_label.setText(f"{self.tool.brush_size} px")
        for mode, button in self.bar.mode_buttons.items():
            button.clicked.connect(lambda _c=False, m=mode: self.set_mode(m))
        for brush, button in self.bar.brush_buttons.items():
            button.clicked.connect(lambda _c=False, b=brush: setattr(self.tool, "brush", b))
        self.bar.invert_button.clicked.connect(lambda: self._current_action("invert"))
        self.bar.clear_mask_button.clicked.connect(lambda: self._current_action("clear_mask"))
        self.bar.alpha_button.clicked.connect(lambda: self._current_action("from_alpha"))
        self.bar.clear_crop_button.clicked.connect(lambda: self._current_action("clear_crop"))
        self.bar.resolution_combo.currentIndexChanged.connect(self._resolution_chosen)
        self.bar.snap_check.toggled.connect(lambda on: setattr(self.tool, "snap", on))
        self._default_resolution()

    @property
    def view(self) -> ZoomView:
        return self.viewer.view

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """V / M / C switch tools, [ and ] size the brush (before the viewer's own keys; see SHORTCUTS)."""
        if not isinstance(event, QKeyEvent) or event.type() != QEvent.Type.KeyPress:
            return False
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return False
        modes = {Qt.Key.Key_V: MODE_VIEW, Qt.Key.Key_M: MODE_MASK, Qt.Key.Key_C: MODE_CROP}
        key = event.key()
        if key in modes and not self.viewer.comparing:
            self.set_mode(modes[Qt.Key(key)])
            return True
        if key in (Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight) and self.tool.mode == MODE_MASK:
            step = 1.2 if key == Qt.Key.Key_BracketRight else 1 / 1.2
            self.tool.set_brush_size(round(self.tool.brush_size * step) + (1 if step > 1 else -1))
            self.view.update()
            return True
        return False

    @property
    def undo_stack(self) -> QUndoStack:
        stack = self._undo_stack()
        return stack if stack is not None else self._own_stack

    @property
    def image_id(self) -> int | None:
        return self.viewer.panes[0].image_id if self.view.has_image and not self.viewer.comparing else None

    def service(self) -> RegionService | None:
        project = self.session.project
        return RegionService(project) if project is not None else None

    def _default_resolution(self) -> None:
        try:
            value = int(self.session.config.get("export.resolution"))
        except Exception:  # a missing or odd setting: the combo keeps 1024
            value = 1024
        index = self.bar.resolution_combo.findData(value)
        self.bar.resolution_combo.setCurrentIndex(index if index >= 0 else self.bar.resolution_combo.findData(1024))

    def _resolution_chosen(self, _index: int) -> None:
        self.tool.resolution = int(self.bar.resolution_combo.currentData())
        self.bar.bucket_label.setText(self.tool.bucket_text())
        self.view.update()

    # --- modes ---------------------------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        """View, Mask or Crop. Leaving Mask after a stroke has nothing to save: each stroke saved as it ended."""
        self.tool.mode = mode
        self.bar.show_mode(mode)
        self.view.setMouseTracking(mode != MODE_VIEW)
        self.view.setCursor(Qt.CursorShape.OpenHandCursor if mode == MODE_VIEW else Qt.CursorShape.CrossCursor)
        if mode == MODE_MASK:
            self.view.setCursor(Qt.CursorShape.BlankCursor)  # the brush circle is the cursor
        self.bar.bucket_label.setText(self.tool.bucket_text())
        self.view.update()

    # --- loading -------------------------------------------------------------------------------------

    def _image_changed(self) -> None:
        if self.viewer.comparing and self.tool.mode != MODE_VIEW:
            self.set_mode(MODE_VIEW)  # two images side by side: nothing to paint on
        self.tool.reset(self.view.full_size())
        self.loaded_id = None
        self.view.update()
        if self.image_id is not None:
            self.load(self.image_id)

    def load(self, image_id: int) -> None:
        """Read the image's crop and mask (on the write pool, so a save still in flight is read back)."""
        service = self.service()
        if service is None:
            return
        self._generation += 1
        generation, size = self._generation, self.view.full_size()

        def work(_ctx: object) -> tuple[RegionState, QImage | None]:
            state = service.state(image_id)
            return state, mask_from_png(state.mask_png, size)

        def done(value: tuple[RegionState, QImage | None]) -> None:
            if generation != self._generation or self.image_id != image_id:
                return
            state, mask = value
            self.tool.set_regions(state.crop, mask)
            self.loaded_id = image_id
            self.view.update()

        self.jobs.submit("Load crop and mask", work, on_result=done, on_error=self._failed, pool="write", visible=False)

    # --- saving --------------------------------------------------------------------------------------

    def save_mask(self) -> None:
        """Store the painted mask of the image shown (a copy of the pixels goes to the worker)."""
        service, image_id, mask = self.service(), self.image_id, self.tool.mask
        if service is None or image_id is None or mask is None:
            return
        pixels = mask.copy()
        self._write(
            "Paint mask",
            service,
            lambda: service.set_mask(image_id, qimage_to_mask(pixels), source="painted mask"),
            reload=False,
        )

    def _crop_finished(self, crop: Crop | None) -> None:
        service, image_id = self.service(), self.image_id
        if service is None or image_id is None:
            return
        if crop is None:
            self.load(image_id)  # a click: show the stored crop again
            return
        self._write("Crop", service, lambda: service.set_crop(image_id, crop), reload=False)

    def _current_action(self, action: str) -> None:
        if self.image_id is not None:
            self.run_selection(action, [self.image_id])

    def run_selection(self, action: str, image_ids: Sequence[int]) -> None:
        """A grid / tool bar action on images: ``from_alpha``, ``letterbox``, ``invert``, ``clear_mask``,
        ``clear_crop``. One undo step for the whole selection."""
        service = self.service()
        ids = list(image_ids)
        if service is None or not ids:
            return
        calls: dict[str, tuple[str, Callable[[], RegionResult]]] = {
            "from_alpha": ("Mask from alpha", lambda: service.set_mask_from_alpha(ids)),
            "letterbox": ("Remove letterbox borders", lambda: service.auto_letterbox(ids)),
            "invert": ("Invert mask", lambda: service.invert_mask(ids)),
            "clear_mask": ("Clear mask", lambda: service.clear_mask(ids)),
            "clear_crop": ("Clear crop", lambda: service.clear_crop(ids)),
        }
        title, call = calls[action]
        self._write(title, service, call, reload=True)

    def _write(self, title: str, service: RegionService, call: Callable[[], RegionResult], *, reload: bool) -> None:
        self.saves_pending += 1

        def done(result: RegionResult) -> None:
            self.saves_pending -= 1
            if result.changes.image_ids:
                self.undo_stack.push(RegionUndoCommand(self.jobs, service, result, self._applied))
            self._applied(result, reload=reload)

        def failed(error: JobError) -> None:
            self.saves_pending -= 1
            self._failed(error)
            if self.image_id is not None:
                self.load(self.image_id)  # show what is stored, not the stroke that was refused

        self.jobs.submit(title, lambda _ctx: call(), on_result=done, on_error=failed, pool="write")

    def _applied(self, result: RegionResult, *, reload: bool = True) -> None:
        """A write, undo or redo landed: say what it did, reload the image shown if it changed, broadcast."""
        notes = [*result.warnings, *(r for _i, r in result.failures), *(r for _i, r in result.skipped)]
        summary = result.description
        if notes:
            summary += f" — {len(notes)} note(s): " + "; ".join(notes[:3]) + (" …" if len(notes) > 3 else "")
        self.report(summary)
        if reload and self.image_id is not None and self.image_id in result.changes.image_ids:
            self.load(self.image_id)
        if not result.changes.is_empty():
            self.session.notify(result.changes)

    def _failed(self, error: JobError) -> None:
        self.report(error.message)

    def grid_actions(self, count: int) -> list[tuple[str, str]]:
        """(menu text, action) for the grid's context menu."""
        suffix = f" ({count} images)" if count > 1 else ""
        return [
            (f"Mask from alpha{suffix}", "from_alpha"),
            (f"Remove letterbox borders{suffix}", "letterbox"),
            (f"Clear mask{suffix}", "clear_mask"),
            (f"Clear crop{suffix}", "clear_crop"),
        ]
