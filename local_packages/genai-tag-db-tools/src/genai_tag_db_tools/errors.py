"""Exceptions raised by genai-tag-db-tools.

Every error carries a one-line message that names the file, field or host involved, so the CLI can print it
verbatim and callers can show it to users.
"""

from __future__ import annotations


class TagDbError(Exception):
    """Base class for all errors raised by this package."""


class ImportFormatError(TagDbError):
    """A vocabulary file cannot be read or has the wrong shape."""


class ImportCancelled(TagDbError):
    """The caller cancelled an import; its transaction was rolled back, nothing was written."""


class DownloadError(TagDbError):
    """A vocabulary could not be downloaded (offline, bad URL, server error)."""


class CaptionFormatError(TagDbError, ValueError):
    """A tag cannot be written into a caption (for example it contains the separator)."""
