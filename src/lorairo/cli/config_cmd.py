"""`lorairo config show|get|set|path`: API keys are always masked."""

from __future__ import annotations

from typing import Annotated

import typer

from lorairo.cli.common import console, print_json, state

app = typer.Typer(help="Show and change settings.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _shown(key: str, value: object) -> object:
    from lorairo.services.configuration_service import mask_api_key
    from lorairo.utils.config_schema import SECRET_KEYS

    return mask_api_key(str(value)) if key in SECRET_KEYS and value else value


@app.command()
def show(json: JsonOpt = False) -> None:
    """Every effective setting (file, then environment overrides); secrets masked."""
    config = state.config
    if json:
        print_json(config.as_dict(masked=True))
        return
    current = None
    for key in config.keys():  # noqa: SIM118 - ConfigurationService is not a mapping
        section, leaf = key.rsplit(".", 1)
        if section != current:
            console.print(f"\n[bold]\\[{section}][/]")
            current = section
        env = config.env_override(key)
        note = f"  [dim](from ${env})[/]" if env else ""
        console.print(f"{leaf} = {_shown(key, config.get(key))!r}{note}", markup=True, highlight=False)


@app.command()
def get(key: Annotated[str, typer.Argument(help="SECTION.KEY, e.g. log.level")], json: JsonOpt = False) -> None:
    """One setting (secrets masked)."""
    value = _shown(key, state.config.get(key))
    if json:
        print_json({"key": key, "value": value})
    else:
        console.print(value, highlight=False)


# ignore_unknown_options: a VALUE such as `-3` is a value, not an unknown option (so the range is reported,
# not "No such option: -3"). Known options (--json, --help) still work.
@app.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    key: Annotated[str, typer.Argument(help="SECTION.KEY, e.g. log.level")],
    value: Annotated[str, typer.Argument(help='New value; lists: jpg,png or ["jpg", "png"]', metavar="VALUE")],
    json: JsonOpt = False,
) -> None:
    """Change a setting; it is validated and saved at once, keeping the file's comments."""
    config = state.config
    config.update_from_text(key, value)
    shown = _shown(key, config.get(key))
    if json:
        print_json({"key": key, "value": shown, "path": config.config_path})
    else:
        console.print(f"{key} = {shown!r}  (saved to {config.config_path})", highlight=False)
        if env := config.env_override(key):
            console.print(f"[yellow]note: ${env} is set and overrides this value[/]")


@app.command()
def path(json: JsonOpt = False) -> None:
    """Where your configuration file is (it is created on the first change)."""
    config = state.config
    if json:
        print_json(
            {
                "path": config.config_path,
                "exists": config.config_path.exists(),
                "defaults": config.defaults_path,
            }
        )
    else:
        console.print(str(config.config_path), highlight=False)
