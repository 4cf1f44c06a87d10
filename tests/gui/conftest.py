"""GUI tests run offscreen, each with fresh QSettings in a temp folder (the root conftest isolates config)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def fresh_qsettings(tmp_path: Path, qapp) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """Point QSettings at a per-test folder so window geometry / favourites never leak between tests."""
    from PySide6.QtCore import QCoreApplication, QSettings

    folder = tmp_path / "qsettings"
    QCoreApplication.setOrganizationName("LoRAIroTest")
    QCoreApplication.setApplicationName(f"lorairo-test-{tmp_path.name}")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture
def window(qtbot):  # type: ignore[no-untyped-def]
    """A main window over a fresh configuration (the root conftest isolates config and projects)."""
    from lorairo.gui.app import create_window

    win = create_window()
    # The window routes uncaught exceptions to its Errors tab; in tests pytest-qt must see them and fail the test
    # instead (tests of the sink itself install it again).
    win.error_sink.uninstall()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.ready, timeout=20_000)  # side panels are attached just after the first paint
    # The look-up of a project to reopen has answered (nothing, in a fresh home) before the test makes projects.
    qtbot.waitUntil(lambda: win.last_project_lookup is None or win.last_project_lookup.done, timeout=10_000)
    yield win
    win.close()
