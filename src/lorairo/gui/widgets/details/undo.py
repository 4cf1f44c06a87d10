"""QUndoStack glue: a QUndoCommand that runs a Qt-free do/undo command on the worker helper's write pool.

The write itself already ran (on the worker) before the command is pushed, so the first `redo()` Qt makes on
`push` does nothing. Later undo/redo submit the inverse change to the single-thread "write" pool, so they
run in the order the user asked for. Tag / caption / rating edits (`EditCommand`) and crop / mask writes
(`RegionCommand`) share this one class. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtGui import QUndoCommand

from lorairo.gui.workers import JobManager
from lorairo.services.edit_service import EditCommand, EditResult, EditService


class ServiceCommand(Protocol):
    """A Qt-free do/undo pair over a service (EditCommand, RegionCommand)."""

    def undo(self, service: Any) -> Any: ...

    def redo(self, service: Any) -> Any: ...


class WriteUndoCommand(QUndoCommand):
    """One undoable write. `on_result` gets each undo/redo's result in the GUI thread."""

    def __init__(
        self,
        jobs: JobManager,
        service: Any,
        command: ServiceCommand,
        description: str,
        on_result: Callable[[Any], None],
    ) -> None:
        super().__init__(description)
        self._jobs = jobs
        self._service = service
        self._command = command
        self._on_result = on_result
        self._first = True

    def redo(self) -> None:
        if self._first:  # applied already when the write ran
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


def EditUndoCommand(
    jobs: JobManager, service: EditService, result: EditResult, on_result: Callable[[EditResult], None]
) -> WriteUndoCommand:
    """One undoable tag / caption / rating / score / exclusion edit."""
    return WriteUndoCommand(jobs, service, EditCommand(result), result.description, on_result)
