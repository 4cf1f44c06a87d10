"""Tools > Tag vocabulary…: import a tag CSV into the tag vocabulary (genai-tag-db-tools) from the app.

The same import as `tag-db import FILE`: an a1111 tagcomplete CSV (danbooru.csv / e621.csv), a WD tagger
`selected_tags.csv`, or `tag,language,translation` rows. It runs on a worker with progress and Cancel (a
cancelled import writes nothing), then lists what was imported and the import history (`tag-db imports list`).
Afterwards the process's shared vocabulary is reopened on a worker, so autocomplete and categories use the new
tags at once, with no restart; when a project is open and has uncategorised tags, the dialog offers to
categorise them (`lorairo tags recategorize`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.details.tag_source import shared_vocabulary, vocabulary_events
from lorairo.gui.workers import Job, JobContext, JobError, JobManager
from lorairo.services.changes import Changes

#: (label, importer kind or None for "detect from the content").
KINDS: tuple[tuple[str, str | None], ...] = (
    ("Detect from the file", None),
    ("a1111 tagcomplete CSV (name,type,count,aliases)", "tagcomplete"),
    ("WD tagger selected_tags.csv", "wd"),
    ("Translations (tag,language,translation)", "translations"),
)
#: (label, format or None for "from the file name").
FORMATS: tuple[tuple[str, str | None], ...] = (
    ("From the file name", None),
    ("danbooru", "danbooru"),
    ("e621", "e621"),
)
HISTORY_COLUMNS = ("ID", "Kind", "Format", "Rows", "Still live", "Imported", "File")


def report_text(report: Any) -> str:
    """One line for an ImportReport, as `tag-db import` prints it."""
    what = {"tagcomplete": "tags", "wd": "tags", "translations": "translations"}.get(report.kind, "rows")
    fmt = f" ({report.format})" if report.format else ""
    aliases = f" and {report.aliases:,} aliases" if report.aliases else ""
    skipped = f"; {report.error_count:,} row(s) skipped" if report.error_count else ""
    return (
        f"Imported {report.imported:,} {what}{fmt}{aliases} from {Path(report.path).name} in {report.seconds:.1f} s"
        f"{skipped}. Import #{report.import_id} (undo with: tag-db imports remove {report.import_id})."
    )


def _vocabulary_state() -> dict[str, Any]:
    """Worker: the import history and per-format counts of the default vocabulary (nothing is created)."""
    from genai_tag_db_tools import TagDatabase

    if not shared_vocabulary().file_exists():
        return {"imports": [], "formats": {}}
    with TagDatabase() as database:
        stats = database.stats()
        return {"imports": database.imports(), "formats": stats["formats"]}


class TagVocabularyDialog(QDialog):
    """Import a vocabulary file and show the import history. Non-modal; one per main window."""

    def __init__(self, session: ProjectSession, jobs: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.jobs = session, jobs
        self.setWindowTitle("Tag vocabulary")
        self.setMinimumWidth(560)
        self.job: Job | None = None
        self.last_report: Any = None
        self.last_recategorize: Any = None
        #: Asked after an import when the open project has uncategorised tags; tests replace it.
        self.confirm_recategorize: Callable[[int, str], bool] = self._ask_recategorize
        self._build()
        self.refresh()

    # --- building ------------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Autocomplete and tag categories come from this vocabulary. Import a1111 tagcomplete CSVs "
            "(danbooru.csv, e621.csv), a WD tagger selected_tags.csv, or translations. Re-importing a file "
            "replaces its earlier rows.",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.kind_box = QComboBox(self)
        for label, kind in KINDS:
            self.kind_box.addItem(label, kind)
        self.format_box = QComboBox(self)
        for label, fmt in FORMATS:
            self.format_box.addItem(label, fmt)
        form.addRow("File type:", self.kind_box)
        form.addRow("Tag format:", self.format_box)
        layout.addLayout(form)
        row = QHBoxLayout()
        self.import_button = QPushButton("Import CSV…", self)
        self.import_button.clicked.connect(self.choose_file)
        self.cancel_button = QPushButton("Cancel import", self)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        row.addWidget(self.import_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.history = QTableWidget(0, len(HISTORY_COLUMNS), self)
        self.history.setHorizontalHeaderLabels(list(HISTORY_COLUMNS))
        self.history.verticalHeader().hide()
        self.history.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.history.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout.addWidget(self.history, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

    # --- state ---------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the history table and counts (on a worker)."""
        self.jobs.submit("Read tag vocabulary", lambda _ctx: _vocabulary_state(), on_result=self._show_state)

    def _show_state(self, state: dict[str, Any]) -> None:
        formats = state["formats"]
        if formats:
            parts = [
                f"{fmt}: {info.get('tags', 0):,} tags, {info.get('aliases', 0):,} aliases"
                for fmt, info in formats.items()
            ]
            self.summary.setText("Vocabulary now: " + "; ".join(parts) + ".")
        else:
            self.summary.setText("No vocabulary imported yet: autocomplete and categories for new tags are off.")
        records = state["imports"]
        self.history.setRowCount(len(records))
        for row, record in enumerate(reversed(records)):  # newest first
            values = (
                record.id,
                record.kind,
                record.format or "",
                f"{record.rows:,}",
                f"{record.live_rows:,}",
                record.imported_at,
                record.path,
            )
            for column, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                if column == 6:
                    item.setToolTip(record.path)
                self.history.setItem(row, column, item)

    # --- import --------------------------------------------------------------------------------------

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import tag vocabulary", "", "Tag lists (*.csv *.txt);;All files (*)"
        )
        if path:
            self.start_import(Path(path))

    def start_import(self, path: Path) -> None:
        """Import `path` on a worker; progress and Cancel while it runs."""
        if self.job is not None:
            return
        kind, fmt = self.kind_box.currentData(), self.format_box.currentData()

        def work(ctx: JobContext) -> Any:
            from genai_tag_db_tools import TagDatabase, default_data_dir
            from genai_tag_db_tools.importers import ImportWatch

            default_data_dir().mkdir(parents=True, exist_ok=True)
            watch = ImportWatch(
                progress=lambda done, total, phase: ctx.progress(done, total, phase), cancelled=ctx.cancel.is_set
            )
            with TagDatabase() as database:
                report = database.import_file(path, kind=kind, format_name=fmt, watch=watch)
            ctx.progress(1, 1, "loading autocomplete")
            available = shared_vocabulary().reload()  # the new tags in autocomplete and categories, no restart
            return report, available

        self.status.setText(f"Importing {path.name}…")
        self._running(True)
        self.job = self.jobs.submit(
            f"Import tag vocabulary {path.name}",
            work,
            on_result=self._imported,
            on_error=self._failed,
            on_progress=self._progress,
            on_finished=lambda: self._running(False),
        )

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling… (nothing of this import will be kept)")

    def _running(self, running: bool) -> None:
        self.import_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.kind_box.setEnabled(not running)
        self.format_box.setEnabled(not running)
        if running:
            self.progress.setRange(0, 0)
        else:
            self.job = None
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("")

    def _progress(self, done: int, total: int, phase: str) -> None:
        if phase == "reading" and total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"reading {done * 100 // total}%")
        else:
            self.progress.setRange(0, 0)  # one transaction / index build: no steps to count
            self.progress.setFormat(phase)

    def _failed(self, error: JobError) -> None:
        if error.exception_type == "ImportCancelled":
            self.status.setText("Import cancelled: nothing was written; the vocabulary is as it was.")
        else:
            self.status.setText(f"Import failed: {error.message}")

    def _imported(self, result: tuple[Any, bool]) -> None:
        report, available = result
        self.last_report = report
        text = report_text(report)
        if report.errors:
            text += "\nFirst skipped rows:\n" + "\n".join(report.errors[:5])
        self.status.setText(text)
        vocabulary_events().reloaded.emit(available)
        self.refresh()
        self._offer_recategorize()

    # --- recategorize --------------------------------------------------------------------------------

    def _offer_recategorize(self) -> None:
        project = self.session.project
        if project is None:
            return

        def count(_ctx: JobContext) -> int:
            from lorairo.services.tag_categories import uncategorised_count

            return uncategorised_count(project.db)

        def counted(missing: int) -> None:
            if missing and self.session.project is project and self.confirm_recategorize(missing, project.name):
                self.recategorize()

        self.jobs.submit("Count uncategorised tags", count, on_result=counted)

    def _ask_recategorize(self, missing: int, name: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Categorise project tags",
            f"{missing:,} tag(s) in project '{name}' have no category. Look them up in the vocabulary now?\n"
            "(Tags with a category, from a model or set by hand, are left alone.)",
        )
        return answer == QMessageBox.StandardButton.Yes

    def recategorize(self) -> None:
        """Give the open project's uncategorised tags the vocabulary's categories (one locked write)."""
        project = self.session.project
        if project is None:
            return

        def work(_ctx: JobContext) -> Any:
            from lorairo.services.tag_categories import recategorize_tags
            from lorairo.storage.lock import ProjectLock

            with ProjectLock(project.root, "tags recategorize"):
                return recategorize_tags(project)

        def done(result: Any) -> None:
            self.last_recategorize = result
            self.status.setText(
                f"{self.status.text()}\n{result.rows_updated:,} tag(s) on {len(result.image_ids):,} image(s) "
                f"categorised ({result.names_found:,} of {result.names_looked_up:,} uncategorised names known)."
            )
            if result.image_ids and self.session.project is project:
                self.session.notify(Changes.of(result.image_ids, tags=True))

        title = f"Categorise tags of {project.name}"
        self.jobs.submit(title, work, on_result=done, on_error=self._failed, pool="write")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel()  # closing the window must not leave a half-visible import running on
        super().closeEvent(event)
