"""File > Export: options, a live preview (caption line, counts, bucket and tag charts), progress and cancel.

The preview comes from `ExportService.preview` (database only, no image decoding) and runs on a worker: every
option change recomputes it after a short pause (about 1.4 s at 30k images, which blocked the GUI when it ran
here). Each request carries a generation number; a result that arrives after the options changed again is
dropped, so the preview always shows the latest options. The export itself (and the optional Hugging Face push)
runs through the window's JobManager. GUI thread only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorairo.exceptions import LoRAIroException
from lorairo.gui.workers import Job, JobError
from lorairo.services.export.layout import displayable
from lorairo.services.export.options import ExportOptions, split_words
from lorairo.services.export.results import ExportPreview, ExportResult
from lorairo.services.export.staging import is_empty_dir
from lorairo.services.export_service import ExportService
from lorairo.services.progress_text import Pace

FORMAT_LABELS = {
    "kohya": "kohya sd-scripts folder + dataset_config.toml",
    "kohya-json": "kohya metadata JSON (fine-tuning)",
    "kohya-jsonl": "kohya metadata JSONL",
    "onetrainer": "OneTrainer folder",
    "hf": "Hugging Face imagefolder",
    "simpletuner": "SimpleTuner (multidatabackend.json)",
    "ai-toolkit": "ai-toolkit (datasets: YAML)",
    "diffusion-pipe": "diffusion-pipe (dataset.toml)",
    "musubi": "musubi-tuner (dataset.toml)",
}
RESOLUTIONS = ("original", "512", "768", "1024", "1280", "1536")


class BarChart(QWidget):
    """Horizontal bars, label left and count right, painted with QPainter (PySide6-Essentials has no QtCharts)."""

    def __init__(self, title: str, max_rows: int = 14, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.max_rows = max_rows
        self.rows: list[tuple[str, int]] = []
        self.setMinimumSize(260, 22 + 16 * 6)

    def set_data(self, rows: Sequence[tuple[str, int]]) -> None:
        self.rows = list(rows)[: self.max_rows]
        self.setMinimumHeight(22 + 16 * max(6, len(self.rows)))
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        bar = pal.color(QPalette.ColorRole.Highlight)
        painter.setPen(text)
        painter.drawText(QRectF(0, 0, self.width(), 18), Qt.AlignmentFlag.AlignLeft, self.title)
        if not self.rows:
            painter.setPen(QColor(text.red(), text.green(), text.blue(), 140))
            painter.drawText(QRectF(0, 22, self.width(), 18), Qt.AlignmentFlag.AlignLeft, "nothing to show")
            return
        metrics = painter.fontMetrics()
        label_w = min(self.width() * 0.45, max(metrics.horizontalAdvance(label) for label, _ in self.rows) + 8)
        count_w = metrics.horizontalAdvance(str(max(n for _, n in self.rows))) + 8
        bar_w = max(10.0, self.width() - label_w - count_w)
        top = max(n for _, n in self.rows) or 1
        for i, (label, count) in enumerate(self.rows):
            y = 22 + i * 16
            painter.setPen(text)
            elided = metrics.elidedText(label, Qt.TextElideMode.ElideRight, int(label_w) - 4)
            painter.drawText(QRectF(0, y, label_w - 4, 15), Qt.AlignmentFlag.AlignRight, elided)
            width = bar_w * count / top
            painter.fillRect(QRectF(label_w, y + 2, max(1.0, width), 11), bar)
            painter.drawText(QRectF(label_w + width + 4, y, count_w, 15), Qt.AlignmentFlag.AlignLeft, str(count))


def _checked(box: QCheckBox, checked: bool) -> QCheckBox:
    box.setChecked(checked)
    return box


def _tool_button(text: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    return button


@dataclass(frozen=True)
class _PreviewAnswer:
    generation: int
    preview: ExportPreview | None
    file_name: str
    error: str


class ExportDialog(QDialog):
    """Export options + live preview. `preview_updated(ExportPreview)` after each recompute (tests wait on it)."""

    preview_updated = Signal(object)
    export_finished = Signal(object)  # ExportResult

    def __init__(
        self,
        session: Any,
        image_filter: Any = None,
        selected_ids: Sequence[int] | None = None,
        parent: QWidget | None = None,
        *,
        service: ExportService | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export dataset")
        self.session = session
        if session.project is None and service is None:
            raise LoRAIroException("open a project before exporting")
        self.service = service or ExportService(session.config, session.project)
        self.selected_ids = list(selected_ids or [])
        self.filter_ids: list[int] | None = None
        if image_filter is not None and not image_filter.is_empty() and session.query is not None:
            self.filter_ids = session.query.query_ids(image_filter)
        self.preview: ExportPreview | None = None
        self.job: Job | None = None
        self.export_result: ExportResult | None = None  # not `result`: QDialog.result() is the dialog's code
        self._generation = 0  # of the latest preview request; older answers are dropped
        self._preview_job: Job | None = None
        self._image_index = 0
        self._started = 0.0  # when the running export began (for images/s and the time left)
        self._debounce = QTimer(self, singleShot=True, interval=150)
        self._debounce.timeout.connect(self.refresh_preview)
        self._build(self.service.default_options())
        self._start_loading()
        self._all_captions_touched = False
        self.all_captions.clicked.connect(lambda _c: setattr(self, "_all_captions_touched", True))
        service = self.service
        self.session.jobs.submit(
            "Count images with several captions",
            lambda _ctx: service.images_with_several_captions(),
            on_result=self._several_captions,
            visible=False,
        )

    def _several_captions(self, count: int) -> None:
        """Images with a list of captions of their own: write every one unless the user chose otherwise."""
        if count and not self._all_captions_touched:
            self.all_captions.setChecked(True)
            self.all_captions.setToolTip(f"On because {count} image(s) have several captions of their own")

    # --- layout ----------------------------------------------------------------------------------------

    def _build(self, defaults: ExportOptions) -> None:
        self.scope = QComboBox()
        if self.selected_ids:
            self.scope.addItem(f"Selected images ({len(self.selected_ids)})", "selected")
        if self.filter_ids is not None:
            self.scope.addItem(f"Images matching the filter ({len(self.filter_ids)})", "filter")
        self.scope.addItem("All images", "all")
        self.format = QComboBox()
        for key, label in FORMAT_LABELS.items():
            self.format.addItem(label, key)
        self.format.setCurrentIndex(max(0, self.format.findData(defaults.format.replace("hf-imagefolder", "hf"))))
        self.target = QLineEdit(str(defaults.target_dir))
        browse = _tool_button("…")
        browse.clicked.connect(self._browse)
        target_row = QHBoxLayout()
        target_row.addWidget(self.target)
        target_row.addWidget(browse)
        self.trigger = QLineEdit(", ".join(defaults.trigger_words))
        self.trigger.setPlaceholderText("sks (comma-separated; written first)")
        self.class_tokens = QLineEdit(defaults.class_tokens)
        self.class_tokens.setPlaceholderText("woman")
        self.repeats = QSpinBox(minimum=1, maximum=10_000, value=defaults.repeats)
        self.caption_ext = QComboBox(editable=True)
        self.caption_ext.addItems([".txt", ".caption"])
        self.caption_ext.setCurrentText(defaults.caption_extension)
        self.caption_mode = QComboBox()
        self.caption_mode.addItems(["tags", "caption", "both"])
        self.variants = QCheckBox("tags and caption as variant lines (enable_wildcard)")
        self.min_conf = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, decimals=2)
        self.min_conf.setValue(defaults.min_confidence)
        self.categories = QLineEdit()
        self.categories.setPlaceholderText("all (or e.g. general, character)")
        self.resolution = QComboBox()
        self.resolution.addItems(list(RESOLUTIONS))
        self.resolution.setCurrentText(str(defaults.resolution) if defaults.resolution else "original")
        self.max_bucket = QSpinBox(minimum=256, maximum=8192, singleStep=64, value=defaults.max_bucket_reso)
        self.no_upscale = _checked(QCheckBox("bucket_no_upscale (keep small images small)"), defaults.bucket_no_upscale)
        self.image_format = QComboBox()
        self.image_format.addItems(["original", "png", "jpg", "webp"])
        self.image_format.setCurrentText(defaults.image_format)
        self.alpha = QComboBox()
        self.alpha.addItem("composite on white", "composite")
        self.alpha.addItem("keep as mask", "mask")
        self.underscores = _checked(QCheckBox("underscores -> spaces"), defaults.underscores_to_spaces)
        self.escape = _checked(QCheckBox("escape ( ) for A1111 prompts"), defaults.escape_parentheses)
        self.by_category = _checked(QCheckBox("order tags by category"), defaults.order_by_category)
        self.separator = QCheckBox("keep_tokens_separator ||| instead of keep_tokens")
        self.rating_tag = _checked(QCheckBox("rating tag"), defaults.include_rating_tag)
        self.score_tag = _checked(QCheckBox("score tag (score_N)"), defaults.include_score_tag)
        self.shuffle = QComboBox()
        self.shuffle.addItem("trainer's setting (not written)", None)
        self.shuffle.addItem("shuffle_caption = true", True)
        self.shuffle.addItem("shuffle_caption = false", False)
        self.shuffle.setToolTip(
            "Written to dataset_config.toml only when chosen. A caption sentence is always kept whole "
            "(secondary_separator), so shuffling never cuts it apart."
        )
        self.relative = QCheckBox("paths relative to dataset_config.toml (movable; train from that folder)")
        self.push = QCheckBox("push to the Hugging Face Hub after export")
        # Issue 17: several captions, masks and the musubi-tuner JSONL form.
        self.all_captions = QCheckBox("every caption of an image, one per line (manual first)")
        self.single_caption = QComboBox()
        for mode in ("first", "longest", "join"):
            self.single_caption.addItem(f"{mode} (formats holding one caption)", mode)
        self.masks = _checked(QCheckBox("export masks set in the project"), defaults.masks)
        self.musubi_jsonl = QCheckBox("musubi: metadata.jsonl instead of caption files")

        form = QFormLayout()
        form.addRow("Images", self.scope)
        form.addRow("Format", self.format)
        form.addRow("Target folder", target_row)
        form.addRow("Trigger words", self.trigger)
        form.addRow("Class", self.class_tokens)
        form.addRow("Repeats", self.repeats)
        form.addRow("Caption file", self.caption_ext)
        form.addRow("Caption", self.caption_mode)
        form.addRow("", self.variants)
        form.addRow("Min. confidence", self.min_conf)
        form.addRow("Categories", self.categories)
        form.addRow("Resolution", self.resolution)
        form.addRow("Max bucket reso", self.max_bucket)
        form.addRow("", self.no_upscale)
        form.addRow("Image format", self.image_format)
        form.addRow("Alpha", self.alpha)
        form.addRow("Shuffle captions", self.shuffle)
        form.addRow("", self.relative)
        for box in (self.underscores, self.escape, self.by_category, self.separator, self.rating_tag, self.score_tag):
            form.addRow("", box)
        form.addRow("", self.push)
        form.addRow("", self.all_captions)
        form.addRow("Several captions", self.single_caption)
        form.addRow("", self.masks)
        form.addRow("", self.musubi_jsonl)
        options_box = QGroupBox("Options")
        options_box.setLayout(form)

        self.caption_preview = QPlainTextEdit(readOnly=True)
        self.caption_preview.setMaximumHeight(70)
        self.image_label = QLabel()
        prev_btn, next_btn = _tool_button("◀"), _tool_button("▶")
        prev_btn.clicked.connect(lambda: self._step(-1))
        next_btn.clicked.connect(lambda: self._step(1))
        nav = QHBoxLayout()
        nav.addWidget(self.image_label, 1)
        nav.addWidget(prev_btn)
        nav.addWidget(next_btn)
        self.counts = QLabel("Loading annotations…")
        self.counts.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.setWordWrap(True)
        self.bucket_chart = BarChart("Buckets (images per size)")
        self.tag_chart = BarChart("Most frequent tags", max_rows=15)
        preview_layout = QVBoxLayout()
        preview_layout.addLayout(nav)
        preview_layout.addWidget(self.caption_preview)
        preview_layout.addWidget(self.counts)
        preview_layout.addWidget(self.error_label)
        preview_layout.addWidget(self.bucket_chart)
        preview_layout.addWidget(self.tag_chart, 1)
        preview_box = QGroupBox("Preview")
        preview_box.setLayout(preview_layout)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.clicked.connect(self._cancel_or_close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)

        columns = QHBoxLayout()
        columns.addWidget(options_box)
        columns.addWidget(preview_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(columns, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(1000, 720)

        self.scope.currentIndexChanged.connect(self._start_loading)
        for combo in (self.format, self.caption_ext, self.caption_mode, self.resolution):
            combo.currentTextChanged.connect(self._schedule)
        for combo in (self.image_format, self.alpha):
            combo.currentTextChanged.connect(self._schedule)
        for edit in (self.trigger, self.class_tokens, self.target, self.categories):
            edit.textChanged.connect(self._schedule)
        for spin in (self.repeats, self.max_bucket):
            spin.valueChanged.connect(self._schedule)
        self.min_conf.valueChanged.connect(self._schedule)
        for box in (self.variants, self.no_upscale, self.underscores, self.escape, self.by_category, self.separator):
            box.toggled.connect(self._schedule)
        for box in (self.rating_tag, self.score_tag, self.all_captions, self.masks, self.musubi_jsonl):
            box.toggled.connect(self._schedule)
        self.single_caption.currentTextChanged.connect(self._schedule)

    # --- options and preview ---------------------------------------------------------------------------

    def scope_ids(self) -> tuple[int, ...] | None:
        kind = self.scope.currentData()
        if kind == "selected":
            return tuple(self.selected_ids)
        if kind == "filter" and self.filter_ids is not None:
            return tuple(self.filter_ids)
        return None

    def current_options(self, *, force: bool = False) -> ExportOptions:
        """The options the form shows (not yet validated)."""
        resolution = self.resolution.currentText()
        categories = frozenset(c.lower() for c in split_words(self.categories.text()))
        return self.service.default_options(
            Path(self.target.text().strip() or "."),
            format=self.format.currentData(),
            image_ids=self.scope_ids(),
            trigger_words=split_words(self.trigger.text()),
            class_tokens=self.class_tokens.text().strip(),
            repeats=self.repeats.value(),
            caption_extension=self.caption_ext.currentText().strip(),
            caption_mode=self.caption_mode.currentText(),
            caption_variants=self.variants.isChecked(),
            min_confidence=self.min_conf.value(),
            categories=categories or None,
            resolution=None if resolution == "original" else int(resolution),
            max_bucket_reso=max(self.max_bucket.value(), int(resolution) if resolution.isdigit() else 0),
            bucket_no_upscale=self.no_upscale.isChecked(),
            image_format=self.image_format.currentText(),
            alpha=self.alpha.currentData(),
            underscores_to_spaces=self.underscores.isChecked(),
            escape_parentheses=self.escape.isChecked(),
            order_by_category=self.by_category.isChecked(),
            use_keep_tokens_separator=self.separator.isChecked(),
            include_rating_tag=self.rating_tag.isChecked(),
            include_score_tag=self.score_tag.isChecked(),
            shuffle_caption=self.shuffle.currentData(),
            relative_paths=self.relative.isChecked(),
            force=force,
            all_captions=self.all_captions.isChecked(),
            single_caption=self.single_caption.currentData(),
            masks=self.masks.isChecked(),
            musubi_jsonl=self.musubi_jsonl.isChecked(),
        )

    def _start_loading(self, *_args: object) -> None:
        """A new scope: start at its first image; the worker loads its annotations (cached per scope)."""
        self._image_index = 0
        self.refresh_preview()

    def _schedule(self, *_args: object) -> None:
        self._debounce.start()

    def _step(self, delta: int) -> None:
        self._image_index += delta
        self.refresh_preview()

    def refresh_preview(self) -> None:
        """Recompute the preview on a worker; only the answer to the latest request is shown."""
        self._debounce.stop()
        self._generation += 1
        generation = self._generation
        options = self.current_options()
        index = self._image_index
        service = self.service
        if self._preview_job is not None:
            self._preview_job.cancel()  # its answer would be stale anyway

        def work(_ctx: Any) -> _PreviewAnswer:
            try:
                selection = service.load(options.image_ids)
                image_id, file_name = None, ""
                if selection.items:
                    item = selection.items[index % len(selection.items)]
                    image_id, file_name = item.image_id, displayable(item.file_name)
                return _PreviewAnswer(generation, service.preview(options, image_id=image_id), file_name, "")
            except LoRAIroException as exc:  # a bad option: shown under the preview, not an application error
                return _PreviewAnswer(generation, None, "", str(exc))

        self._preview_job = self.session.jobs.submit(
            "Export preview",
            work,
            on_result=self._preview_done,
            on_error=lambda err: self.error_label.setText(err.message),
            visible=False,
        )

    def _preview_done(self, answer: _PreviewAnswer) -> None:
        if answer.generation != self._generation:
            return  # the options changed while it was computed: a newer answer is on its way
        self._preview_job = None
        if answer.preview is None:
            self.error_label.setText(answer.error)
            self.export_button.setEnabled(False)
            return
        self.error_label.setText("")
        self.export_button.setEnabled(self.job is None and answer.preview.image_count > 0)
        self._show(answer.preview, answer.file_name)

    def _show(self, preview: ExportPreview, file_name: str) -> None:
        self.preview = preview
        self.image_label.setText(f"Caption of <b>{file_name}</b>" if file_name else "No images")
        self.caption_preview.setPlainText("\n".join(preview.caption_lines) or "(empty: this image would be skipped)")
        parts = [
            f"{preview.image_count} images",
            f"{preview.tag_count} distinct tags ({preview.tag_occurrences} in all)",
            f"{preview.bucket_count} buckets" if preview.buckets else "original sizes",
            f"keep_tokens = {preview.keep_tokens}",
        ]
        if preview.skipped_empty:
            parts.append(f"{preview.skipped_empty} skipped (empty caption: add a trigger word or tags)")
        if preview.excluded:
            parts.append(f"{preview.excluded} excluded left out")
        self.counts.setText(" · ".join(parts))
        self.bucket_chart.set_data(sorted(((f"{w}×{h}", n) for (w, h), n in preview.buckets), key=lambda row: -row[1]))
        self.tag_chart.set_data(preview.tag_frequency)
        self.preview_updated.emit(preview)

    # --- export ---------------------------------------------------------------------------------------

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.target.text())
        if folder:
            self.target.setText(folder)

    def confirm_overwrite(self, target: Path) -> bool:
        """Ask before writing into a non-empty folder (the CLI's --force)."""
        answer = QMessageBox.question(
            self,
            "Folder not empty",
            f"{target} is not empty.\n\nReplace the whole folder with this export? Everything in it is deleted "
            "(a folder holding a project or its original images is always refused).",
        )
        return answer == QMessageBox.StandardButton.Yes

    def start_export(self) -> None:
        options = self.current_options()
        target = options.target_dir.expanduser()
        force = False
        if target.exists() and not is_empty_dir(target):
            if not self.confirm_overwrite(target):
                return
            force = True
        options = options.with_changes(force=force)
        service = self.service
        push = self.push.isChecked()
        self.export_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setText("Exporting…")
        self._started = time.monotonic()

        def work(ctx: Any) -> ExportResult:
            result = service.export(options, progress=ctx.progress, cancel=ctx.cancel)
            if push and not result.cancelled:
                service.push_to_hub(result.target, progress=ctx.progress)
            return result

        self.job = self.session.jobs.submit(
            "Export dataset",
            work,
            on_result=self._export_done,
            on_error=self._export_failed,
            on_progress=self._on_progress,
            on_finished=self._job_finished,
        )

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        pace = Pace(done, total, time.monotonic() - self._started)
        self.status.setText(f"{done}/{total} · {pace.rate_text()} · {pace.left_text} · {displayable(message)}")

    def _export_done(self, result: ExportResult) -> None:
        self.export_result = result
        if result.cancelled:
            self.status.setText("Cancelled: nothing was written.")
        else:
            lines = [f"Exported {result.exported} images to {result.image_dir}"]
            if result.skipped:
                lines.append(f"{len(result.skipped)} skipped (empty caption)")
            if result.failures:
                first = result.failures[0]
                lines.append(f"{len(result.failures)} failed, e.g. {Path(first.path).name}: {first.reason}")
            if result.cropped or result.masks_written:
                lines.append(f"{result.cropped} cropped, {result.masks_written} masks")
            if result.masks_dropped:
                lines.append(f"{result.masks_dropped} masks not exported ({result.format} has no masks)")
            if result.captions_reduced:
                lines.append(f"{result.captions_reduced} images with several captions: {result.single_caption}")
            if result.notes_path:
                lines.append(f"how to train: {result.notes_path.name}")
            self.status.setText("; ".join(lines))
        self.export_finished.emit(result)

    def _export_failed(self, error: JobError) -> None:
        self.status.setText(f"Export failed: {error.message}")

    def _job_finished(self) -> None:
        self.job = None
        self.progress.setVisible(False)
        self.cancel_button.setText("Close")
        self.export_button.setEnabled(True)

    def _cancel_or_close(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling…")
        else:
            self.reject()

    def reject(self) -> None:
        if self.job is not None:  # closing while exporting cancels the export (nothing half-written remains)
            self.job.cancel()
        super().reject()
