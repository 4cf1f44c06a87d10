"""The status bar: project, image count, selection count, running jobs, plus the import progress widget."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from lorairo.gui.widgets.import_panel import ImportProgressBar


class MainStatusBar(QStatusBar):
    """Permanent labels on the right; transient messages (`showMessage`) on the left. GUI thread only."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.import_progress = ImportProgressBar(self)
        self.project_label = QLabel("No project", self)
        self.count_label = QLabel("", self)
        self.selection_label = QLabel("", self)
        self.jobs_label = QLabel("", self)
        self.errors_label = QLabel("", self)
        self.errors_label.setStyleSheet("color: #d33;")
        self.addPermanentWidget(self.import_progress)
        for label in (self.project_label, self.count_label, self.selection_label, self.jobs_label, self.errors_label):
            self.addPermanentWidget(label)

    def set_project(self, name: str) -> None:
        self.project_label.setText(f"Project: {name}" if name else "No project")

    def set_counts(self, shown: int, total: int) -> None:
        self.count_label.setText(f"{shown:,} of {total:,} images" if shown != total else f"{total:,} images")

    def set_selection(self, count: int) -> None:
        self.selection_label.setText(f"{count:,} selected" if count else "")

    def set_jobs(self, count: int) -> None:
        self.jobs_label.setText(f"{count} job{'s' if count != 1 else ''} running" if count else "")

    def set_errors(self, count: int) -> None:
        self.errors_label.setText(f"{count} error{'s' if count != 1 else ''}" if count else "")
