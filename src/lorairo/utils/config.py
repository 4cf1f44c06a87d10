"""Configuration files: locating, reading, validating and atomically writing TOML.

`config/lorairo.toml` is the single source of defaults (and of the comments users see). Types are inferred
from the default value; keys with stricter rules declare a validator in `VALIDATORS`. The user's file is
edited with tomlkit so comments and layout survive every change.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import platformdirs
import tomlkit

from lorairo.exceptions import ConfigurationError

APP_NAME = "LoRAIro"
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")

# Keys whose values are secrets: never printed unmasked, never put into error messages.
SECRET_KEYS = frozenset({"api.openai_key", "api.claude_key", "api.google_key", "huggingface.token"})
# Keys holding filesystem paths ("" = platform default).
PATH_KEYS = frozenset(
    {"directories.database_dir", "directories.export_dir", "directories.batch_results_dir", "log.file_path"}
)

# Environment variables that override file values (not persisted).
ENV_OVERRIDES: dict[str, str] = {
    "OPENAI_API_KEY": "api.openai_key",
    "ANTHROPIC_API_KEY": "api.claude_key",
    "GOOGLE_API_KEY": "api.google_key",
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
    """Parse a TOML file; a syntax error becomes a ConfigurationError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read configuration file: {exc.strerror or exc}") from exc
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


# --- validation ---------------------------------------------------------------------------------------


def _check_path(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{key}: expected a path string, got {type(value).__name__}", key=key)
    if value == "":
        return value
    if "\x00" in value:
        raise ConfigurationError(f"{key}: path contains a NUL character", key=key)
    expanded = Path(value).expanduser()
    if not expanded.is_absolute():
        raise ConfigurationError(f"{key}: must be an absolute path or empty (got {value!r})", key=key)
    if key.startswith("directories.") and expanded.exists() and not expanded.is_dir():
        raise ConfigurationError(f"{key}: {value!r} exists and is not a folder", key=key)
    return value


def _choice(*choices: str) -> Callable[[str, Any], Any]:
    def check(key: str, value: Any) -> Any:
        if isinstance(value, str) and value in choices:
            return value
        raise ConfigurationError(f"{key}: must be one of {', '.join(choices)} (got {value!r})", key=key)

    return check


def _level(key: str, value: Any) -> str:
    if isinstance(value, str) and value.upper() in LOG_LEVELS:
        return value.upper()
    raise ConfigurationError(f"{key}: log level must be one of {', '.join(LOG_LEVELS)} (got {value!r})", key=key)


def _minimum(low: float) -> Callable[[str, Any], Any]:
    def check(key: str, value: Any) -> Any:
        if value < low:
            raise ConfigurationError(f"{key}: must be >= {low} (got {value!r})", key=key)
        return value

    return check


def _fraction(key: str, value: Any) -> Any:
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{key}: must be between 0 and 1 (got {value!r})", key=key)
    return value


def _extension(key: str, value: Any) -> Any:
    if not re.fullmatch(r"\.[A-Za-z0-9_.-]{1,16}", value):
        raise ConfigurationError(f"{key}: must look like '.txt' (got {value!r})", key=key)
    return value


VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "log.level": _level,
    "image_processing.thumbnail_format": _choice("jpeg", "webp"),
    "image_processing.max_file_size_mb": _minimum(1),
    "image_processing.max_pixels": _minimum(1),
    "image_processing.thumbnail_size": _minimum(64),
    "image_processing.near_duplicate_threshold": _minimum(0),
    "image_processing.max_sidecar_kb": _minimum(1),
    "resources.max_workers": _minimum(0),
    "resources.batch_size": _minimum(1),
    "resources.max_memory_mb": _minimum(64),
    "annotation.batch_size": _minimum(1),
    "annotation.general_threshold": _fraction,
    "annotation.character_threshold": _fraction,
    "annotation.upload_max_side": _minimum(64),
    "export.format": _choice(
        "kohya",
        "kohya-json",
        "kohya-jsonl",
        "onetrainer",
        "hf-imagefolder",
        "simpletuner",
        "ai-toolkit",
        "diffusion-pipe",
        "musubi",
    ),
    "export.caption_extension": _extension,
    "export.image_format": _choice("original", "png", "jpg", "webp"),
    "export.min_confidence": _fraction,
}


def validate_value(key: str, value: Any, default: Any) -> Any:
    """Check `value` against the default's type and the key's rule; return the normalised value."""
    expected = type(default)
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigurationError(f"{key}: expected true or false, got {_describe(key, value)}", key=key)
    elif expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(f"{key}: expected an integer, got {_describe(key, value)}", key=key)
    elif expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError(f"{key}: expected a number, got {_describe(key, value)}", key=key)
        value = float(value)
    elif expected is list:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigurationError(f"{key}: expected a list of strings, got {_describe(key, value)}", key=key)
    elif expected is str and not isinstance(value, str):
        raise ConfigurationError(f"{key}: expected a string, got {_describe(key, value)}", key=key)
    if key in PATH_KEYS:
        return _check_path(key, value)
    rule = VALIDATORS.get(key)
    return rule(key, value) if rule else value


def _describe(key: str, value: Any) -> str:
    """A value for an error message: secrets are never echoed."""
    if key in SECRET_KEYS:
        return type(value).__name__
    return f"{value!r} ({type(value).__name__})"


def parse_cli_value(key: str, text: str, default: Any) -> Any:
    """Turn a command-line / environment string into the key's type (then validate it)."""
    expected = type(default)
    try:
        if expected is bool:
            lowered = text.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if expected is int:
            return int(text)
        if expected is float:
            return float(text)
        if expected is list:
            return [part.strip() for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigurationError(f"{key}: cannot read {_describe(key, text)} as {expected.__name__}", key=key) from None
    return text


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
