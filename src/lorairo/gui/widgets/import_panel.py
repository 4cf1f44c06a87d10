"""Import progress (bar, images/s, ETA, cancel) and the summary of a finished import.

`ImportProgressBar` sits in the status bar while an import runs; `ImportSummaryDialog` lists what was skipped
and why once it ends. Both only display what `ImportController` hands them. GUI thread only.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lorairo.services.importing.summary import OUTCOME_DUPLICATE, OUTCOME_SKIPPED, ImportSummary
from lorairo.storage.names import display_name

_RATE = re.compile(r"([\d.,]+) images/s")
_ETA = re.compile(r"ETA ([\d:\-]+)")


class ImportProgressBar(QWidget):
    """A compact progress display with a Cancel button."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(200)
        self.bar.setTextVisible(True)
        self.label = QLabel("", self)
        self.cancel_button = QPushButton("Cancel import", self)
        self.cancel_button.setToolTip("Stop the import; images already imported stay (Esc)")
        self.cancel_button.clicked.connect(self._cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.hide()

    def start(self) -> None:
        self.bar.setRange(0, 0)  # busy until the total is known (discovery)
        self.label.setText("Import: scanning…")
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel import")
        self.show()

    def update_progress(self, done: int, total: int, message: str) -> None:
        if total <= 0:
            self.bar.setRange(0, 0)
            self.label.setText(f"Import: {message}")
            return
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        self.bar.setFormat(f"{done:,} / {total:,}")
        rate = _RATE.search(message)
        eta = _ETA.search(message)
        parts = ["Import"]
        if rate:
            parts.append(f"{rate.group(1)} images/s")
        if eta:
            parts.append(f"ETA {eta.group(1)}")
        self.label.setText(" · ".join(parts))

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.cancel_requested.emit()

    def finish(self) -> None:
        self.hide()


def summary_text(summary: ImportSummary) -> str:
    """One-paragraph summary of an import run."""
    verb = "Import cancelled" if summary.status == "cancelled" else "Import finished"
    parts = [f"{summary.added:,} images added"]
    if summary.near_duplicates:
        parts.append(f"{summary.near_duplicates:,} of them near-duplicates to review")
    if summary.duplicates:
        parts.append(f"{summary.duplicates:,} exact duplicates recorded")
    if summary.skipped:
        parts.append(f"{summary.skipped:,} skipped")
    text = f"{verb}: {', '.join(parts)} ({summary.total:,} files in {summary.elapsed_s:.1f} s, " + (
        f"{summary.images_per_s:.1f} images/s)."
    )
    return text + sidecar_text(summary)


def sidecar_text(summary: ImportSummary) -> str:
    """What the sidecars did (the CLI's "sidecars:" and "sidecar notes:" lines), empty when there were none."""
    parts = []
    if summary.sidecar_tags_added:
        parts.append(f"{summary.sidecar_tags_added:,} sidecar tags added")
    if summary.sidecars_changed:
        parts.append(f"{summary.sidecars_changed:,} sidecars changed since the last import")
    if summary.sidecar_notes:
        not_utf8 = len(summary.non_utf8_sidecars)
        parts.append(
            f"{len(summary.sidecar_notes):,} sidecar notes" + (f" ({not_utf8:,} not UTF-8)" if not_utf8 else "")
        )
    return f" {'; '.join(parts)}." if parts else ""


class ImportSummaryDialog(QDialog):
    """What an import did: counts, then every skipped or duplicate file with its reason."""

    def __init__(self, summary: ImportSummary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import summary")
        self.text = text = QLabel(summary_text(summary), self)
        text.setWordWrap(True)
        reasons = ", ".join(f"{reason}: {count}" for reason, count in summary.skipped_by_reason.items())
        note = f"Skipped by reason: {reasons}" if reasons else "No file was skipped."
        reached = summary.imported + summary.duplicates + summary.skipped
        if summary.status == "cancelled" and summary.total > reached:
            note += (
                f" {summary.total - reached:,} files were not reached; importing the same folders again continues"
                " where it stopped."
            )
        self.by_reason = by_reason = QLabel(note, self)
        by_reason.setWordWrap(True)
        listed = [
            (display_name(o.path), o.outcome, o.db_reason or "")  # a Latin-1 name shows U+FFFD, not nothing
            for o in summary.outcomes
            if o.outcome in (OUTCOME_SKIPPED, OUTCOME_DUPLICATE)
        ]
        # Sidecars decoded from another encoding, cleaned of control characters, too large or unreadable: the
        # user checks these tags (the CLI prints the same notes).
        listed.extend(
            (display_name(note.path), "sidecar", f"{note.kind}: {note.detail}") for note in summary.sidecar_notes
        )
        self.table = QTableWidget(len(listed), 3, self)
        self.table.setHorizontalHeaderLabels(["File", "Outcome", "Reason"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        for row, values in enumerate(listed):
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.table.setItem(row, column, item)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(by_reason)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.table.setVisible(bool(listed))
        if listed:
            self.resize(760, 420)
        else:  # two lines of text: as tall as they are (a table-sized dialog spread them over empty space)
            self.resize(560, 0)
            self.resize(560, self.heightForWidth(560) if self.hasHeightForWidth() else self.sizeHint().height())
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
