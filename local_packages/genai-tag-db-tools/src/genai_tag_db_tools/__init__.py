"""genai-tag-db-tools: tag database, cleaning rules and autocomplete.

Importing the package is cheap: the names below are loaded on first access (the database parts pull in
SQLAlchemy, the download parts httpx/huggingface_hub).

Typical use::

    from genai_tag_db_tools import TagDatabase, TagCleaner, format_tags

    db = TagDatabase()                      # $GENAI_TAG_DB_DIR or the user data dir
    db.import_file("danbooru.csv")
    db.search("long ha")[0].name            # 'long hair'
    TagCleaner(db).clean("1girls, long_hair, long hair")   # ['1girl', 'long hair']
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # database
    "TagDatabase": "database",
    "TagInfo": "database",
    "UserOverlay": "overlay",
    "ImportReport": "importers",
    # cleaning and captions
    "TagCleaner": "cleaner",
    "CleanResult": "cleaner",
    "clean_tags": "cleaner",
    "parse_caption": "caption",
    "format_tags": "caption",
    "normalize_tag": "normalize",
    "tag_key": "normalize",
    "to_spaces": "normalize",
    "to_underscores": "normalize",
    "unescape_parentheses": "normalize",
    "escape_parentheses": "normalize",
    "KAOMOJI": "normalize",
    "order_tags": "ordering",
    "is_count_tag": "ordering",
    "DEFAULT_CATEGORY_ORDER": "ordering",
    # search
    "SearchIndex": "search",
    "SearchResult": "search",
    # download
    "download_vocabulary": "download",
    "download_and_import": "download",
    # paths and errors
    "default_data_dir": "paths",
    "TagDbError": "errors",
    "ImportFormatError": "errors",
    "ImportCancelled": "errors",
    "DownloadError": "errors",
    "CaptionFormatError": "errors",
}

__all__ = [
    "DEFAULT_CATEGORY_ORDER",
    "KAOMOJI",
    "CaptionFormatError",
    "CleanResult",
    "DownloadError",
    "ImportCancelled",
    "ImportFormatError",
    "ImportReport",
    "SearchIndex",
    "SearchResult",
    "TagCleaner",
    "TagDatabase",
    "TagDbError",
    "TagInfo",
    "UserOverlay",
    "clean_tags",
    "default_data_dir",
    "default_database",
    "download_and_import",
    "download_vocabulary",
    "escape_parentheses",
    "format_tags",
    "get_tag_info",
    "is_count_tag",
    "normalize_tag",
    "order_tags",
    "parse_caption",
    "search_tags",
    "tag_key",
    "to_spaces",
    "to_underscores",
    "unescape_parentheses",
]

if TYPE_CHECKING:
    from .caption import format_tags, parse_caption
    from .cleaner import CleanResult, TagCleaner, clean_tags
    from .database import TagDatabase, TagInfo
    from .download import download_and_import, download_vocabulary
    from .errors import CaptionFormatError, DownloadError, ImportCancelled, ImportFormatError, TagDbError
    from .importers import ImportReport
    from .normalize import (
        KAOMOJI,
        escape_parentheses,
        normalize_tag,
        tag_key,
        to_spaces,
        to_underscores,
        unescape_parentheses,
    )
    from .ordering import DEFAULT_CATEGORY_ORDER, is_count_tag, order_tags
    from .overlay import UserOverlay
    from .paths import default_data_dir
    from .search import SearchIndex, SearchResult


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'genai_tag_db_tools' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def default_database() -> TagDatabase:
    """Return a shared :class:`TagDatabase` for the default data dir (one per directory, reused)."""
    from .paths import default_data_dir

    return _database_for(str(default_data_dir()))


@lru_cache(maxsize=4)
def _database_for(data_dir: str) -> TagDatabase:
    # Reusing the instance keeps its search index and lookup caches between calls.
    from .database import TagDatabase

    return TagDatabase(data_dir)


def search_tags(
    query: str,
    *,
    db: TagDatabase | None = None,
    limit: int = 20,
    format_name: str | None = None,
    prefix_first: bool = False,
) -> list[SearchResult]:
    """Autocomplete ``query`` against ``db`` (default: the database in the default data dir)."""
    database = db or default_database()
    return database.search(query, limit=limit, format_name=format_name, prefix_first=prefix_first)


def get_tag_info(
    names: list[str] | tuple[str, ...],
    *,
    db: TagDatabase | None = None,
    format_name: str | None = None,
) -> dict[str, TagInfo]:
    """Batched category/count lookup: input name -> :class:`TagInfo` (unknown names are left out)."""
    database = db or default_database()
    return database.get_tag_info(names, format_name=format_name)
