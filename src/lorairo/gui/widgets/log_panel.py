"""The log and errors panel: loguru records (from any thread) and failed jobs, in one place the user sees.

`LogBridge` is a loguru sink that re-emits each record as a Qt signal (queued into the GUI thread).
`LogPanel` shows a tab with the log and a tab with errors: failed jobs and per-file / per-model failures that
other parts report with `add_error`. GUI thread only, except `LogBridge.write` (any thread).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from loguru import logger
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.workers import JobError

if TYPE_CHECKING:
    from loguru import Message

MAX_LOG_LINES = 5000
MAX_ERRORS = 2000


class LogBridge(QObject):
    """A loguru sink: `install(level)` adds it (again after logging is reconfigured), `record` is the signal."""

    record = Signal(str, str, str)  # level, time, message (already masked by lorairo.utils.log's patcher)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handler: int | None = None

    def install(self, level: str = "INFO") -> None:
        self.uninstall()
        self._handler = logger.add(self._write, level=level, format="{message}", backtrace=False, diagnose=False)

    def uninstall(self) -> None:
        if self._handler is not None:
            try:
                logger.remove(self._handler)
            except ValueError:  # already removed by a logging reconfiguration
                pass
            self._handler = None

    def _write(self, message: Message) -> None:
        record = message.record
        text = record["message"]
        if record["exception"] is not None and record["exception"].value is not None:
            text += f" ({type(record['exception'].value).__name__})"
        self.record.emit(record["level"].name, record["time"].strftime("%H:%M:%S"), text)


class LogPanel(QWidget):
    """Tabs: Errors (job failures and per-item errors) and Log."""

    errors_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tabs = QTabWidget(self)
        self.errors = QTableWidget(0, 4, self)
        self.errors.setHorizontalHeaderLabels(["Time", "Where", "Item", "Error"])
        self.errors.verticalHeader().hide()
        self.errors.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.errors.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.errors.horizontalHeader()
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(MAX_LOG_LINES)
        font: QFont = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.log.setFont(font)
        clear = QPushButton("Clear errors", self)
        clear.clicked.connect(self.clear_errors)
        errors_page = QWidget(self)
        errors_layout = QVBoxLayout(errors_page)
        errors_layout.setContentsMargins(0, 0, 0, 0)
        errors_layout.addWidget(self.errors, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(clear)
        errors_layout.addLayout(buttons)
        self.tabs.addTab(errors_page, "Errors")
        self.tabs.addTab(self.log, "Log")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

    def append_log(self, level: str, time: str, message: str) -> None:
        self.log.appendPlainText(f"{time} {level:<8} {message}")
        if level in ("ERROR", "CRITICAL"):
            self.tabs.setTabText(1, "Log •")

    def add_error(self, where: str, message: str, item: str = "", details: str = "") -> None:
        """Record one failure (a job, a file, a model) for the user."""
        if self.errors.rowCount() >= MAX_ERRORS:
            self.errors.removeRow(0)
        row = self.errors.rowCount()
        self.errors.insertRow(row)
        values = (datetime.now().strftime("%H:%M:%S"), where, item, message)
        for column, value in enumerate(values):
            cell = QTableWidgetItem(value)
            cell.setToolTip(details or value)
            cell.setData(Qt.ItemDataRole.UserRole, details)
            self.errors.setItem(row, column, cell)
        self.errors.scrollToBottom()
        self.tabs.setTabText(0, f"Errors ({self.errors.rowCount()})")
        self.errors_changed.emit(self.errors.rowCount())

    def add_job_error(self, error: JobError) -> None:
        self.add_error(error.job_name, error.message, details=error.details)

    def error_count(self) -> int:
        return self.errors.rowCount()

    def error_messages(self) -> list[str]:
        return [item.text() for row in range(self.errors.rowCount()) if (item := self.errors.item(row, 3))]

    def clear_errors(self) -> None:
        self.errors.setRowCount(0)
        self.tabs.setTabText(0, "Errors")
        self.errors_changed.emit(0)
