"""The Statistics view: tag frequency (top N, click a bar to filter by its tag), score histograms, rating
distribution and a width x height scatter, for the project or the grid's current filter.

Plots are pyqtgraph (fast with 100k-point scatters, PySide6-native). Figures come from
`statistics_service.dataset_statistics` on a worker; the view reloads when shown, when its scope or the
filter changes, and after writes (`session.changed`) while it is visible. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSpinBox, QTabWidget, QVBoxLayout, QWidget

from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.details.tag_chips import category_color
from lorairo.services.changes import Changes
from lorairo.services.image_query_service import ImageFilter
from lorairo.services.statistics_service import HISTOGRAM_BINS, DatasetStats, dataset_statistics

RELOAD_DELAY_MS = 500
ROW_PIXELS = 18  # height a tag's bar needs for its label to be readable
SCORE_COLORS = ("#3b6fb6", "#d35400", "#2e7d32", "#8e44ad", "#c0392b", "#16a085")


def _plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background=None)
    plot.setTitle(title)
    plot.setLabel("left", left)
    plot.setLabel("bottom", bottom)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setMenuEnabled(False)
    return plot


class StatisticsView(QWidget):
    """Four tabs of plots. `tag_clicked(str)` when a tag's bar is clicked."""

    tag_clicked = Signal(str)
    loaded = Signal(object)  # DatasetStats (tests wait on it)

    def __init__(
        self, session: ProjectSession, current_filter: Callable[[], ImageFilter], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("statistics_view")
        self.session = session
        self.current_filter = current_filter
        self.stats: DatasetStats | None = None
        self._generation = 0
        self._tag_names: list[str] = []
        self._timer = QTimer(self, singleShot=True, interval=RELOAD_DELAY_MS)

        self.scope = QCheckBox("Current filter only", self)
        self.scope.toggled.connect(lambda _on: self.reload())
        self.top_n = QSpinBox(self)
        self.top_n.setRange(5, 200)
        self.top_n.setValue(30)
        self.top_n.setPrefix("Top ")
        self.top_n.setSuffix(" tags")
        self.top_n.valueChanged.connect(lambda _n: self._timer.start())
        self.summary = QLabel(self)
        bar = QHBoxLayout()
        bar.addWidget(self.scope)
        bar.addWidget(self.top_n)
        bar.addStretch(1)
        bar.addWidget(self.summary)

        self.tabs = QTabWidget(self)
        self.tag_plot = _plot("Tag frequency (click a bar to filter)", "", "images")
        self.tag_plot.getPlotItem().invertY(True)
        self.tag_plot.setMouseEnabled(x=False, y=True)  # scroll through the tags, counts stay in view
        self.tag_plot.scene().sigMouseClicked.connect(self._plot_clicked)
        self.score_plot = _plot("Score histograms (0 = scale minimum, 1 = maximum)", "images", "score")
        self.score_plot.addLegend()
        self.rating_plot = _plot("Ratings", "images", "")
        self.size_plot = _plot("Resolution", "height (px)", "width (px)")
        self.size_plot.setAspectLocked(True)
        for plot, name in (
            (self.tag_plot, "Tags"),
            (self.score_plot, "Scores"),
            (self.rating_plot, "Ratings"),
            (self.size_plot, "Resolution"),
        ):
            self.tabs.addTab(plot, name)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.tabs, 1)
        self._timer.timeout.connect(self.reload)
        session.changed.connect(self._changed)
        session.project_changed.connect(lambda _p: self._timer.start())

    def sizeHint(self) -> QSize:
        return QSize(520, 300)

    # --- loading ---------------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._timer.start(0)

    def _changed(self, changes: Changes) -> None:
        if self.isVisible() and (changes.tags or changes.scores or changes.ratings or changes.added):
            self._timer.start()

    def filter_changed(self) -> None:
        if self.scope.isChecked() and self.isVisible():
            self._timer.start()

    def reload(self) -> None:
        project = self.session.project
        self._generation += 1
        generation = self._generation
        if project is None:
            self.summary.setText("No project open")
            return
        image_filter = self.current_filter() if self.scope.isChecked() else None
        db, top_n = project.db, self.top_n.value()

        def done(stats: DatasetStats) -> None:
            if generation == self._generation:
                self.show_stats(stats)

        self.session.jobs.submit(
            "Dataset statistics",
            lambda _ctx: dataset_statistics(db, image_filter, top_n),
            on_result=done,
            visible=False,
        )

    # --- plotting --------------------------------------------------------------------------------------

    def show_stats(self, stats: DatasetStats) -> None:
        self.stats = stats
        self.summary.setText(f"{stats.image_count:,} images")
        self._plot_tags(stats)
        self._plot_scores(stats)
        self._plot_ratings(stats)
        self._plot_sizes(stats)
        self.loaded.emit(stats)

    def _plot_tags(self, stats: DatasetStats) -> None:
        plot = self.tag_plot
        plot.clear()
        self._tag_names = [t.tag for t in stats.tags]
        if not stats.tags:
            return
        rows = np.arange(len(stats.tags))
        counts = np.array([t.count for t in stats.tags], dtype=float)
        brushes = [pg.mkBrush(category_color(t.category)) for t in stats.tags]
        plot.addItem(pg.BarGraphItem(x0=0, y=rows, height=0.7, width=counts, brushes=brushes))
        axis = plot.getAxis("left")
        axis.setTicks([[(int(i), name) for i, name in enumerate(self._tag_names)]])
        plot.setXRange(0, float(counts.max()), padding=0.05)
        self._fit_tag_rows()

    def _fit_tag_rows(self) -> None:
        """Show as many bars as have room for a readable label; the rest are a vertical drag / wheel away."""
        rows = len(self._tag_names)
        if rows:
            room = max(3, int(self.tag_plot.height() / ROW_PIXELS) - 2)
            self.tag_plot.setYRange(-0.5, min(rows, room) - 0.5, padding=0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_tag_rows()

    def tag_at(self, y: float) -> str | None:
        """The tag whose bar lies at plot coordinate `y` (a row index), if any."""
        row = round(y)
        return self._tag_names[row] if 0 <= row < len(self._tag_names) and abs(y - row) <= 0.4 else None

    def _plot_clicked(self, event: Any) -> None:
        point = self.tag_plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        tag = self.tag_at(point.y())
        if tag is not None and point.x() >= 0:
            self.tag_clicked.emit(tag)

    def _plot_scores(self, stats: DatasetStats) -> None:
        plot = self.score_plot
        plot.clear()
        edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
        for n, (name, bins) in enumerate(stats.score_bins.items()):
            color = SCORE_COLORS[n % len(SCORE_COLORS)]
            plot.plot(
                edges,
                np.array(bins, dtype=float),
                stepMode="center",
                fillLevel=0,
                brush=pg.mkBrush(color + "55"),
                pen=pg.mkPen(color, width=2),
                name=name,
            )

    def _plot_ratings(self, stats: DatasetStats) -> None:
        plot = self.rating_plot
        plot.clear()
        labels = list(stats.ratings)
        if not labels:
            return
        plot.addItem(
            pg.BarGraphItem(x=np.arange(len(labels)), height=list(stats.ratings.values()), width=0.6, brush="#3b6fb6")
        )
        plot.getAxis("bottom").setTicks([[(i, label) for i, label in enumerate(labels)]])

    def _plot_sizes(self, stats: DatasetStats) -> None:
        plot = self.size_plot
        plot.clear()
        if not stats.widths:
            return
        # One brush and pxMode points: pyqtgraph draws 100k of them without per-point objects.
        plot.addItem(
            pg.ScatterPlotItem(
                x=np.array(stats.widths, dtype=float),
                y=np.array(stats.heights, dtype=float),
                size=5,
                pen=None,
                brush=pg.mkBrush(59, 111, 182, 120),
                pxMode=True,
            )
        )
        top = float(max(max(stats.widths), max(stats.heights)))
        plot.plot([0, top], [0, top], pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))  # square images
