"""ConfigurationService: the one place settings are read, validated and changed.

Effective value of a key = the shipped default, overridden by the user's file, overridden by an environment
variable. `update_setting` validates, writes the user's file at once (atomically, comments kept) and notifies
subscribers so changes take effect without a restart. Thread-safe: a lock guards reads and writes.
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from loguru import logger

from lorairo.exceptions import ConfigurationError
from lorairo.utils import config as cfg
from lorairo.utils.config_schema import Setting, build_schema

WORKERS_PER_CORE_CAP = 4

ChangeListener = Callable[[str, Any], None]

_MISSING: Any = object()

# Provider name (as image-annotator-lib and the UI use it) -> config key of its API key.
PROVIDER_KEYS: dict[str, str] = {
    "openai": "api.openai_key",
    "anthropic": "api.claude_key",
    "google": "api.google_key",
    "openrouter": "api.openrouter_key",
}


def mask_api_key(key: str) -> str:
    """Mask a secret for display: `sk-a***wxyz`; keys shorter than 8 characters become `***`."""
    if not key or len(key) < 8:
        return "***"
    return f"{key[:4]}***{key[-4:]}"


class ConfigurationService:
    """Settings of LoRAIro. See module docstring for precedence."""

    def __init__(self, config_path: Path | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._lock = threading.RLock()
        self._environ = os.environ if environ is None else environ
        self.config_path = config_path or cfg.user_config_path()
        self.defaults_path = cfg.defaults_path()
        self._defaults = cfg.flatten(cfg.read_toml(self.defaults_path))
        # The one schema: the loader, `config set` and the Settings dialog all check values through it.
        self.schema: dict[str, Setting] = build_schema(
            self._defaults, deep={"annotation.default_models": self._check_model_names}
        )
        self._listeners: list[ChangeListener] = []
        self._file_values: dict[str, Any] = {}
        self._env_values: dict[str, tuple[str, Any]] = {}
        self.reload()

    # --- loading -------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the user's file and the environment. Raises ConfigurationError naming file and key."""
        with self._lock:
            file_values: dict[str, Any] = {}
            if self.config_path.exists():
                for key, value in cfg.flatten(cfg.read_toml(self.config_path)).items():
                    if key not in self._defaults:
                        # Kept in the file (it may come from a newer LoRAIro) but ignored.
                        logger.warning("{}: unknown setting '{}' ignored", self.config_path, key)
                        continue
                    try:
                        file_values[key] = self._load_value(key, value)
                    except ConfigurationError as exc:
                        raise ConfigurationError(f"{self.config_path}: {exc}", key=key) from None
            env_values: dict[str, tuple[str, Any]] = {}
            for var, key in cfg.ENV_OVERRIDES.items():
                raw = self._environ.get(var)
                if raw is None or raw == "":
                    continue
                try:
                    value = self._load_value(key, cfg.parse_cli_value(key, raw, self._defaults[key]))
                except ConfigurationError as exc:
                    raise ConfigurationError(f"environment variable {var}: {exc}", key=key) from None
                env_values[key] = (var, value)
            # LORAIRO_DEBUG=true means debug logging unless a level is given explicitly.
            if env_values.get("app.debug", ("", False))[1] and "log.level" not in env_values:
                env_values["log.level"] = ("LORAIRO_DEBUG", "DEBUG")
            self._file_values, self._env_values = file_values, env_values

    def _load_value(self, key: str, value: Any) -> Any:
        """Check a value of the user's file. A limit that depends on the machine (max_workers <= 4 x cores; the
        file may come from a bigger machine) is applied with a warning instead of refusing to start."""
        setting = self.schema[key]
        if setting.clamp_on_load and setting.type is int and not isinstance(value, bool) and isinstance(value, int):
            _, high = setting.bounds()
            if high is not None and value > high:
                logger.warning(
                    "{}: {} = {} is above this machine's limit; using {}", self.config_path, key, value, int(high)
                )
                value = int(high)
        return setting.check(value)

    # --- reading -------------------------------------------------------------------------------------

    def _key(self, section: str, key: str | None) -> str:
        dotted = section if key is None else f"{section}.{key}"
        if dotted not in self._defaults:
            close = difflib.get_close_matches(dotted, self._defaults, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else " (`lorairo config show` lists the settings)"
            raise ConfigurationError(f"unknown setting '{dotted}'{hint}", key=dotted)
        return dotted

    def get_setting(self, section: str, key: str | None = None, default: Any = _MISSING) -> Any:
        """Value of `section.key` (or of a dotted `section` alone). Unknown keys raise unless `default` given."""
        try:
            dotted = self._key(section, key)
        except ConfigurationError:
            if default is not _MISSING:
                return default
            raise
        with self._lock:
            if dotted in self._env_values:
                return self._env_values[dotted][1]
            if dotted in self._file_values:
                return self._file_values[dotted]
            return self._defaults[dotted]

    def get(self, dotted: str) -> Any:
        return self.get_setting(dotted)

    def keys(self) -> list[str]:
        return list(self._defaults)

    def setting(self, dotted: str) -> Setting:
        """The schema entry of a key (type, range, choices): the Settings dialog builds its editors from it."""
        return self.schema[self._key(dotted, None)]

    def _check_model_names(self, names: list[str]) -> None:
        """Every name must be a model the annotator library knows (built-in or from the user's model files).

        Imports the model registry, so it runs when a user sets the value, not on every start.
        """
        from lorairo.annotations import ai_annotator
        from lorairo.services.annotation_service import configure_annotator_library

        key = "annotation.default_models"
        try:
            configure_annotator_library(self)
            known = {model.name for model in ai_annotator.get_available_annotator_models(self.api_keys())}
        except Exception as exc:  # the library's own errors: the value cannot be checked, so it is not saved
            raise ConfigurationError(f"{key}: cannot check the model names ({exc})", key=key) from None
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ConfigurationError(
                f"{key}: unknown model {', '.join(map(repr, unknown))} (`lorairo models list` shows the names)",
                key=key,
            )

    def default(self, dotted: str) -> Any:
        return self._defaults[self._key(dotted, None)]

    def env_override(self, dotted: str) -> str | None:
        """The environment variable currently overriding `dotted`, if any (the UI shows it)."""
        with self._lock:
            entry = self._env_values.get(dotted)
            return entry[0] if entry else None

    def as_dict(self, *, masked: bool = True) -> dict[str, dict[str, Any]]:
        """All effective settings, nested by section; secrets masked unless `masked=False`."""
        nested: dict[str, Any] = {}
        for dotted in self._defaults:
            value = self.get(dotted)
            if masked and dotted in cfg.SECRET_KEYS and value:
                value = mask_api_key(value)
            *tables, leaf = dotted.split(".")
            node = nested
            for name in tables:
                node = node.setdefault(name, {})
            node[leaf] = value
        return nested

    def secrets(self) -> list[str]:
        """Every configured secret value (for the log filter)."""
        return [value for key in sorted(cfg.SECRET_KEYS) if (value := self.get(key))]

    def api_keys(self) -> dict[str, str]:
        """Provider -> API key, for the providers that have one."""
        return {provider: value for provider, key in PROVIDER_KEYS.items() if (value := self.get(key))}

    def get_available_providers(self) -> list[str]:
        """Providers whose API key is set (the seed's rule: models of others are not offered)."""
        return list(self.api_keys())

    # --- directories ---------------------------------------------------------------------------------

    def _dir(self, dotted: str, fallback: Path) -> Path:
        value = self.get(dotted)
        return Path(value).expanduser() if value else fallback

    def database_dir(self) -> Path:
        return self._dir("directories.database_dir", cfg.user_data_dir() / "projects")

    def export_dir(self) -> Path:
        return self._dir("directories.export_dir", cfg.user_data_dir() / "exports")

    def batch_results_dir(self) -> Path:
        return self._dir("directories.batch_results_dir", cfg.user_data_dir() / "batch_results")

    def log_file_path(self) -> Path:
        return self._dir("log.file_path", cfg.user_log_dir() / "lorairo.log")

    def max_workers(self) -> int:
        """Worker processes / threads for imports, exports and decoding: `resources.max_workers`, 0 = one per
        core, capped at :data:`WORKERS_PER_CORE_CAP` per core (a typo such as 4000 would otherwise start 4000
        processes and exhaust memory), with a warning naming the setting."""
        workers = int(self.get("resources.max_workers"))
        cores = max(1, os.cpu_count() or 1)
        if workers <= 0:
            return cores
        cap = WORKERS_PER_CORE_CAP * cores
        if workers > cap:
            logger.warning(
                "resources.max_workers = {} is more than {}x the {} CPU cores; using {}", workers,
                WORKERS_PER_CORE_CAP, cores, cap,
            )  # fmt: skip
            return cap
        return workers

    # --- writing -------------------------------------------------------------------------------------

    def update_setting(self, section: str, key: str | None, value: Any) -> None:
        """Validate and persist one setting at once; subscribers are told after the file is written."""
        dotted = self._key(section, key)
        setting = self.schema[dotted]
        checked = setting.check(value)
        if setting.deep is not None and checked != self.get(dotted):
            setting.deep(checked)  # outside the lock: it may import the model registry
        with self._lock:
            if not self.config_path.exists():
                # Start the user's file from the commented defaults so they can read what each key means.
                cfg.atomic_write_text(self.config_path, self.defaults_path.read_text(encoding="utf-8"))
            else:
                cfg.read_toml(self.config_path)  # refuse to touch a file with a syntax error
            cfg.set_in_document(self.config_path, dotted, checked)
            self._file_values[dotted] = checked
            listeners = list(self._listeners)
        shown = mask_api_key(checked) if dotted in cfg.SECRET_KEYS and checked else checked
        logger.info("setting {} = {!r}", dotted, shown)
        for listener in listeners:
            listener(dotted, self.get(dotted))

    def update_from_text(self, dotted: str, text: str) -> None:
        """`lorairo config set KEY VALUE`: parse VALUE to the key's type, then update."""
        key = self._key(dotted, None)
        self.update_setting(key, None, cfg.parse_cli_value(key, text, self._defaults[key]))

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Call `listener(dotted_key, new_value)` after every change; returns an unsubscribe function."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe
