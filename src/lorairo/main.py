"""Entry point: `lorairo` with no arguments opens the desktop app; with a sub-command it runs the CLI.

Kept light on purpose: every CLI command pays for this module's imports, so typer and the command modules are
imported inside `run_cli`, and the command modules import their services inside the command functions.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Mapping

# Below this width typer's boxed help layout cuts option names (`--keep-tokens-separa…`); click's plain layout
# never does, it wraps only the descriptions.
_RICH_HELP_MIN_COLUMNS = 100


def plain_help_wanted(is_terminal: bool, columns: int) -> bool:
    """Help goes to a pipe, a file or a narrow terminal: use the plain layout that keeps every name whole."""
    return not is_terminal or columns < _RICH_HELP_MIN_COLUMNS


def _choose_help_layout() -> None:
    # typer reads TYPER_USE_RICH once, when imported; a value the user set is respected.
    if "TYPER_USE_RICH" in os.environ:
        return
    columns = shutil.get_terminal_size(fallback=(80, 24)).columns
    if plain_help_wanted(sys.stdout.isatty(), columns):
        os.environ["TYPER_USE_RICH"] = "0"


def run_cli(argv: list[str]) -> int:
    """Run a CLI command; a LoRAIro error prints one clear line and exits non-zero."""
    _choose_help_layout()
    import typer

    from lorairo.cli.app import app
    from lorairo.cli.common import err_console
    from lorairo.exceptions import LoRAIroException

    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="lorairo", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except typer.TyperException as exc:  # usage errors: bad option, missing argument, no such command
        err_console.print(usage_error_line(exc), highlight=False, markup=False)
        return int(getattr(exc, "exit_code", 2))
    except LoRAIroException as exc:
        from lorairo.utils.log import redact  # loguru: only when there is an error to print

        err_console.print(f"[red]error:[/] {redact(str(exc))}", highlight=False)
        return 1
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except OSError as exc:  # the environment, not a bug: one line naming the place (the log has the trace)
        from loguru import logger

        from lorairo.utils.log import redact

        logger.opt(exception=exc).debug("command failed")
        place = exc.filename or "the target folder"
        message = f"disk full at {place}" if exc.errno == errno.ENOSPC else f"{exc.strerror or exc}: {place}"
        err_console.print(f"[red]error:[/] {redact(message)}", highlight=False)
        return 1
    return result if isinstance(result, int) else 0


def usage_error_line(exc: Exception) -> str:
    """One line for a usage error (click prints usage, a hint and the error over four lines)."""
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "lorairo"
    return f"error: {' '.join(message.split())} (see `{command} --help`)"


def missing_display(environ: Mapping[str, str], platform: str) -> str | None:
    """Why Qt cannot open a window here, or None. Linux/BSD need X11 or Wayland unless a Qt platform is chosen;
    without this check Qt aborts the process (exit 134) after a page of plugin messages."""
    if environ.get("QT_QPA_PLATFORM"):
        return None
    if not (platform.startswith("linux") or "bsd" in platform):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "lorairo: no display found (neither DISPLAY nor WAYLAND_DISPLAY is set); the desktop app needs one. "
        "Use the command line (`lorairo --help`) or run headless with QT_QPA_PLATFORM=offscreen."
    )


def run_gui(argv: list[str]) -> int:
    if reason := missing_display(os.environ, sys.platform):
        sys.stderr.write(reason + "\n")
        return 1
    from lorairo.gui.app import run  # imported lazily: the CLI never loads Qt

    return run(argv)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        try:
            return run_gui(args)
        except ImportError as exc:  # the GUI layer is missing or Qt cannot load on this system
            sys.stderr.write(f"lorairo: cannot start the desktop app ({exc}); run `lorairo --help` for the CLI\n")
            return 1
    return run_cli(args)


if __name__ == "__main__":
    sys.exit(main())
