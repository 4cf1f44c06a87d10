"""Uncaught exceptions (a slot, a plain thread, a broken panel) reach the Errors tab and the log, not stderr."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject, Signal

from lorairo.gui import main_window


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """ERROR records the app logs, each with its traceback (loguru appends it to a string format)."""
    from loguru import logger

    lines: list[str] = []
    handler = logger.add(lambda message: lines.append(str(message)), format="{message}", level="ERROR")
    yield lines
    logger.remove(handler)


class _Emitter(QObject):
    fired = Signal()


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_is_shown_in_the_errors_tab_and_logged(qtbot, window, logged) -> None:  # type: ignore[no-untyped-def]
    window.error_sink.install()  # pytest swaps sys.excepthook per test phase: take it back for this test
    emitter = _Emitter()

    def broken_slot() -> None:
        raise ValueError("the slot broke")

    emitter.fired.connect(broken_slot)
    emitter.fired.emit()  # PySide6 hands the exception to sys.excepthook

    qtbot.waitUntil(lambda: window.log_panel.error_count() == 1, timeout=5000)
    assert window.log_panel.error_messages() == ["ValueError: the slot broke"]
    assert window.status.errors_label.text() == "1 error"
    assert window.log_dock.isVisible()
    assert any("the slot broke" in line and "Traceback" in line for line in logged)


@pytest.mark.qt_no_exception_capture
def test_an_exception_that_ends_a_thread_is_shown_in_the_errors_tab(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.error_sink.install()

    def work() -> None:
        raise RuntimeError("the thread broke")

    thread = threading.Thread(target=work, name="scanner")
    thread.start()
    thread.join()

    qtbot.waitUntil(lambda: window.log_panel.error_count() == 1, timeout=5000)
    assert window.log_panel.error_messages() == ["RuntimeError: the thread broke"]
    where = window.log_panel.errors.item(0, 1).text()
    assert where == "Thread scanner"
    assert "Traceback" in window.log_panel.errors.item(0, 3).data(0x0100)  # the details keep the traceback


def test_the_hooks_are_given_back_when_the_window_closes(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    import sys

    before_sys, before_threading = sys.excepthook, threading.excepthook
    window.error_sink.install()
    assert sys.excepthook != before_sys and threading.excepthook != before_threading
    window.close()
    assert sys.excepthook == before_sys and threading.excepthook == before_threading


def test_a_panel_that_fails_to_import_is_an_error_not_a_missing_dock(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(
        main_window,
        "DOCK_PANELS",
        (*main_window.DOCK_PANELS, ("lorairo.gui.widgets.no_such_panel", "TagsPanel", "Tags", "tags_dock")),
    )
    assert window.attach_optional_panels() == []
    assert window.log_panel.error_count() == 1
    assert "Tags panel failed to load" in window.log_panel.errors.item(0, 1).text()
    assert "No module named 'lorairo.gui.widgets.no_such_panel'" in window.log_panel.error_messages()[0]
