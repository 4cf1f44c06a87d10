"""Shared plumbing of CLI commands: lazily built services, JSON / rich output, one-line errors."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from lorairo.storage.names import display_name

if TYPE_CHECKING:
    # Imported where used: the project service pulls in SQLAlchemy and Alembic (over a second), which
    # `lorairo --version`, `--help` and the config commands never need.
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.project_service import ProjectService

# In a pipe or a file rich would lay tables out for 80 columns and cut cells with "…" (a project's path, a
# file name): give it room instead; a table is only as wide as its content.
_PIPE_WIDTH = 10_000
console = Console(width=None if sys.stdout.isatty() else _PIPE_WIDTH)
err_console = Console(stderr=True, soft_wrap=True)


@dataclass
class CliState:
    """Built on first use so `lorairo --version` and `--help` never read configuration."""

    verbose: bool = False
    _config: ConfigurationService | None = field(default=None, repr=False)

    def reset(self) -> None:
        self._config = None

    @property
    def config(self) -> ConfigurationService:
        if self._config is None:
            from loguru import logger

            from lorairo.services.configuration_service import ConfigurationService
            from lorairo.utils.log import setup_from_config

            self._config = ConfigurationService()
            # The console stays quiet (progress bars and results are the output); the log file gets the
            # configured level, secrets masked. --verbose adds debug output on stderr.
            setup_from_config(self._config, console=False)
            if self.verbose:
                logger.add(sys.stderr, level="DEBUG")
        return self._config

    @property
    def projects(self) -> ProjectService:
        from lorairo.services.project_service import ProjectService

        return ProjectService(self.config)


state = CliState()


def _default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (no colour, no wrapping)."""
    text = json.dumps(data, default=_default, ensure_ascii=False, indent=2)
    # A path that was not valid UTF-8 (surrogate-escaped) cannot be written as UTF-8: show it as people see it.
    sys.stdout.write(display_name(text) + "\n")
