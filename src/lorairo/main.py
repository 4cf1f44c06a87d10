"""Entry point: `lorairo` with no arguments opens the desktop app; with a sub-command it runs the CLI."""

from __future__ import annotations

import errno
import sys

import typer

from lorairo.exceptions import LoRAIroException


def run_cli(argv: list[str]) -> int:
    """Run a CLI command; a LoRAIro error prints one clear line and exits non-zero."""
    from lorairo.cli.app import app
    from lorairo.cli.common import err_console
    from lorairo.utils.log import redact

    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="lorairo", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except typer.TyperException as exc:  # usage errors: bad option, missing argument, no such command
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"error: {exc}")
        return int(getattr(exc, "exit_code", 2))
    except LoRAIroException as exc:
        err_console.print(f"[red]error:[/] {redact(str(exc))}", highlight=False)
        return 1
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except OSError as exc:  # the environment, not a bug: one line naming the place (the log has the trace)
        from loguru import logger

        logger.opt(exception=exc).debug("command failed")
        place = exc.filename or "the target folder"
        message = f"disk full at {place}" if exc.errno == errno.ENOSPC else f"{exc.strerror or exc}: {place}"
        err_console.print(f"[red]error:[/] {redact(message)}", highlight=False)
        return 1
    return result if isinstance(result, int) else 0


def run_gui(argv: list[str]) -> int:
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
