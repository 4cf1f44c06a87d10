"""Qt stays in `lorairo.gui`: the services, CLI, database and both local packages never import it.

The style guide's rule 2 (napari enforces the same with an import contract): a Qt import anywhere else would
make the CLI and the services load Qt and tie domain code to widgets.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QT_MODULES = {"PySide6", "shiboken6", "superqt", "qtpy", "PyQt5", "PyQt6", "PySide2"}
APP_SRC = ROOT / "src" / "lorairo"
GUI_SRC = APP_SRC / "gui"
LOCAL_SRCS = sorted((ROOT / "local_packages").glob("*/src"))


def _qt_imports(path: Path) -> list[str]:
    return _qt_imports_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))


def _qt_imports_in(source: str, label: str) -> list[str]:
    tree = ast.parse(source, filename=label)
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        found += [f"{label}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in QT_MODULES]
    return found


def _modules_outside_gui() -> list[Path]:
    app = [p for p in APP_SRC.rglob("*.py") if GUI_SRC not in p.parents]
    local = [p for src in LOCAL_SRCS for p in src.rglob("*.py")]
    return app + local


def test_there_is_something_to_check() -> None:
    modules = _modules_outside_gui()
    assert any("services" in p.parts for p in modules)
    assert LOCAL_SRCS, "local packages not found"


def test_qt_is_imported_only_under_lorairo_gui() -> None:
    offenders = [hit for path in _modules_outside_gui() for hit in _qt_imports(path)]
    assert offenders == [], "Qt imported outside src/lorairo/gui:\n" + "\n".join(offenders)


def test_local_packages_never_import_lorairo() -> None:
    offenders = []
    for src in LOCAL_SRCS:
        for path in src.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                module = None
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    module = node.module
                elif isinstance(node, ast.Import):
                    module = next((a.name for a in node.names if a.name.split(".")[0] == "lorairo"), None)
                if module and module.split(".")[0] == "lorairo":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], "local packages import lorairo:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        "from PySide6.QtCore import QObject",
        "import superqt",
        "import qtpy.QtCore",
        "importlib.import_module('shiboken6')",
    ],
)
def test_the_check_catches_qt_imports(source: str) -> None:
    assert _qt_imports_in(source + "\n", "probe.py")
