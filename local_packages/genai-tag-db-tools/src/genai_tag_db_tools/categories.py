"""Category names and the type numbers each source uses for them.

The a1111-tagcomplete CSVs store a number per tag and the numbering differs between Danbooru and e621
(conventions.md, "Tag vocabulary"); WD taggers' ``selected_tags.csv`` use Danbooru numbers plus 9 for rating.
"""

from __future__ import annotations

GENERAL = "general"
ARTIST = "artist"
COPYRIGHT = "copyright"
CHARACTER = "character"
META = "meta"
SPECIES = "species"
LORE = "lore"
CONTRIBUTOR = "contributor"
INVALID = "invalid"
RATING = "rating"
UNKNOWN = "unknown"
#: Pseudo-category for head-count tags (``1girl``, ``2boys``, ``solo``), used only for ordering.
COUNT = "count"

DANBOORU_TYPES: dict[int, str] = {0: GENERAL, 1: ARTIST, 3: COPYRIGHT, 4: CHARACTER, 5: META}
E621_TYPES: dict[int, str] = {
    0: GENERAL,
    1: ARTIST,
    2: CONTRIBUTOR,
    3: COPYRIGHT,
    4: CHARACTER,
    5: SPECIES,
    6: INVALID,
    7: META,
    8: LORE,
}
WD_TYPES: dict[int, str] = {**DANBOORU_TYPES, 9: RATING}

#: Type numbering per format; formats not listed use Danbooru numbering.
TYPE_MAPS: dict[str, dict[int, str]] = {"danbooru": DANBOORU_TYPES, "e621": E621_TYPES}

#: e621 marks invalid tags with their own type; such tags are imported as deprecated.
DEPRECATED_CATEGORIES: frozenset[str] = frozenset({INVALID})

ALL_CATEGORIES: tuple[str, ...] = (
    COUNT,
    CHARACTER,
    COPYRIGHT,
    ARTIST,
    CONTRIBUTOR,
    SPECIES,
    GENERAL,
    LORE,
    UNKNOWN,
    INVALID,
    RATING,
    META,
)


def type_map_for(format_name: str) -> dict[int, str]:
    """Return the type-number -> category map for a vocabulary format."""
    return TYPE_MAPS.get(format_name, DANBOORU_TYPES)
