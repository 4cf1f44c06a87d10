"""The Statistics view: tag frequency (top N, click a bar to filter by its tag), a histogram per score name,
rating distribution, a width x height scatter and the training-bucket distribution for a chosen resolution, for
the project or the grid's current filter.

Plots are pyqtgraph (PySide6-native); the resolution scatter draws one point per distinct size, aggregated on
the worker. Figures come from
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
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.details.tag_chips import category_color
from lorairo.services.changes import Changes
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export.bucketing import BucketSettings
from lorairo.services.image_query_service import ImageFilter, ImageQueryService
from lorairo.services.statistics_service import (
    HISTOGRAM_BINS,
    BucketDistribution,
    DatasetStats,
    bucket_distribution,
    dataset_statistics,
    filter_ids,
)

RELOAD_DELAY_MS = 500
MAX_PLOTTED_SIZES = 5_000  # points the resolution scatter draws; more only repaint the same pixels
ROW_PIXELS = 18  # height a tag's bar needs for its label to be readable
_HEIGHT_BITS = 32  # size_points packs width and height (pixels, < 2**31) into one int64
_HEIGHT_MASK = (1 << _HEIGHT_BITS) - 1
SCORE_COLORS = ("#3b6fb6", "#d35400", "#2e7d32", "#8e44ad", "#c0392b", "#16a085")


def size_points(widths: Any, heights: Any, limit: int = MAX_PLOTTED_SIZES) -> tuple[np.ndarray, ...]:
    """(x, y, images) for the resolution scatter: one point per distinct width x height with how many images
    have it, at most `limit` points (sizes snapped to a coarser pixel grid until they fit). Run on the worker: at
    1M images the statistics hold 200k sizes, and plotting them on the GUI thread stalled it ~1 s."""
    width, height = np.asarray(widths, dtype=np.int64), np.asarray(heights, dtype=np.int64)
    if not len(width):
        empty = np.empty(0, dtype=float)
        return empty, empty, empty
    step = 1
    while True:
        w, h = (
            (width, height) if step == 1 else ((width + step // 2) // step * step, (height + step // 2) // step * step)
        )
        # One int64 key per size: np.unique(axis=0) sorts rows as a structured dtype, which holds the GIL
        # (160 ms for 200k sizes, the 290 ms GUI stall when the Statistics view opened at 1M); a plain int64
        # sort releases it and is ten times faster.
        keys, counts = np.unique(w << _HEIGHT_BITS | h, return_counts=True)
        if len(keys) <= limit:
            return (keys >> _HEIGHT_BITS).astype(float), (keys & _HEIGHT_MASK).astype(float), counts.astype(float)
        step *= 2


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
        # One histogram per score name, each on its own scale (aesthetic 1-10, CLIP 0-1, ...), stacked.
        self.score_plots = pg.GraphicsLayoutWidget()
        self.score_plots.setBackground(None)
        self.rating_plot = _plot("Ratings", "images", "")
        self.size_plot = _plot("Resolution", "height (px)", "width (px)")
        self.size_plot.setAspectLocked(True)
        for plot, name in (
            (self.tag_plot, "Tags"),
            (self.score_plots, "Scores"),
            (self.rating_plot, "Ratings"),
            (self.size_plot, "Resolution"),
        ):
            self.tabs.addTab(plot, name)
        self.tabs.addTab(self._build_buckets(), "Buckets")
        self.buckets: BucketDistribution | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.tabs, 1)
        self._timer.timeout.connect(self.reload)
        session.changed.connect(self._changed)
        # Hidden (as at first), it computes nothing: showing it reloads (showEvent). At 1M images a reload
        # landing while the user filtered the grid plotted its 200k-point scatter on the GUI thread (0.8-1.1 s).
        session.project_changed.connect(lambda _p: self._timer.start() if self.isVisible() else None)

    def sizeHint(self) -> QSize:
        return QSize(520, 300)

    def _build_buckets(self) -> QWidget:
        page = QWidget(self)
        self.bucket_resolution = QComboBox(page)
        self.bucket_resolution.setEditable(True)
        self.bucket_resolution.addItems(["512", "768", "1024", "1280", "1536"])
        self.bucket_resolution.setToolTip("Training resolution (the bucket area is its square); type any value")
        self.bucket_steps = QSpinBox(page)
        self.bucket_steps.setRange(8, 256)
        self.bucket_steps.setSingleStep(8)
        self.bucket_steps.setPrefix("steps ")
        self.bucket_no_upscale = QCheckBox("No upscale", page)
        config = self.session.config
        resolution, steps, no_upscale = 1024, 64, False
        if isinstance(config, ConfigurationService):  # start from the export settings
            resolution = int(config.get("export.resolution") or resolution)
            steps = int(config.get("export.bucket_reso_steps") or steps)
            no_upscale = bool(config.get("export.bucket_no_upscale"))
        self.bucket_resolution.setCurrentText(str(resolution))
        self.bucket_steps.setValue(steps)
        self.bucket_no_upscale.setChecked(no_upscale)
        self.bucket_note = QLabel(page)
        self.bucket_note.setWordWrap(True)
        self.bucket_plot = _plot("Images per bucket (excluded images not counted)", "", "images")
        self.bucket_plot.getPlotItem().invertY(True)
        self.bucket_plot.setMouseEnabled(x=False, y=True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Resolution:", page))
        row.addWidget(self.bucket_resolution)
        row.addWidget(self.bucket_steps)
        row.addWidget(self.bucket_no_upscale)
        row.addStretch(1)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.bucket_note)
        layout.addWidget(self.bucket_plot, 1)
        self.bucket_resolution.currentTextChanged.connect(lambda _t: self._timer.start())
        self.bucket_steps.valueChanged.connect(lambda _n: self._timer.start())
        self.bucket_no_upscale.toggled.connect(lambda _on: self._timer.start())
        return page

    def bucket_settings(self) -> BucketSettings:
        """The chosen settings, sd-scripts' defaults for the rest (max bucket = the resolution, min = 256 or
        less). Raises ValueError naming the field for a bad resolution."""
        text = self.bucket_resolution.currentText().strip().lower()
        try:
            parts = [int(p) for p in text.replace("x", ",").split(",") if p.strip()]
        except ValueError:
            raise ValueError(f"resolution must be a number of pixels like 1024 or 1024x768, got {text!r}") from None
        if not parts or len(parts) > 2 or min(parts) < 64:
            raise ValueError(f"resolution must be at least 64 pixels, like 1024 or 1024x768, got {text!r}")
        width, height = parts[0], parts[-1]
        steps = self.bucket_steps.value()
        top = -(-max(width, height) // steps) * steps
        return BucketSettings(
            resolution=(width, height),
            min_bucket_reso=min(256 // steps * steps or steps, top),
            max_bucket_reso=top,
            bucket_reso_steps=steps,
            bucket_no_upscale=self.bucket_no_upscale.isChecked(),
        )

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
        db, top_n, query = project.db, self.top_n.value(), self.session.query  # query: the configured thresholds
        settings: BucketSettings | None
        try:
            settings = self.bucket_settings()
            settings.validate()
        except ValueError as exc:
            settings = None
            self.bucket_note.setText(f"Buckets: {exc}")
            self.bucket_plot.clear()

        def work(_ctx: object) -> tuple[DatasetStats, BucketDistribution | None, tuple[np.ndarray, ...]]:
            # The filter evaluated once for both (its ids), not once per figure.
            ids = None
            if image_filter is not None and not image_filter.is_empty():
                ids = filter_ids(query or ImageQueryService(db), image_filter)
            buckets = bucket_distribution(db, settings, image_filter, query, ids) if settings is not None else None
            stats = dataset_statistics(db, image_filter, top_n, query, ids)
            return stats, buckets, size_points(stats.widths, stats.heights)

        def done(result: tuple[DatasetStats, BucketDistribution | None, tuple[np.ndarray, ...]]) -> None:
            if generation == self._generation:
                stats, buckets, sizes = result
                if buckets is not None:
                    self.show_buckets(buckets)
                self.show_stats(stats, sizes)

        self.session.jobs.submit("Dataset statistics", work, on_result=done, visible=False)

    # --- plotting --------------------------------------------------------------------------------------

    def show_stats(self, stats: DatasetStats, sizes: tuple[np.ndarray, ...] | None = None) -> None:
        """Plot `stats`; `sizes` are its `size_points`, made on the worker (made here when not given)."""
        self.stats = stats
        self.summary.setText(f"{stats.image_count:,} images")
        self._plot_tags(stats)
        self._plot_scores(stats)
        self._plot_ratings(stats)
        self._plot_sizes(sizes if sizes is not None else size_points(stats.widths, stats.heights))
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
        """One histogram per score name on its own scale, stacked (overlaid they hid each other)."""
        layout = self.score_plots
        layout.clear()
        self.score_items: dict[str, pg.PlotItem] = {}
        if not stats.score_bins:
            layout.addLabel("No scores yet: annotate with a score model (e.g. an aesthetic predictor)")
            return
        for n, (name, bins) in enumerate(stats.score_bins.items()):
            low, high = stats.score_ranges.get(name, (0.0, 1.0))
            color = SCORE_COLORS[n % len(SCORE_COLORS)]
            item = layout.addPlot(row=n, col=0, title=f"{name} ({sum(bins):,} images)")
            item.setMenuEnabled(False)
            item.showGrid(x=True, y=True, alpha=0.2)
            item.setLabel("left", "images")
            item.plot(
                np.linspace(low, high, HISTOGRAM_BINS + 1),
                np.array(bins, dtype=float),
                stepMode="center",
                fillLevel=0,
                brush=pg.mkBrush(color + "77"),
                pen=pg.mkPen(color, width=2),
            )
            self.score_items[name] = item

    def show_buckets(self, buckets: BucketDistribution) -> None:
        self.buckets = buckets
        plot = self.bucket_plot
        plot.clear()
        settings = buckets.settings
        width, height = settings.resolution
        shown = sum(n for _b, n in buckets.counts)
        note = (
            f"{width}x{height}, steps {settings.bucket_reso_steps}"
            f"{', no upscale' if settings.bucket_no_upscale else ''}: {shown:,} images in {len(buckets.counts)} "
            f"bucket(s); the smallest holds {buckets.smallest:,}"
        )
        if buckets.unbucketable:
            note += f"; {buckets.unbucketable:,} image(s) too small for any bucket"
        self.bucket_note.setText(note + ".")
        if not buckets.counts:
            return
        rows = np.arange(len(buckets.counts))
        counts = np.array([n for _b, n in buckets.counts], dtype=float)
        plot.addItem(pg.BarGraphItem(x0=0, y=rows, height=0.7, width=counts, brush="#3b6fb6"))
        labels = [(int(i), f"{w}x{h}") for i, ((w, h), _n) in enumerate(buckets.counts)]
        plot.getAxis("left").setTicks([labels])
        plot.setXRange(0, float(counts.max()), padding=0.05)
        room = max(3, int(plot.height() / ROW_PIXELS) - 2)
        plot.setYRange(-0.5, min(len(labels), room) - 0.5, padding=0)

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

    def _plot_sizes(self, sizes: tuple[np.ndarray, ...]) -> None:
        """One point per distinct size (at most MAX_PLOTTED_SIZES), larger where more images share it."""
        plot = self.size_plot
        plot.clear()
        x, y, images = sizes
        self.size_item: pg.ScatterPlotItem | None = None
        if not len(x):
            return
        # One brush, pxMode points: pyqtgraph draws thousands without per-point objects. Area grows with log(n).
        self.size_item = pg.ScatterPlotItem(
            x=x,
            y=y,
            size=4 + 3 * np.log10(images),
            pen=None,
            brush=pg.mkBrush(59, 111, 182, 140),
            pxMode=True,
        )
        plot.addItem(self.size_item)
        top = float(max(x.max(), y.max()))
        plot.plot([0, top], [0, top], pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))  # square images
