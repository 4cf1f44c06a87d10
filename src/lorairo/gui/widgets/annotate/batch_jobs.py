"""Batch API jobs of the project: submit, list with status, refresh, import results, import result files.

All network and database work runs through the worker helper; this widget only shows what comes back.
Imported results end in `session.notify(changes)` like every other write, so the grid and the details panel
show them. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.session import ProjectSession
from lorairo.services.annotation_service import AnnotationService
from lorairo.services.batch_annotation_service import BatchAnnotationService, BatchImportSummary, BatchJobInfo

COLUMNS = ("Batch", "Model", "Requests", "Status", "Submitted", "Imported")


class BatchJobsWidget(QWidget):
    """Jobs table + actions; imported results are broadcast through the session."""

    def __init__(self, session: ProjectSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.refresh_button = QPushButton("Refresh status", self)
        self.import_button = QPushButton("Import results", self)
        self.import_file_button = QPushButton("Import result file…", self)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        for button in (self.refresh_button, self.import_button, self.import_file_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        self.refresh_button.clicked.connect(lambda: self.reload(ask_provider=True))
        self.import_button.clicked.connect(self._import_selected)
        self.import_file_button.clicked.connect(self._import_file)
        self.jobs: list[BatchJobInfo] = []

    def _service(self) -> BatchAnnotationService:
        assert self.session.project is not None
        return BatchAnnotationService(AnnotationService(self.session.config, self.session.project))

    def _run(self, title: str, fn: Callable[[BatchAnnotationService], object], done: Callable[[object], None]) -> None:
        if self.session.project is None:
            return
        self.session.jobs.submit(title, lambda _ctx: fn(self._service()), on_result=done)

    def reload(self, *, ask_provider: bool = False) -> None:
        def fetch(service: BatchAnnotationService) -> list[BatchJobInfo]:
            jobs = service.jobs()
            return [service.refresh(j.id) if ask_provider and not j.finished else j for j in jobs]

        self._run("Batch jobs", fetch, self._show)

    def submit(self, image_ids: list[int], model_name: str) -> None:
        def done(info: object) -> None:
            assert isinstance(info, BatchJobInfo)
            self.message.setText(f"Submitted batch {info.remote_id}: {info.n_requests} requests to {info.model_name}.")
            self.reload()

        self._run(f"Submit batch ({model_name})", lambda s: s.submit(image_ids, model_name), done)

    def _show(self, jobs: object) -> None:
        assert isinstance(jobs, list)
        self.jobs = jobs
        self.table.setRowCount(len(jobs))
        for row, job in enumerate(jobs):
            values = (
                job.remote_id,
                job.model_name,
                str(job.n_requests),
                job.status,
                f"{job.submitted_at:%Y-%m-%d %H:%M}",
                f"{job.imported_at:%Y-%m-%d %H:%M}" if job.imported_at else "",
            )
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        if not jobs:
            self.message.setText("No batch jobs yet. Pick a cloud model above and use “Submit as batch”.")

    def _import(self, title: str, fn: Callable[[BatchAnnotationService], BatchImportSummary]) -> None:
        self._run(title, fn, self._imported)

    def _imported(self, value: object) -> None:
        summary = cast(BatchImportSummary, value)
        self.session.notify(summary.changes)  # the images that got results: every view reloads them
        self.message.setText(
            f"Imported results for {summary.images} images: {summary.annotated} annotated, {summary.failed} failed"
            + (f", {summary.unmatched_keys} matched no image" if summary.unmatched_keys else "")
        )
        self.reload()

    def _import_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        if not rows:
            self.message.setText("Select a finished job first.")
            return
        job = self.jobs[rows[0]]
        self._import(f"Import batch {job.remote_id}", lambda s: s.import_results(job.id))

    def _import_file(self) -> None:
        start = str(self.session.config.batch_results_dir())
        path, _ = QFileDialog.getOpenFileName(self, "Import Batch API results", start, "JSON Lines (*.jsonl)")
        if path:
            self._import("Import batch results", lambda s: s.import_results_file(Path(path)))
