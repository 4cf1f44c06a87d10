"""Starting `lorairo`: light imports for --version / --help, help that never cuts an option name, and a clear
line instead of Qt's abort when there is no display. Each runs a real process, as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lorairo.main import missing_display, plain_help_wanted

# genai_tag_db_tools' package root is light (its constants, under a millisecond); its database and search modules are
# not, and they load only through sqlalchemy, which is listed.
HEAVY = ("alembic", "sqlalchemy", "PIL", "numpy", "image_annotator_lib", "huggingface_hub")

_PROBE = """
import sys
from lorairo.main import main
code = main(sys.argv[1:])
sys.stdout.flush()
heavy = sorted(name for name in {heavy!r} if name in sys.modules)
sys.stderr.write("LOADED=" + ",".join(heavy) + "\\n")
sys.exit(code)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TYPER_USE_RICH", "COLUMNS")}
    env.update(extra)
    return env


@pytest.mark.parametrize(
    "args",
    [("--version",), ("--help",), ("export", "--help"), ("config", "path"), ("config", "set", "log.level", "DEBUG")],
)
def test_light_commands_import_no_database_imaging_or_model_library(args: tuple[str, ...]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        check=False,
        env=_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stderr.rsplit("LOADED=", 1)[1].strip()
    assert loaded == "", f"`lorairo {' '.join(args)}` imported {loaded}"


def _help(*args: str, columns: str | None = None) -> str:
    extra = {"COLUMNS": columns} if columns else {}
    result = subprocess.run(
        [sys.executable, "-m", "lorairo", *args, "--help"],
        capture_output=True,  # stdout is a pipe, like `lorairo export --help | cat`
        text=True,
        check=False,
        env=_env(**extra),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _option_names(command: tuple[str, ...]) -> list[str]:
    import typer

    from lorairo.cli.app import app

    click_command = typer.main.get_command(app)
    ctx = click_command.make_context("lorairo", [*command, "--help"], resilient_parsing=True)
    for name in command:
        click_command = click_command.get_command(ctx, name)  # type: ignore[attr-defined]
    return [opt for param in click_command.params for opt in (*param.opts, *param.secondary_opts)]


@pytest.mark.parametrize("command", [("export",), ("import",), ("annotate",), ("query",), ("config", "set")])
@pytest.mark.parametrize("columns", [None, "40"])
def test_help_in_a_pipe_or_narrow_terminal_shows_every_option_name_whole(
    command: tuple[str, ...], columns: str | None
) -> None:
    text = _help(*command, columns=columns)
    assert "…" not in text  # rich's ellipsis: a cut name or description
    assert "╭" not in text  # no box drawing in a pipe
    words = set(re.findall(r"--?[A-Za-z][\w-]*", text))
    names = [name for name in _option_names(command) if name.startswith("-")]
    assert names
    missing = [name for name in names if name not in words]
    assert not missing, f"`lorairo {' '.join(command)} --help` lost {missing}:\n{text}"


def test_help_layout_rule() -> None:
    assert plain_help_wanted(is_terminal=False, columns=200)
    assert plain_help_wanted(is_terminal=True, columns=80)
    assert not plain_help_wanted(is_terminal=True, columns=140)


def test_gui_without_a_display_says_so_in_one_line_and_exits_cleanly() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run(
        [sys.executable, "-m", "lorairo"], capture_output=True, text=True, check=False, env=env, timeout=120
    )
    if not sys.platform.startswith("linux"):
        pytest.skip("the display check applies to X11 / Wayland systems")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no Qt plugin noise, no abort
    assert "no display found" in lines[0] and "QT_QPA_PLATFORM=offscreen" in lines[0] and "lorairo --help" in lines[0]


def test_display_rule() -> None:
    assert missing_display({}, "linux") is not None
    assert missing_display({"DISPLAY": ":0"}, "linux") is None
    assert missing_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert missing_display({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert missing_display({}, "win32") is None
    assert missing_display({}, "darwin") is None


def test_opening_a_current_project_does_not_load_alembic() -> None:
    """Alembic (about a second of imports) is needed only to upgrade; a project at head opens without it."""
    created = subprocess.run(
        [sys.executable, "-m", "lorairo", "project", "create", "fast"], capture_output=True, text=True, env=_env()
    )
    assert created.returncode == 0, created.stderr
    for args in (("project", "list", "--json"), ("query", "--project", "fast", "--json")):
        result = subprocess.run(
            [sys.executable, "-c", _PROBE.format(heavy=("alembic",)), *args],
            capture_output=True,
            text=True,
            check=False,
            env=_env(),
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.rsplit("LOADED=", 1)[1].strip() == "", f"`lorairo {' '.join(args)}` imported Alembic"


def test_head_read_from_the_version_files_agrees_with_alembic() -> None:
    from lorairo.database import migrations

    assert migrations._head_from_scripts() == migrations.head_revision()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("export", "--bogus"), "No such option: --bogus"),
        (("export",), "Missing option '--project'"),
        (("nosuchcommand",), "No such command 'nosuchcommand'"),
        (("export", "--project", "x", "--repeats", "0"), "--repeats"),
    ],
)
def test_usage_errors_are_one_line_naming_the_help(args: tuple[str, ...], fragment: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lorairo", *args], capture_output=True, text=True, check=False, env=_env(), timeout=120
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0] and "--help`)" in lines[0]


def test_tables_in_a_pipe_are_not_cut(tmp_path: Path) -> None:
    projects = tmp_path / ("a-folder-name-long-enough-to-push-the-table-past-eighty-columns" * 2) / "projects"
    env = _env(LORAIRO_DATABASE_DIR=str(projects))
    name = "a-project-with-a-long-name"
    assert subprocess.run([sys.executable, "-m", "lorairo", "project", "create", name], env=env).returncode == 0
    listed = subprocess.run(
        [sys.executable, "-m", "lorairo", "project", "list"], capture_output=True, text=True, env=env, check=True
    )
    assert str(projects / name) in listed.stdout and "…" not in listed.stdout
