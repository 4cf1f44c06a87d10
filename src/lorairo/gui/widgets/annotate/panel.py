"""AnnotatePanel: pick models, choose images, see the estimate, run with progress / cancel, manage batches.

The run goes AnnotationService -> (worker thread via the JobManager) -> ai_annotator -> image-annotator-lib.
Results are committed per batch and broadcast through `session.notify(changes)`, so the grid and the details
panel show them as they land. GUI thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorairo.annotations.ai_annotator import AnnotatorModel, ModelEstimate
from lorairo.gui.models.selected_ids import SelectedIds
from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.annotate.batch_jobs import BatchJobsWidget
from lorairo.gui.widgets.annotate.model_picker import ModelPicker
from lorairo.gui.workers import Job, JobContext
from lorairo.services.annotation_engines import ENGINES, engine_needs
from lorairo.services.annotation_service import AnnotationPlan, AnnotationRunSummary, AnnotationService
from lorairo.services.changes import Changes
from lorairo.services.id_text import sorted_distinct
from lorairo.services.image_query_service import parse_filter

if TYPE_CHECKING:
    import numpy as np

SCOPE_SELECTION, SCOPE_ALL, SCOPE_FILTER = range(3)
ENGINE_LABELS = {"local": "This computer", "ray": "Ray cluster"}


def format_seconds(seconds: float) -> str:
    """A duration as the panel words it: tenths under 10 s (a small run on a fast model read "about 0 s")."""
    if seconds < 0.1:
        return "under 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_text(estimates: list[ModelEstimate], pairs: int) -> str:
    if not pairs:
        return "Nothing to do: every chosen model has annotated these images (tick “again” to redo)."
    seconds = sum(e.seconds for e in estimates)
    prices = [e.usd for e in estimates if e.usd is not None]
    cost = f", about ${sum(prices):.2f}" if prices else ""
    unknown = [e.model_name for e in estimates if e.usd is None and e.input_tokens]
    note = f" (price unknown for {', '.join(unknown)})" if unknown else ""
    return f"{pairs} image×model runs, about {format_seconds(seconds)}{cost}{note}"


class AnnotatePanel(QWidget):
    """The Annotate dock: results are broadcast as they land; `show_images(ids)` follows the selection."""

    def __init__(self, session: ProjectSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.selected_ids: Sequence[int] = []
        self.job: Job | None = None
        self._started = 0.0
        self._build()
        # The estimate runs while the panel is seen only: it is a tab behind the details at start, and Ctrl+A over
        # 1M images used to resolve the whole selection for it beside the grid (docs/benchmarks.md, "Ctrl+A at 1M").
        self._shown = True
        self._estimate_stale = False
        self._estimate_timer = QTimer(self, singleShot=True, interval=300)
        self._estimate_timer.timeout.connect(self._estimate)
        session.project_changed.connect(self._project_changed)
        session.project_settled.connect(self._project_settled)
        self._unsubscribe = session.config.subscribe(self._setting_changed)
        self.destroyed.connect(lambda *_: self._unsubscribe())
        self._project_changed(session.project)
        if session.settled:
            self._project_settled(session.project)

    # --- layout ------------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.picker = ModelPicker(self)
        self.keys_hint = QLabel(
            'Some cloud models need an API key. <a href="settings">Open Settings…</a>', self, openExternalLinks=False
        )
        self.keys_hint.linkActivated.connect(self._open_settings)
        self.keys_hint.hide()
        self.scope = QComboBox(self)
        self.scope.addItems(["Selected images", "All images", "Images matching a filter"])
        self.filter_edit = QLineEdit(self, placeholderText='e.g. untagged  or  tag:"long hair" -tag:blurry')
        self.filter_edit.hide()
        self.rerun = QCheckBox("Annotate again images a model already did", self)
        self.engine = QComboBox(self)
        for name in ENGINES:  # "ray (needs extra: ray)" is listed but not selectable without the extra
            needs = engine_needs(name)
            self.engine.addItem(ENGINE_LABELS[name] + (f" ({needs})" if needs else ""), name)
            if needs:
                item = cast(Any, self.engine.model()).item(self.engine.count() - 1)
                item.setEnabled(False)
        self.engine.setToolTip("Where local models run; a Ray cluster is set in Settings (annotation.ray_address)")
        self._select_engine(str(self.session.config.get("annotation.engine")))
        self.estimate = QLabel("", self, wordWrap=True)
        self.run_button = QPushButton("Annotate", self)
        self.run_button.setDefault(True)
        self.batch_button = QPushButton("Submit as batch", self)
        self.batch_button.setToolTip("Send the chosen cloud model's requests as one Batch API job (cheaper, slower)")
        self.batch_button.clicked.connect(self._show_batches)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar(self, textVisible=True)
        self.rate = QLabel("", self)
        self.summary = QLabel("", self, wordWrap=True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.batches = BatchJobsWidget(self.session, self)

        scope_row = QHBoxLayout()
        scope_row.addWidget(QLabel("Images:", self))
        scope_row.addWidget(self.scope, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.batch_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        self.batch_toggle = QToolButton(self)
        self.batch_toggle.setText("Batch API jobs")
        self.batch_toggle.setCheckable(True)
        self.batch_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.batch_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.batch_toggle.setAutoRaise(True)
        self.batch_toggle.toggled.connect(self._toggle_batches)
        self.batches.hide()
        content = QWidget(self)
        layout = QVBoxLayout(content)
        layout.addWidget(QLabel("<b>Models</b>", self))
        self.picker.setMinimumHeight(240)
        layout.addWidget(self.picker, 1)
        layout.addWidget(self.keys_hint)
        layout.addLayout(scope_row)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.rerun)
        engine_row = QHBoxLayout()
        engine_row.addWidget(QLabel("Run on:", self))
        engine_row.addWidget(self.engine, 1)
        layout.addLayout(engine_row)
        layout.addWidget(self.estimate)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.rate)
        layout.addWidget(self.summary)
        self.batches.table.setMaximumHeight(130)
        layout.addWidget(self.batch_toggle)
        layout.addWidget(self.batches)
        # A short dock scrolls instead of squeezing widgets over each other.
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.picker.selection_changed.connect(self._inputs_changed)
        self.scope.currentIndexChanged.connect(self._scope_changed)
        self.filter_edit.textChanged.connect(self._inputs_changed)
        self.rerun.toggled.connect(self._inputs_changed)
        self.run_button.clicked.connect(self.start)
        self.batch_button.clicked.connect(self._submit_batch)
        self.cancel_button.clicked.connect(self.cancel)

    def _show_batches(self) -> None:
        self.batch_toggle.setChecked(True)

    def _toggle_batches(self, shown: bool) -> None:
        self.batches.setVisible(shown)
        self.batch_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    # --- state -------------------------------------------------------------------------------------------

    def show_images(self, ids: Any) -> None:
        # The grid's SelectedIds is immutable: kept, not copied (1M Python ints on Ctrl+A stalled the GUI thread);
        # the worker that resolves the request makes its list.
        self.selected_ids = ids if isinstance(ids, SelectedIds) else list(ids or [])
        self.scope.setItemText(SCOPE_SELECTION, f"Selected images ({len(self.selected_ids)})")
        self._inputs_changed()

    def _project_changed(self, project: object) -> None:
        self.setEnabled(project is not None)
        self.summary.clear()
        self.progress.reset()

    def _project_settled(self, project: object) -> None:
        """The model list and batch jobs once the grid shows the project's first result: listing the models
        imports the annotator library (0.4 s of a worker's CPU), which at 1M images competed with the grid's id
        list for the GIL and the two cores."""
        if project is not None:
            self.refresh_models()
            self.batches.reload()

    def _setting_changed(self, key: str, value: object) -> None:
        if key == "annotation.engine":
            self._select_engine(str(value))
        if key.startswith(("api.", "ai_providers.")) and self.session.project is not None:
            self.refresh_models()

    def refresh_models(self) -> None:
        project = self.session.project
        if project is None:
            return
        config = self.session.config
        defaults = list(config.get("annotation.default_models"))

        def fetch(_ctx: JobContext) -> list[AnnotatorModel]:
            return AnnotationService(config, project).models(refresh=True)

        def show(models: object) -> None:
            assert isinstance(models, list)
            self.picker.set_models(models, checked=defaults)
            self.keys_hint.setVisible(bool(self.picker.missing_keys()))

        self.session.jobs.submit("Annotation models", fetch, on_result=show, visible=False)

    def _scope_changed(self, index: int) -> None:
        self.filter_edit.setVisible(index == SCOPE_FILTER)
        self._inputs_changed()

    def _inputs_changed(self, *_: object) -> None:
        running = self.job is not None
        has_models = bool(self.picker.checked_models())
        self.run_button.setEnabled(has_models and not running)
        cloud = [n for n in self.picker.checked_models() if (m := self.picker.annotator(n)) and m.is_cloud]
        self.batch_button.setEnabled(len(cloud) == 1 and not running)
        self._request_estimate()

    def _request_estimate(self) -> None:
        """Estimate again after the debounce when the panel is seen; otherwise when it is shown next."""
        if self._shown and self.isVisible():
            self._estimate_stale = False
            self._estimate_timer.start()
        else:
            self._estimate_stale = True
            self._estimate_timer.stop()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._estimate_stale:
            self._request_estimate()

    def set_shown(self, shown: bool) -> None:
        """Whether the user can see the panel (its dock's tab chosen or left; the main window calls this)."""
        self._shown = shown
        if shown and self._estimate_stale:
            self._request_estimate()

    def _target_ids(self) -> Sequence[int] | None:
        """The chosen images, or None when they must be queried (all / filter) in the worker."""
        return self.selected_ids if self.scope.currentIndex() == SCOPE_SELECTION else None

    def _request(self) -> Callable[[], list[int]]:
        """Capture the chosen images on the GUI thread; the returned function resolves them in a worker
        (querying the project for "all images" / "matching a filter")."""
        explicit, filter_text = self._target_ids(), self.filter_edit.text()
        all_images, query = self.scope.currentIndex() == SCOPE_ALL, self.session.query

        def resolve() -> list[int]:
            if explicit is not None:
                return list(explicit)  # on the worker: a 1M-image selection becomes a list here, not on the GUI
            assert query is not None
            return query.query_ids(None if all_images else parse_filter(filter_text))

        return resolve

    def _request_array(self) -> Callable[[], np.ndarray]:
        """Like `_request`, as distinct ids in one int64 array: the grid's selection is viewed, not listed."""
        explicit, filter_text = self._target_ids(), self.filter_edit.text()
        all_images, query = self.scope.currentIndex() == SCOPE_ALL, self.session.query

        def resolve() -> np.ndarray:
            import numpy as np

            if isinstance(explicit, SelectedIds):
                return np.asarray(explicit)  # unique by construction (a grid row shows one image)
            if explicit is not None:
                return sorted_distinct(np.asarray(list(explicit), dtype=np.int64))
            assert query is not None
            return query.ids_array(None if all_images else parse_filter(filter_text))

        return resolve

    # --- estimate ----------------------------------------------------------------------------------------

    def _estimate(self) -> None:
        project, models = self.session.project, self.picker.checked_models()
        if project is None or not models:
            self.estimate.setText("Choose one or more models.")
            return
        rerun = self.rerun.isChecked()
        config = self.session.config
        resolve_array = self._request_array()

        def compute(_ctx: JobContext) -> str:
            ids = resolve_array()
            if not len(ids):
                return "No images chosen: select some in the grid, or choose “All images”."
            service = AnnotationService(config, project)
            pending = service.pending_counts(ids, models, rerun=rerun)  # counts only: no Python int per image
            pairs = sum(pending.values())
            estimates = service.estimate_counts(pending, models) if pairs else []
            return estimate_text(estimates, pairs)

        self.session.jobs.submit(
            "Estimate",
            compute,
            on_result=lambda text: self.estimate.setText(str(text)),
            on_error=lambda err: self.estimate.setText(err.message),
            visible=False,
        )

    # --- run ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Plan in a worker, ask about past policy violations, then run."""
        project, models = self.session.project, self.picker.checked_models()
        if project is None or not models or self.job is not None:
            return
        resolve = self._request()
        rerun = self.rerun.isChecked()
        config = self.session.config

        def plan(_ctx: JobContext) -> tuple[list[int], AnnotationPlan]:
            ids = resolve()
            return ids, AnnotationService(config, project).plan(ids, models, rerun=rerun)

        def planned(value: object) -> None:
            ids, the_plan = cast(tuple[list[int], AnnotationPlan], value)
            if not ids:
                self.summary.setText("No images chosen.")
                return
            resend = False
            if the_plan.policy_violations:
                lines = "\n".join(f"• {m}: {len(v)} images" for m, v in the_plan.policy_violations.items())
                answer = QMessageBox.question(
                    self,
                    "Past policy violations",
                    "These models refused some of these images before:\n"
                    f"{lines}\n\nSend those images again? (No skips them.)",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                    QMessageBox.StandardButton.No,
                )
                resend = answer == QMessageBox.StandardButton.Yes
            self._run(ids, models, rerun=rerun, resend=resend)

        self.session.jobs.submit("Plan annotation", plan, on_result=planned)

    def _run(self, ids: list[int], models: list[str], *, rerun: bool, resend: bool) -> None:
        project, config = self.session.project, self.session.config
        assert project is not None

        engine = str(self.engine.currentData())

        def work(ctx: JobContext) -> AnnotationRunSummary:
            service = AnnotationService(config, project)
            if engine == "ray":
                from lorairo.services.annotation_engines.ray_engine import RayOptions, run_on_ray

                return run_on_ray(
                    service,
                    ids,
                    models,
                    RayOptions.from_config(config),
                    rerun=rerun,
                    progress=ctx.progress,
                    cancel=ctx.cancel,
                    on_batch=ctx.emit,
                )
            return service.run(
                ids,
                models,
                rerun=rerun,
                resend_policy_violations=resend,
                progress=ctx.progress,
                cancel=ctx.cancel,
                on_batch=ctx.emit,
            )

        self._started = time.monotonic()
        self.summary.setText(f"Annotating {len(ids)} images with {', '.join(models)}…")
        self.progress.setRange(0, 0)
        self.job = self.session.jobs.submit(
            "Annotate",
            work,
            on_progress=self._progress,
            on_partial=self._batch_done,
            on_result=self._finished,
            on_finished=self._job_ended,
        )
        self._inputs_changed()
        self.cancel_button.setEnabled(True)

    def _select_engine(self, name: str) -> None:
        index = self.engine.findData(name)
        if index >= 0 and not engine_needs(name):
            self.engine.setCurrentIndex(index)

    def _progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        elapsed = time.monotonic() - self._started
        if done and elapsed > 0:
            rate = done / elapsed
            eta = (total - done) / rate if rate else 0
            self.rate.setText(f"{rate:.1f} image×model/s · ETA {format_seconds(eta)} · {message}")

    def _batch_done(self, changes: object) -> None:
        # AnnotationService reports each stored group of results as a Changes record.
        if isinstance(changes, Changes) and not changes.is_empty():
            self.session.notify(changes)

    def _finished(self, summary: object) -> None:
        assert isinstance(summary, AnnotationRunSummary)
        parts = []
        for model in summary.models:
            text = f"{model}: {summary.annotated.get(model, 0)} annotated"
            if summary.failed.get(model):
                text += f", {summary.failed[model]} failed"
            if summary.policy_violations.get(model):
                text += f" ({summary.policy_violations[model]} refused by policy)"
            if summary.skipped_done.get(model):
                text += f", {summary.skipped_done[model]} already done"
            if summary.skipped_policy.get(model):
                text += f", {summary.skipped_policy[model]} skipped (refused before)"
            parts.append(text)
        head = "Cancelled — what finished is saved; run again to continue." if summary.cancelled else "Done."
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(summary.failure_reasons.items()))
        self.summary.setText(
            f"{head} {summary.images} images in {format_seconds(summary.elapsed)} "
            f"({summary.images_per_second:.1f}/s).\n" + "\n".join(parts) + (f"\nFailures: {reasons}" if reasons else "")
        )
        self._report_failures(summary)

    def _report_failures(self, summary: AnnotationRunSummary) -> None:
        """Each failure reason with its first messages in the window's Errors tab (what the CLI prints): the
        summary line above only counts them, and a user fixing a key or a server needs the message."""
        for reason, count in sorted(summary.failure_reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            item = f"{reason} ({count} image×model pair{'s' if count != 1 else ''})"
            for message in summary.failure_messages.get(reason) or [reason]:
                self.session.report_failure("Annotate", message, item)

    def _job_ended(self) -> None:
        self.job = None
        self.cancel_button.setEnabled(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self._inputs_changed()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.rate.setText("Cancelling after the current batch…")

    def _submit_batch(self) -> None:
        cloud = [n for n in self.picker.checked_models() if (m := self.picker.annotator(n)) and m.is_cloud]
        if len(cloud) != 1 or self.session.project is None:
            return
        resolve = self._request()
        self.session.jobs.submit(
            "Batch images", lambda _ctx: resolve(), on_result=lambda ids: self.batches.submit(list(ids), cloud[0])
        )

    def _open_settings(self, _link: str = "") -> None:
        from lorairo.gui.dialogs.settings_dialog import SettingsDialog

        SettingsDialog(self.session.config, self).exec()
