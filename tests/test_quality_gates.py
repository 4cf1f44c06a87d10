"""Quality gates run with the tests: ruff over the whole repository, mypy over the Qt-free code.

The same checks run in pre-commit (.pre-commit-config.yaml). A lint or type error fails CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Qt-free code: everything in the app except the GUI layer, and both local packages.
MYPY_TARGETS = [
    "src/lorairo",
    "local_packages/genai-tag-db-tools/src/genai_tag_db_tools",
    "local_packages/image-annotator-lib/src/image_annotator_lib",
]


def _tool(name: str) -> list[str]:
    exe = shutil.which(name, path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail(f"{name} is not installed in this environment (it is a dev dependency: run `uv sync`)")
    return [exe]


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [*_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_is_clean_on_qt_free_code() -> None:
    # src/lorairo/gui is excluded in [tool.mypy] of pyproject.toml.
    result = subprocess.run(
        [*_tool("mypy"), *MYPY_TARGETS], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
