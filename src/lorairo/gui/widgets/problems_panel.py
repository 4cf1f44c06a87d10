"""The Problems view: each quality check (blurry, dark, letterbox ...) with how many images of the project it
flags, a threshold slider that shows how many would be flagged at that value, and a click that filters the grid
(`quality:blurry`).

Counts come from SQL (lorairo.services.quality_service) on a worker through the JobManager: one statement for
all checks when the project opens or changes, one per slider move (debounced). Only while the panel is shown
(it is a tab behind the details at first): at 1M images one count costs about 1.7 s of a worker's CPU, and run
at every project open and import batch it competed with the grid for the two cores. A hidden panel counts when
it is shown, a change arriving while a count runs is counted once after it, and a newly opened project is
counted once its grid has its first result (`ProjectSession.project_settled`). A slider only previews: the
grid's `quality:` terms use the thresholds in the settings; "Use as default" saves the previewed value there.
GUI thread only.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.session import ProjectSession
from lorairo.gui.workers import JobContext
from lorairo.services.changes import Changes
from lorairo.services.filter_language import QUALITY_CHECKS
from lorairo.services.quality_rules import CHECK_INFO, CHECK_THRESHOLD, QualityThresholds

PREVIEW_DELAY_MS = 150  # a dragged slider asks for one count when it rests, not one per pixel
_STEPS = 1000


def _setting_key(check: str) -> str:
    """The configuration key of a check's threshold (needs-upscale follows the training resolution)."""
    name = CHECK_THRESHOLD[check]
    return "export.resolution" if name == "upscale_side" else f"quality.{name}"


class _CheckRow:
    """One check's widgets: the filter button with its count, the slider and the preview of the slider's count."""

    def __init__(self, panel: ProblemsPanel, check: str, grid: QGridLayout, row: int) -> None:
        label, low, high, _step = CHECK_INFO[check]
        self.check, self.low, self.high = check, low, high
        self.button = QPushButton(f"quality:{check}", panel)
        self.button.setObjectName(f"problem_{check}")
        self.button.setToolTip(f"Show the images flagged by this check in the grid (filter quality:{check})")
        self.button.setFlat(True)
        self.button.setStyleSheet("text-align: left; font-weight: bold;")
        self.button.clicked.connect(lambda: panel.check_clicked.emit(check))
        self.count = QLabel("…", panel)
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.caption = QLabel(label, panel)
        self.caption.setStyleSheet("color: palette(placeholder-text); font-size: small;")
        self.caption.setWordWrap(True)
        self.slider = QSlider(Qt.Orientation.Horizontal, panel)
        self.slider.setRange(0, _STEPS)
        self.value = QLabel(panel)
        self.value.setMinimumWidth(48)
        self.preview = QLabel(panel)
        self.preview.setMinimumWidth(110)
        self.slider.setToolTip(f"{label}: drag to see how many images a threshold would flag")
        # Three lines per check: the check (click = filter) and its count; what it measures; the slider.
        grid.addWidget(self.button, 3 * row, 0, 1, 2)
        grid.addWidget(self.count, 3 * row, 2)
        grid.addWidget(self.caption, 3 * row + 1, 0, 1, 3)
        grid.addWidget(self.slider, 3 * row + 2, 0)
        grid.addWidget(self.value, 3 * row + 2, 1)
        grid.addWidget(self.preview, 3 * row + 2, 2)

    def threshold(self) -> float:
        return self.low + (self.high - self.low) * self.slider.value() / _STEPS

    def set_threshold(self, value: float) -> None:
        span = self.high - self.low
        self.slider.setValue(round((min(max(value, self.low), self.high) - self.low) / span * _STEPS))
        self.show_value()

    def show_value(self) -> None:
        value = self.threshold()
        self.value.setText(f"{value:.0f}" if self.high - self.low >= 50 else f"{value:.3g}")


