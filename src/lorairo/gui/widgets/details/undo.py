"""QUndoStack glue: a QUndoCommand that runs a Qt-free `EditCommand` on the worker helper's write pool.

The edit itself already ran (on the worker) before the command is pushed, so the first `redo()` Qt makes on
`push` does nothing. Later undo/redo submit the inverse change to the single-thread "write" pool, so they
run in the order the user asked for. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from lorairo.gui.workers import JobManager
from lorairo.services.edit_service import EditCommand, EditResult, EditService


class EditUndoCommand(QUndoCommand):
    """One undoable edit. `on_result` gets each undo/redo's EditResult in the GUI thread."""

    def __init__(
        self,
        jobs: JobManager,
        service: EditService,
        result: EditResult,
        on_result: Callable[[EditResult], None],
    ) -> None:
        super().__init__(result.description)
        self._jobs = jobs
        self._service = service
        self._command = EditCommand(result)
        self._on_result = on_result
        self._first = True

    def redo(self) -> None:
        if self._first:  # applied already when the edit ran
            self._first = False
            return
        command, service = self._command, self._service
        self._jobs.submit(
            f"Redo {self.text()}", lambda _ctx: command.redo(service), on_result=self._on_result, pool="write"
        )

    def undo(self) -> None:
        command, service = self._command, self._service
        self._jobs.submit(
            f"Undo {self.text()}", lambda _ctx: command.undo(service), on_result=self._on_result, pool="write"
        )
