"""Logging with loguru: the seed's format, level from config/env, rotation, and secret masking.

Every configured secret (API keys, HF token) is replaced by its masked form wherever it appears: in the
message and in exception text (the traceback is rendered here, masked, instead of by loguru).

Libraries log through the standard `logging` module (image-annotator-lib, genai-tag-db-tools, httpx, openai,
anthropic, huggingface_hub, ...). An `InterceptHandler` on the root logger hands their WARNING and above to
loguru, so they reach the same file and console and go through the same masking (an SDK echoing a key in a
warning is masked like our own messages).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

LOG_FORMAT = "{time:YYYY-MM-DD HH:mm:ss} | {level} | {name}:{function}:{line} | {message}"
_CONSOLE_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss}</green> | <level>{level: <8}</level> | "
    "<cyan>{name}:{function}:{line}</cyan> | <level>{message}</level>"
)
# Key shapes that are secrets even when not configured (e.g. pasted into a message by a provider error).
_KEY_PATTERNS = re.compile(r"\b(sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}|AIza[0-9A-Za-z_-]{30,})")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_handler_ids: list[int] = []


def _mask(secret: str) -> str:
    return "***" if len(secret) < 8 else f"{secret[:4]}***{secret[-4:]}"


def register_secrets(values: Iterable[str]) -> None:
    """Replace the set of secrets masked in every log record and in `redact()`."""
    global _secrets
    with _lock:
        # Longest first, so a secret containing another is masked whole.
        _secrets = tuple(sorted({v for v in values if v}, key=len, reverse=True))


def redact(text: str) -> str:
    """Mask every registered secret and anything shaped like an API key in `text`."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _mask(secret))
    return _KEY_PATTERNS.sub(lambda m: _mask(m.group(0)), text)


def _patch(record: Record) -> None:
    record["message"] = redact(record["message"])
    exception = record["exception"]
    if exception is not None and exception.type is not None:
        rendered = "".join(traceback.format_exception(exception.type, exception.value, exception.traceback))
        record["extra"]["_exc"] = redact(rendered)


def _formatter(template: str) -> Any:
    def fmt(record: Record) -> str:
        if "_exc" in record["extra"]:
            return template + "\n{extra[_exc]}"
        return template + "\n"

    return fmt


# Standard-library records bridged into loguru: warnings and errors (libraries' INFO/DEBUG is noise for users).
BRIDGED_LEVEL = logging.WARNING


class InterceptHandler(logging.Handler):
    """Hands standard `logging` records to loguru (the recipe from loguru's documentation)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # Find the frame that called logging, so loguru names the library's module and line, not this one.
        frame: FrameType | None = logging.currentframe()
        depth = 2
        while frame is not None and frame.f_code.co_filename == logging.__file__:
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, "{}: {}", record.name, record.getMessage())


def install_logging_bridge(level: int = BRIDGED_LEVEL) -> None:
    """Route the standard library's log records (at `level` and above) into loguru; idempotent."""
    # Python warnings (Pillow's "Corrupt EXIF data" while a model's library decodes an image, ...) become log
    # records of `py.warnings` and take the same way: the log file, not lines through the progress bar.
    logging.captureWarnings(True)
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, InterceptHandler):
            handler.setLevel(level)
            return
    handler = InterceptHandler(level)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)


def setup_logging(
    level: str = "INFO",
    file_path: Path | None = None,
    *,
    rotation: str = "10 MB",
    retention: str = "1 month",
    secrets: Iterable[str] = (),
    console: bool = True,
) -> None:
    """(Re)configure loguru: console on stderr and a rotating file, both masked; bridge stdlib logging."""
    register_secrets(secrets)
    install_logging_bridge()
    with _lock:
        logger.remove()
        _handler_ids.clear()
        logger.configure(patcher=_patch)
        if console and sys.stderr is not None:
            _handler_ids.append(
                logger.add(
                    sys.stderr,
                    level=level,
                    format=_formatter(_CONSOLE_FORMAT),
                    backtrace=False,
                    diagnose=False,
                )
            )
        if file_path is not None:
            file_path.parent.mkdir(parents=True, exist_ok=True)
            _handler_ids.append(
                logger.add(
                    file_path,
                    level=level,
                    format=_formatter(LOG_FORMAT),
                    rotation=rotation,
                    retention=retention,
                    encoding="utf-8",
                    enqueue=False,
                    backtrace=False,
                    diagnose=False,  # diagnose would print local variables: keys could leak
                )
            )


def setup_from_config(config: Any, *, console: bool = True) -> None:
    """Configure logging from a ConfigurationService and follow later changes of log settings / secrets."""

    def apply() -> None:
        setup_logging(
            config.get("log.level"),
            config.log_file_path(),
            rotation=config.get("log.rotation"),
            retention=config.get("log.retention"),
            secrets=config.secrets(),
            console=console,
        )

    apply()

    def on_change(key: str, _value: Any) -> None:
        if key.startswith(("log.", "api.")) or key == "huggingface.token":
            apply()

    config.subscribe(on_change)
