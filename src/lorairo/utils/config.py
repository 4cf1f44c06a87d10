"""Configuration files: locating, reading, validating and atomically writing TOML.

`config/lorairo.toml` is the single source of defaults (and of the comments users see). Types come from the
default value; ranges, enumerations and list element rules from `config_schema`. The user's file is
edited with tomlkit so comments and layout survive every change.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs

from lorairo.exceptions import ConfigurationError
from lorairo.utils.config_schema import LOG_LEVELS, PATH_KEYS, SECRET_KEYS, build_schema

__all__ = ["LOG_LEVELS", "PATH_KEYS", "SECRET_KEYS"]

APP_NAME = "LoRAIro"

# Environment variables that override file values (not persisted).
ENV_OVERRIDES: dict[str, str] = {
    "OPENAI_API_KEY": "api.openai_key",
    "ANTHROPIC_API_KEY": "api.claude_key",
    "GOOGLE_API_KEY": "api.google_key",
    "OPENROUTER_API_KEY": "api.openrouter_key",
    "HF_TOKEN": "huggingface.token",
    "LORAIRO_LOG_LEVEL": "log.level",
    "LORAIRO_DEBUG": "app.debug",
    "LORAIRO_DATABASE_DIR": "directories.database_dir",
    "LORAIRO_MAX_WORKERS": "resources.max_workers",
    "LORAIRO_BATCH_SIZE": "resources.batch_size",
    "LORAIRO_MAX_MEMORY_MB": "resources.max_memory_mb",
}


def defaults_path() -> Path:
    """The shipped defaults: `config/lorairo.toml` in a checkout, or its copy inside an installed wheel."""
    here = Path(__file__).resolve()
    candidates = (
        here.parents[3] / "config" / "lorairo.toml",
        here.parents[1] / "_defaults" / "config" / "lorairo.toml",
    )
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigurationError(f"default configuration not found (looked in {', '.join(map(str, candidates))})")


def user_config_path() -> Path:
    """Where the user's configuration lives (`LORAIRO_CONFIG_PATH` overrides the platform location)."""
    override = os.environ.get("LORAIRO_CONFIG_PATH")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "lorairo.toml"


def user_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error or a non-UTF-8 byte becomes one line naming the file and line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read configuration file: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # TOML files are UTF-8 by definition; a Latin-1 editor save is the usual cause. Name where, so the
        # user can fix that one character; the file is never rewritten (every writer reads it first).
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigurationError(
            f"{path}: not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {column} "
            f"(byte offset {exc.start}); save the file as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: invalid TOML: {exc}") from None


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}. Tables nest (ai_providers.openai.timeout)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


# --- validation (the rules live in config_schema) -------------------------------------------------------


def validate_value(key: str, value: Any, default: Any) -> Any:
    """Check `value` against the key's schema entry (type from `default`); return the normalised value."""
    return build_schema({key: default})[key].check(value)


def parse_cli_value(key: str, text: str, default: Any) -> Any:
    """Turn a command-line / environment string into the key's type (validation comes after).

    Lists are comma-separated (`jpg,png`) or a TOML / JSON array (`["jpg", "png"]`); an array that does not
    parse is refused, never stored as one odd string.
    """
    expected = type(default)
    setting = build_schema({key: default})[key]
    try:
        if expected is bool:
            lowered = text.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if expected is int:
            return int(text.strip())
        if expected is float:
            return float(text.strip())
        if expected is list:
            return _parse_list(key, text)
    except ValueError:
        name = {bool: "true or false", int: "an integer", float: "a number"}.get(expected, expected.__name__)
        raise ConfigurationError(f"{key}: cannot read {setting.describe(text)} as {name}", key=key) from None
    return text


def _parse_list(key: str, text: str) -> list[Any]:
    stripped = text.strip()
    if not stripped.startswith("["):
        return [part.strip() for part in stripped.split(",") if part.strip()]
    try:
        value = tomllib.loads(f"value = {stripped}")["value"]
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc).split(" (at ", 1)[0]
        raise ConfigurationError(
            f'{key}: {text!r} is not a valid list ({reason}); write it as a,b or as ["a", "b"]', key=key
        ) from None
    if not isinstance(value, list):
        raise ConfigurationError(f"{key}: {text!r} is not a list", key=key)
    return value


# --- writing ------------------------------------------------------------------------------------------


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` via a temp file in the same folder + rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp_name).replace(path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def set_in_document(path: Path, dotted_key: str, value: Any) -> None:
    """Set one value in a TOML file, keeping comments and layout; creates tables as needed."""
    import tomlkit  # only writers need it (80 ms of every CLI start otherwise)

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        document = tomlkit.parse(text)
    except Exception as exc:  # tomlkit raises its own ParseError subclasses
        raise ConfigurationError(f"{path}: invalid TOML, not changed: {exc}") from None
    *tables, leaf = dotted_key.split(".")
    container: Any = document
    for name in tables:
        if name not in container:
            container[name] = tomlkit.table()
        container = container[name]
    container[leaf] = value
    atomic_write_text(path, tomlkit.dumps(document))
