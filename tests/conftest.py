"""Every test gets its own configuration file and projects folder, and no API keys from the real environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

_ISOLATED_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
    "OPENROUTER_API_KEY",
    "HF_TOKEN",
    "LORAIRO_LOG_LEVEL",
    "LORAIRO_DEBUG",
    "LORAIRO_MAX_WORKERS",
    "LORAIRO_BATCH_SIZE",
    "LORAIRO_MAX_MEMORY_MB",
)


@pytest.fixture(autouse=True)
def isolated_lorairo(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("lorairo-home")
    for var in _ISOLATED_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LORAIRO_CONFIG_PATH", str(home / "config" / "lorairo.toml"))
    monkeypatch.setenv("LORAIRO_DATABASE_DIR", str(home / "projects"))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    # platformdirs (logs, tag database, caches) follows XDG on Linux: keep every test out of the real home.
    for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    yield home
