"""Project > Check project…: runs `services.project_check.check_project` as a background job and shows the
report, offering Repair when something repairable was found (the same check as `lorairo project check`)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from lorairo.gui.session import ProjectSession
from lorairo.gui.workers import JobContext, JobManager


class ProjectCheckRunner:
    """Starts checks of the open project and shows their reports; one per main window."""

    def __init__(self, session: ProjectSession, jobs: JobManager, parent: QWidget) -> None:
        self.session, self.jobs, self.parent = session, jobs, parent
        self.last_report: Any = None  # the newest CheckReport (tests read it)
        self.dialog: QMessageBox | None = None

    def start(self, *, repair: bool = False) -> None:
        name = self.session.name
        if not name:
            return
        projects = self.session.projects

        def work(ctx: JobContext) -> Any:
            from lorairo.services.project_check import check_project  # decoding code: only when used

            return check_project(projects, name, repair=repair, progress=ctx.progress)

        title = f"Repair project {name}" if repair else f"Check project {name}"
        self.jobs.submit(title, work, on_result=self._show)

    def _show(self, report: Any) -> None:
        self.last_report = report
        box = QMessageBox(self.parent)
        box.setWindowTitle("Check project")
        box.setIcon(QMessageBox.Icon.Information if report.ok else QMessageBox.Icon.Warning)
        lines = report.lines()
        box.setText(f"Project '{report.project}': {lines[-1]}")
        box.setInformativeText("\n".join(lines[:12]))
        box.setDetailedText("\n".join(lines))
        repairable = report.missing_files or report.missing_thumbnails or report.unfinished_writes
        repair = box.addButton("Repair", QMessageBox.ButtonRole.AcceptRole) if repairable else None
        box.addButton(QMessageBox.StandardButton.Close)
        if repair is not None:
            repair.clicked.connect(lambda: self.start(repair=True))
        self.dialog = box
        box.open()  # window-modal, returns at once: the GUI thread never waits
