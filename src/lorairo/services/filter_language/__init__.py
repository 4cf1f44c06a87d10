"""The one filter language of LoRAIro: `ImageFilter`, its text form, and image-ID lists.

Everything that takes "a filter" (the GUI filter bar, `lorairo query --filter`, `export --filter`,
`annotate --filter`, the Annotate panel, saved favourites) parses text with :func:`parse_filter` here; the
grammar is documented for users in ``docs/filters.md`` and summarised in :data:`FILTER_HELP`.

In short: terms are separated by commas or spaces and all must hold (AND). Bare words next to each other form
ONE tag (``long hair``), so a comma list of multi-word tags reads as typed: ``long hair, cat|dog, -blurry``.
A word that is a key term (``score>=6``, ``rating:general``, ``untagged``), a quoted tag or a ``-`` word
starts a new term, so ``tag:"long hair" -blurry score>=6 rating:general`` works too.

The parser is a small hand-written scanner over the string (not shlex, not a parser generator): the grammar
is context-sensitive in two places (a word is a tag or a key term depending on what it looks like; commas
continue a rating list) and every error must name its column, which shlex cannot do. Pure Python, no
imports beyond the standard library and the tag normaliser, so the CLI loads it cheaply.

Modules: model.py (ImageFilter, the vocabulary, errors), parser.py (text -> ImageFilter), text_form.py
(ImageFilter -> text, old favourites), combine.py (text AND filter-bar widgets), id_lists.py (`--ids`).
Every public name is importable from this package, as it was from the single module it replaced.
"""

from __future__ import annotations

from lorairo.services.filter_language.combine import merge_filters
from lorairo.services.filter_language.id_lists import IdList, parse_ids
from lorairo.services.filter_language.model import (
    ASPECTS,
    FILTER_HELP,
    FLAG_FIELDS,
    FLAGS,
    KEYS,
    NSFW_RATINGS,
    QUALITY_CHECKS,
    RATINGS,
    WD_RATINGS,
    FilterSyntaxError,
    IdListError,
    ImageFilter,
    SimilarTo,
    aspect_name,
    named_aspect,
    normalize_query_tag,
    tag_match_key,
)
from lorairo.services.filter_language.parser import parse_filter
from lorairo.services.filter_language.text_form import format_filter, upgrade_legacy_text

__all__ = [
    "ASPECTS",
    "FILTER_HELP",
    "FLAGS",
    "FLAG_FIELDS",
    "KEYS",
    "NSFW_RATINGS",
    "QUALITY_CHECKS",
    "RATINGS",
    "WD_RATINGS",
    "FilterSyntaxError",
    "IdList",
    "IdListError",
    "ImageFilter",
    "SimilarTo",
    "aspect_name",
    "format_filter",
    "merge_filters",
    "named_aspect",
    "normalize_query_tag",
    "parse_filter",
    "parse_ids",
    "tag_match_key",
    "upgrade_legacy_text",
]