class ProblemsPanel(QWidget):
    """Quality checks of the open project. `check_clicked(str)` asks the window to filter by `quality:<check>`."""

    check_clicked = Signal(str)
    counts_loaded = Signal(dict)  # check -> count at the configured thresholds (tests wait on it)
    preview_loaded = Signal(str, int)  # check, count at the slider's value

    def __init__(self, session: ProjectSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("problems_panel")
        self.session = session
        self.counts: dict[str, int] = {}
        self.previews: dict[str, int] = {}
        self._generation = 0
        self._pending: set[str] = set()
        self._stale = False  # changed while hidden: count when shown
        self._shown = True  # the window says False while the panel's tab is behind another (`set_shown`)
        self._counting = False  # a count job runs; `_again` asks for one more after it
        self._again = False
        self._timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self._run_previews)

        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.measure_button = QPushButton("Measure images without metrics", self)
        self.measure_button.setToolTip("Measure the quality checks of images imported before (lorairo quality)")
        self.measure_button.clicked.connect(self.measure_missing)
        self.measure_button.hide()
        grid = QGridLayout()
        grid.setColumnStretch(0, 1)
        grid.setVerticalSpacing(2)
        self.rows = {check: _CheckRow(self, check, grid, n) for n, check in enumerate(QUALITY_CHECKS)}
        for row in self.rows.values():
            row.slider.valueChanged.connect(lambda _v, r=row: self._slider_moved(r))
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.measure_button)
        layout.addLayout(grid)
        layout.addStretch(1)
        self._reset_sliders()
        session.project_changed.connect(self._project_changed)
        session.project_settled.connect(lambda _p: self.request_counts())
        session.changed.connect(self._changed)
        self._unsubscribe = session.config.subscribe(self._setting_changed)
        self.destroyed.connect(lambda *_: self._unsubscribe())
        self.request_counts()

    def thresholds(self) -> QualityThresholds:
        return QualityThresholds.from_config(self.session.config.get)

    def _reset_sliders(self) -> None:
        thresholds = self.thresholds()
        for check, row in self.rows.items():
            row.slider.blockSignals(True)
            row.set_threshold(float(getattr(thresholds, CHECK_THRESHOLD[check])))
            row.slider.blockSignals(False)

    def _setting_changed(self, key: str, _value: object) -> None:
        if key.startswith("quality.") or key == "export.resolution":  # the checks' thresholds moved
            self._reset_sliders()
            self.request_counts()

    def _changed(self, changes: Changes) -> None:
        if changes.added or changes.removed:  # counts move only when images come or go
            self.request_counts()

    def _project_changed(self, _project: object) -> None:
        """The last project's counts go at once; the new project's follow `project_settled`."""
        self._generation += 1
        self.counts, self.previews = {}, {}
        for row in self.rows.values():
            row.count.setText("")
            row.preview.setText("")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.request_counts()

    def set_shown(self, shown: bool) -> None:
        """Whether the user can see the panel (a dock's tab behind another is "visible" to Qt but not seen)."""
        self._shown = shown
        if shown and self._stale:
            self.request_counts()

    def request_counts(self) -> None:
        """Count again: now when shown and no count runs, after the running one, or when shown."""
        if not (self._shown and self.isVisible()):
            self._stale = True
        elif self._counting:
            self._again = True
        else:
            self.reload()

    def reload(self) -> None:
        """Count every check at the configured thresholds (and every slider's value) on a worker, now."""
        project = self.session.project
        self._stale = self._again = False
        self._generation += 1
        generation = self._generation
        if project is None:
            self.summary.setText("Open a project to see its problems.")
            for row in self.rows.values():
                row.count.setText("")
                row.preview.setText("")
            return
        from lorairo.services.quality_service import QualityService

        service = QualityService(project, self.thresholds())

        def work(_ctx: object) -> tuple[dict[str, int], int]:
            return service.counts(), service.unmeasured()

        def done(result: tuple[dict[str, int], int]) -> None:
            if generation == self._generation:
                self._show_counts(*result)

        def finished() -> None:
            self._counting = False
            if self._again:
                self.request_counts()

        self._counting = True
        self.session.jobs.submit("Count problems", work, on_result=done, on_finished=finished, visible=False)
        self._pending.update(self.rows)
        self._timer.start()

    def _show_counts(self, counts: dict[str, int], unmeasured: int) -> None:
        self.counts = counts
        for check, n in counts.items():
            self.rows[check].count.setText(f"{n:,}")
        if unmeasured:
            self.summary.setText(
                f"{unmeasured:,} image(s) have no quality metrics yet (imported before the checks existed or "
                "could not be measured): the metric checks skip them."
            )
            self.measure_button.show()
        else:
            self.summary.setText("Click a check to show its images. Sliders preview other thresholds.")
            self.measure_button.hide()
        self.counts_loaded.emit(counts)

    def _slider_moved(self, row: _CheckRow) -> None:
        row.show_value()
        self._pending.add(row.check)
        self._timer.start()

    def _run_previews(self) -> None:
        project = self.session.project
        if project is None or not self._pending:
            return
        from lorairo.services.quality_service import QualityService

        service = QualityService(project, self.thresholds())
        asked = {check: self.rows[check].threshold() for check in sorted(self._pending)}
        self._pending.clear()
        generation = self._generation

        def work(_ctx: object) -> dict[str, int]:
            return {check: service.count(check, value) for check, value in asked.items()}

        def done(result: dict[str, int]) -> None:
            if generation != self._generation:
                return
            for check, n in result.items():
                if abs(self.rows[check].threshold() - asked[check]) < 1e-9:  # not moved on meanwhile
                    self.previews[check] = n
                    self.rows[check].preview.setText(f"→ {n:,} at this value")
                    self.rows[check].preview.setToolTip(
                        f"{n:,} image(s) would be flagged at this threshold; the filter uses the setting "
                        f"{_setting_key(check)} (Settings or lorairo config set)"
                    )
                    self.preview_loaded.emit(check, n)

        self.session.jobs.submit("Count problems at a threshold", work, on_result=done, visible=False)

    def preview(self, check: str, value: float) -> None:
        """Move `check`'s slider to `value` (the nearest step) and count what it would flag."""
        self.rows[check].set_threshold(value)

    def measure_missing(self) -> None:
        """Measure images without metrics on the write pool, then count again."""
        project = self.session.project
        if project is None:
            return
        from lorairo.services.quality_service import QualityService

        service = QualityService(project, self.thresholds())
        config = self.session.config
        self.measure_button.setEnabled(False)

        def work(ctx: JobContext) -> int:
            result = service.backfill(
                thumbnail_size=int(config.get("image_processing.thumbnail_size")),
                max_pixels=int(config.get("image_processing.max_pixels")),
                progress=ctx.progress,
                cancel=ctx.cancel,
            )
            return len(result.failures)

        def finished() -> None:
            self.measure_button.setEnabled(True)
            self.reload()

        self.session.jobs.submit("Measure image quality", work, on_finished=finished, pool="write")
