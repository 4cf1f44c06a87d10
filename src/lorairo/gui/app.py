"""`lorairo` with no arguments: start the Qt application and show the main window."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from lorairo import __version__

if TYPE_CHECKING:
    from lorairo.gui.main_window import MainWindow

ORGANIZATION = "LoRAIro"
APPLICATION = "LoRAIro"


GIL_SWITCH_INTERVAL_S = 0.001
#: The collector's generation-0 threshold (CPython's default is 700). A full collection walks every tracked object
#: holding the GIL, and the default ran three in one Statistics reload at 1M images (its 200k size rows alive
#: while read), 90-110 ms each, in which the GUI thread could run no Python (traced). At 50,000 a full
#: collection comes at most every 5M container allocations instead of every 70k; cyclic garbage waits longer.
GC_GEN0_THRESHOLD = 50_000


def tune_interpreter() -> None:
    """Let the GUI thread get the GIL back within ~1 ms (default 5 ms) while workers run Python code: every
    `data()` / `paint()` the view calls re-acquires it, and 5 ms waits add up to visible stutter. Full garbage
    collections, which hold the GIL, come far less often (GC_GEN0_THRESHOLD)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    import gc

    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def freeze_startup_objects() -> None:
    """Move everything alive once the window is built (modules, classes, Qt wrappers, SQLAlchemy metadata: ~190k
    objects) out of the garbage collector's reach. A full collection walks every tracked object holding the GIL,
    in whichever thread it happens to start: run by a worker during a project-wide rename it stalled the GUI thread
    116-141 ms (docs/benchmarks.md, "Review loop"). Startup objects live as long as the process anyway."""
    import gc

    # No gc.collect() first: it would cost the GUI thread a full collection just before the project opens; the
    # little garbage frozen with the rest is a one-time leak.
    gc.freeze()


def run(argv: list[str] | None = None) -> int:
    """Start the desktop app; returns the exit code. Configuration errors are shown in a dialog."""
    started = time.perf_counter()
    tune_interpreter()
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QMessageBox

    from lorairo.exceptions import ConfigurationError
    from lorairo.gui.palette import follow_system_palette

    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication([sys.argv[0] if sys.argv else "lorairo", *(argv or [])])
    )
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    QGuiApplication.setDesktopFileName("lorairo")
    follow_system_palette(app)
    try:
        window = create_window()
    except ConfigurationError as exc:
        QMessageBox.critical(None, "LoRAIro: configuration error", str(exc))
        return 1
    window.show()
    from loguru import logger

    logger.debug("window shown {:.2f}s after start", time.perf_counter() - started)
    return int(app.exec())


def create_window() -> MainWindow:
    """Read configuration, set up logging and build the main window (not shown)."""
    from lorairo.gui.main_window import MainWindow
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.utils.log import setup_from_config

    config = ConfigurationService()
    setup_from_config(config, console=True)
    return MainWindow(config)
