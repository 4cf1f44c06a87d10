"""The app's one sink for uncaught exceptions: slots, event handlers and plain threads all end up here.

PySide6 hands an exception raised in a slot or a virtual override (paintEvent, ...) to `sys.excepthook`, and an
exception that ends a `threading.Thread` goes to `threading.excepthook`. Both default to printing a traceback on
stderr, which a desktop user never sees: the grid stops painting or a button does nothing without a word.
`ErrorSink.install()` points both hooks here; each exception is logged with its traceback (loguru, so it lands
in the log file and the Log tab) and re-emitted as `error(where, message, details)` in the GUI thread, which the
main window shows in the Errors tab. Jobs of `gui/workers.py` report their own failures and never get here.

Thread-safety: the hooks run in whichever thread failed; they only log and emit a signal (queued into the
GUI thread). Create, install and uninstall from the GUI thread.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from loguru import logger
from PySide6.QtCore import QObject, Signal

from lorairo.gui.workers import describe_exception
from lorairo.utils.log import redact

SysHook = Callable[[type[BaseException], BaseException, TracebackType | None], Any]
ThreadingHook = Callable[[threading.ExceptHookArgs], Any]


class ErrorSink(QObject):
    """Owns `sys.excepthook` / `threading.excepthook` while installed; `error` is emitted for each exception."""

    error = Signal(str, str, str)  # where ("Unexpected error" / "Thread <name>"), one-line message, traceback

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._previous: tuple[SysHook, ThreadingHook] | None = None

    def install(self) -> None:
        if self._previous is None:
            self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self._excepthook
        threading.excepthook = self._threading_excepthook

    def uninstall(self) -> None:
        """Give the hooks back (only if they are still ours: a later owner keeps its own)."""
        if self._previous is None:
            return
        previous_sys, previous_threading = self._previous
        if sys.excepthook == self._excepthook:
            sys.excepthook = previous_sys
        if threading.excepthook == self._threading_excepthook:
            threading.excepthook = previous_threading
        self._previous = None

    def report(self, where: str, exc: BaseException) -> None:
        """Log `exc` with its traceback and show it in the Errors tab (callable from any thread)."""
        message = describe_exception(exc)
        details = redact("".join(traceback.format_exception(exc)))
        logger.opt(exception=exc).error("{}: {}", where, message)
        self.error.emit(where, message, details)

    def _excepthook(self, kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):  # Ctrl+C in the terminal that started the app: Python's default
            sys.__excepthook__(kind, value, tb)
            return
        self.report("Unexpected error", value.with_traceback(tb))

    def _threading_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return  # SystemExit ends a thread quietly, as Python's own hook does
        name = args.thread.name if args.thread is not None else "?"
        self.report(f"Thread {name}", args.exc_value.with_traceback(args.exc_traceback))
