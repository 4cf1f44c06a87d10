"""The one schema of LoRAIro's settings: type, range, enumeration and list element rule of every key.

`config/lorairo.toml` stays the single source of defaults (and of the comments users read); this module adds
what a default cannot say: `export.repeats` must be at least 1, `log.level` is one of six words, extensions
are short words. `lorairo config set`, the Settings dialog (its spin box ranges and combo boxes) and the
loader of the user's file all validate through `Setting.check`, so the three cannot disagree.

Plain frozen dataclasses rather than pydantic: the schema is read on every CLI start (pydantic's import alone
costs more than the whole `lorairo --version` budget), the rules are a handful of ranges and enumerations,
and a range that depends on the machine (`resources.max_workers` <= 4 x cores) is a plain function here.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lorairo.exceptions import ConfigurationError

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
EXPORT_FORMATS = (
    "kohya",
    "kohya-json",
    "kohya-jsonl",
    "onetrainer",
    "hf-imagefolder",
    "simpletuner",
    "ai-toolkit",
    "diffusion-pipe",
    "musubi",
)

# Keys whose values are secrets: never printed unmasked, never put into error messages.
SECRET_KEYS = frozenset(
    {"api.openai_key", "api.claude_key", "api.google_key", "api.openrouter_key", "huggingface.token"}
)
# Keys holding filesystem paths ("" = platform default).
PATH_KEYS = frozenset(
    {"directories.database_dir", "directories.export_dir", "directories.batch_results_dir", "log.file_path"}
)


def max_workers_limit() -> int:
    """More worker processes than 4 per core only add memory and switching; the cap keeps typos harmless."""
    return 4 * (os.cpu_count() or 1)


Bound = float | Callable[[], float] | None
# Extra check of one value (or one list element): returns the normalised value or raises ValueError(reason).
Rule = Callable[[Any], Any]


@dataclass(frozen=True)
class Setting:
    """One key: its type (from the default), and the rules a value must meet.

    `low`/`high` may be functions (evaluated when checked) for limits that depend on the machine.
    `item_*` apply to each element of a list. `deep` is a check too costly for every start (it imports the
    model registry): run when a user sets the value, not when the file is loaded.
    """

    key: str
    default: Any
    low: Bound = None
    high: Bound = None
    choices: tuple[str, ...] = ()
    item_pattern: str | None = None
    item_hint: str = ""
    min_items: int = 0
    rule: Rule | None = None
    hint: str = ""
    deep: Callable[[Any], None] | None = field(default=None, compare=False)
    # A machine-dependent upper limit: a loaded file over it is clamped with a warning (it may come from a
    # bigger machine); `config set` and the dialog refuse it.
    clamp_on_load: bool = False

    @property
    def type(self) -> type:
        return type(self.default)

    @property
    def secret(self) -> bool:
        return self.key in SECRET_KEYS

    @property
    def is_path(self) -> bool:
        return self.key in PATH_KEYS

    def bounds(self) -> tuple[float | None, float | None]:
        """The numeric range with machine-dependent limits evaluated now."""
        low = self.low() if callable(self.low) else self.low
        high = self.high() if callable(self.high) else self.high
        return low, high

    def describe(self, value: Any) -> str:
        """A value for an error message: secrets are never echoed."""
        if self.secret:
            return type(value).__name__
        return f"{value!r} ({type(value).__name__})"

    def fail(self, reason: str) -> ConfigurationError:
        return ConfigurationError(f"{self.key}: {reason}", key=self.key)

    # --- checking ---------------------------------------------------------------------------------------

    def check(self, value: Any) -> Any:
        """Return `value` normalised (levels upper-cased, extensions without dot) or raise naming the key."""
        value = self._check_type(value)
        if self.type in (int, float):
            self._check_range(value)
        elif self.type is list:
            value = [self._check_item(index, item) for index, item in enumerate(value)]
            if len(value) < self.min_items:
                raise self.fail(f"needs at least {self.min_items} entr{'y' if self.min_items == 1 else 'ies'}")
            # Duplicates are dropped, order kept: ["jpg", "JPG"] is one extension.
            value = list(dict.fromkeys(value))
        elif self.type is str:
            value = self._check_text(value)
        return value

    def _check_type(self, value: Any) -> Any:
        expected = self.type
        if expected is bool:
            if not isinstance(value, bool):
                raise self.fail(f"expected true or false, got {self.describe(value)}")
        elif expected is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(f"expected an integer, got {self.describe(value)}")
        elif expected is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(f"expected a number, got {self.describe(value)}")
            if not math.isfinite(value):
                raise self.fail(f"expected a finite number, got {self.describe(value)}")
            value = float(value)
        elif expected is list:
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise self.fail(f"expected a list of strings, got {self.describe(value)}")
        elif expected is str and not isinstance(value, str):
            raise self.fail(f"expected a string, got {self.describe(value)}")
        return value

    def _check_range(self, value: float) -> None:
        low, high = self.bounds()
        if (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                allowed = f"between {_num(low)} and {_num(high)}"
            elif low is not None:
                allowed = f">= {_num(low)}"
            else:
                allowed = f"<= {_num(high or 0)}"
            note = f"; {self.hint}" if self.hint else ""
            raise self.fail(f"must be {allowed} (got {_num(value)}){note}")

    def _check_item(self, index: int, item: str) -> str:
        item = item.strip()
        if self.rule is not None:
            try:
                item = self.rule(item)
            except ValueError as exc:
                raise self.fail(f"entry {index + 1} {item!r}: {exc}") from None
        if self.item_pattern is not None and not re.fullmatch(self.item_pattern, item):
            raise self.fail(f"entry {index + 1} {item!r} is not {self.item_hint or 'allowed'}")
        return item

    def _check_text(self, value: str) -> str:
        if self.is_path:
            return _check_path(self, value)
        if "\x00" in value:
            raise self.fail("contains a NUL character")
        if self.rule is not None:
            try:
                value = self.rule(value)
            except ValueError as exc:
                raise self.fail(f"{exc} (got {'a secret' if self.secret else repr(value)})") from None
        if self.choices and value not in self.choices:
            raise self.fail(f"must be one of {', '.join(self.choices)} (got {value!r})")
        return value


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _check_path(setting: Setting, value: str) -> str:
    if value == "":
        return value
    if "\x00" in value:
        raise setting.fail("path contains a NUL character")
    expanded = Path(value).expanduser()
    if not expanded.is_absolute():
        raise setting.fail(f"must be an absolute path or empty (got {value!r})")
    if setting.key.startswith("directories.") and expanded.exists() and not expanded.is_dir():
        raise setting.fail(f"{value!r} exists and is not a folder")
    return value


# --- value rules ----------------------------------------------------------------------------------------


def _level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    return value.upper()


def _caption_extension(value: str) -> str:
    if not re.fullmatch(r"\.[A-Za-z0-9_.-]{1,16}", value):
        raise ValueError("must look like '.txt'")
    return value


def _image_extension(value: str) -> str:
    # Users write ".JPG" as often as "jpg"; the importer compares lower-case suffixes without the dot.
    return value.lower().removeprefix(".")


def _url_or_empty(value: str) -> str:
    if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError("must be an http(s):// URL or empty")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def _hub_name(value: str) -> str:
    if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", value):
        raise ValueError("may hold only letters, digits, '-', '_' and '.' (user and repository are separate keys)")
    return value


# Rules by key; keys not listed here are checked by the default's type only. Every number has a range
# (a test enforces it): a value the rest of LoRAIro cannot use is refused here, naming the key.
_PROVIDER_RULES: dict[str, dict[str, Any]] = {
    "timeout": {"low": 1, "high": 3600},
    "retry_attempts": {"low": 0, "high": 20},
    "rate_limit_requests_per_minute": {"low": 1, "high": 100_000},
    "max_concurrency": {"low": 1, "high": 256},
    "base_url": {"rule": _url_or_empty},
}

RULES: dict[str, dict[str, Any]] = {
    "log.level": {"rule": _level, "choices": LOG_LEVELS},
    "log.rotation": {"rule": _not_blank},
    "log.retention": {"rule": _not_blank},
    "huggingface.hf_username": {"rule": _hub_name},
    "huggingface.repo_name": {"rule": _hub_name},
    "resources.max_workers": {
        "low": 0,
        "high": max_workers_limit,
        "hint": "0 = one per core; the limit is 4 per core of this machine (more only costs memory)",
        "clamp_on_load": True,
    },
    "resources.batch_size": {"low": 1, "high": 100_000},
    "resources.max_memory_mb": {"low": 64, "high": 1_048_576},
    "image_processing.extensions": {
        "rule": _image_extension,
        "item_pattern": r"[a-z0-9]{1,10}",
        "item_hint": "a file extension such as jpg",
        "min_items": 1,
    },
    "image_processing.max_file_size_mb": {"low": 1, "high": 100_000},
    "image_processing.max_pixels": {"low": 1, "high": 2**40},
    "image_processing.thumbnail_size": {"low": 64, "high": 4096},
    "image_processing.thumbnail_format": {"choices": ("jpeg", "webp")},
    "image_processing.thumbnail_quality": {"low": 1, "high": 100},
    "image_processing.near_duplicate_threshold": {"low": 0, "high": 64},
    "image_processing.max_sidecar_kb": {"low": 1, "high": 1_048_576, "hint": "larger sidecars are skipped"},
    "annotation.batch_size": {"low": 1, "high": 10_000},
    "annotation.default_models": {"item_pattern": r"\S(.*\S)?", "item_hint": "a model name"},
    "annotation.general_threshold": {"low": 0.0, "high": 1.0},
    "annotation.character_threshold": {"low": 0.0, "high": 1.0},
    "annotation.max_tags": {"low": 0, "high": 10_000},
    "annotation.upload_max_side": {"low": 64, "high": 8192},
    "annotation.engine": {"choices": ("local", "ray")},
    "annotation.ray_address": {"hint": '"" = this machine, auto, HOST:6379 or ray://HOST:10001'},
    "annotation.ray_replicas": {"low": 0, "high": 100_000, "hint": "0 = one per GPU share, else one per node"},
    "annotation.ray_gpus_per_replica": {"low": 0.0, "high": 64.0},
    "annotation.ray_max_retries": {"low": 0, "high": 100, "hint": "worker deaths per batch before it fails"},
    "export.format": {"choices": EXPORT_FORMATS},
    "export.caption_extension": {"rule": _caption_extension},
    "export.resolution": {"low": 0, "high": 16_384, "hint": "0 keeps the original sizes"},
    "export.bucket_reso_steps": {"low": 8, "high": 1024},
    "export.min_bucket_reso": {"low": 64, "high": 16_384},
    "export.max_bucket_reso": {"low": 64, "high": 16_384},
    "export.image_format": {"choices": ("original", "png", "jpg", "webp")},
    "export.repeats": {"low": 1, "high": 10_000, "hint": "kohya's num_repeats; 0 would train on nothing"},
    "export.min_confidence": {"low": 0.0, "high": 1.0},
    # Cloud answers larger than these are refused as malformed_response (a runaway or hostile answer).
    "ai_providers.max_caption_chars": {"low": 1, "high": 10_000_000},
    "ai_providers.max_answer_tags": {"low": 1, "high": 100_000},
    "ai_providers.max_response_bytes": {"low": 1024, "high": 1_073_741_824},
    "quality.blurry_sharpness": {"low": 0.0, "high": 100_000.0},
    "quality.dark_mean": {"low": 0.0, "high": 1.0},
    "quality.bright_mean": {"low": 0.0, "high": 1.0},
    "quality.clipped_fraction": {"low": 0.0, "high": 1.0},
    "quality.low_info_entropy": {"low": 0.0, "high": 8.0, "hint": "a grey histogram holds at most 8 bits"},
    "quality.greyscale_saturation": {"low": 0.0, "high": 1.0},
    "quality.low_jpeg_quality": {"low": 1.0, "high": 100.0},
    "quality.letterbox_fraction": {"low": 0.0, "high": 1.0},
    "quality.extreme_aspect": {"low": 1.0, "high": 100.0},
    "export.keep_underscores": {"item_pattern": r"\S+", "item_hint": "a tag or a pattern such as score_*"},
}


def _rules_for(key: str) -> dict[str, Any]:
    if key in RULES:
        return RULES[key]
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "ai_providers":
        return _PROVIDER_RULES.get(parts[2], {})
    return {}


def build_schema(
    defaults: Mapping[str, Any], deep: Mapping[str, Callable[[Any], None]] | None = None
) -> dict[str, Setting]:
    """One Setting per default key. `deep` adds the costly checks (model names) by key."""
    deep = deep or {}
    schema: dict[str, Setting] = {}
    for key, default in defaults.items():
        rules = dict(_rules_for(key))
        schema[key] = Setting(key=key, default=default, deep=deep.get(key), **rules)
        if "choices" in rules and default not in rules["choices"]:
            raise ConfigurationError(f"{key}: the shipped default {default!r} breaks its own rule", key=key)
    return schema
