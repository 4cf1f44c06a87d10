"""The one exception hierarchy of LoRAIro (the seed's names).

Messages name the file, key or field at fault and never contain secrets: callers pass values through
`lorairo.utils.log.redact` before putting user-supplied text into a message when it may hold a key.
"""

from __future__ import annotations


class LoRAIroException(Exception):
    """Base exception for LoRAIro application."""


class ConfigurationError(LoRAIroException):
    """Configuration-related errors: a bad file, an unknown key, an invalid value.

    `key` is the dotted setting name ("log.level") when one is at fault.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class DatabaseError(LoRAIroException):
    """Database operation errors: corrupt file, newer schema, failed migration."""


class ProjectError(LoRAIroException):
    """A project cannot be created, found, opened, renamed or deleted as asked."""


class ProjectBusyError(ProjectError):
    """Another operation holds the project's lock; the message names what holds it (operation, pid, since)."""


class DiskFullError(LoRAIroException):
    """The disk (or quota) filled up. The message starts "disk full at PATH"; what was committed is kept and a
    re-run continues (import, annotate and export all leave a re-runnable state)."""


class ImageProcessingError(LoRAIroException):
    """Image processing errors (a whole run failed; single files get per-file outcomes instead)."""


class ExportError(LoRAIroException):
    """An export could not be written as asked."""


class AIProviderError(LoRAIroException):
    """AI provider communication errors."""


class RateLimitError(AIProviderError):
    """API rate limit exceeded."""


class AuthenticationError(AIProviderError):
    """API authentication failed."""
