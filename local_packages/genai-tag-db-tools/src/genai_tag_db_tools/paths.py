"""Default locations of the tag databases and downloaded vocabularies.

The base database holds replaceable vocabulary data; the user overlay keeps the user's own tags, aliases,
translations and blacklist in a separate file so the base can be deleted or re-imported without losing edits.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that overrides the data directory (databases and downloads).
DB_DIR_ENV = "GENAI_TAG_DB_DIR"

APP_NAME = "genai-tag-db-tools"
BASE_DB_NAME = "tags_base.sqlite"
OVERLAY_DB_NAME = "tags_user.sqlite"
DOWNLOADS_DIR_NAME = "downloads"


def default_data_dir() -> Path:
    """Return the data directory: ``$GENAI_TAG_DB_DIR`` if set, else the platform's user data dir."""
    env = os.environ.get(DB_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    # Imported here so that importing the package stays cheap.
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return ``data_dir`` if given, else :func:`default_data_dir`."""
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


def downloads_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder where downloaded vocabulary files are kept."""
    return resolve_data_dir(data_dir) / DOWNLOADS_DIR_NAME
