"""Order tags by category, the way training captions are usually laid out.

Default order: head-count tags (``1girl``, ``2boys``, ``solo``, ...), character, copyright, artist, species,
general (by confidence when known), lore, unknown, rating, meta last. Within a category the order is by
confidence (highest first) when confidences are given, otherwise the input order is kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from . import categories as c
from .normalize import tag_key

DEFAULT_CATEGORY_ORDER: tuple[str, ...] = (
    c.COUNT,
    c.CHARACTER,
    c.COPYRIGHT,
    c.ARTIST,
    c.CONTRIBUTOR,
    c.SPECIES,
    c.GENERAL,
    c.LORE,
    c.UNKNOWN,
    c.INVALID,
    c.RATING,
    c.META,
)

_COUNT_RE = re.compile(r"^(?:\d+\+?|multiple|no|one|two|three)_?(?:girl|boy|other|human|futa)s?$")
_COUNT_WORDS: frozenset[str] = frozenset(
    {"solo", "solo_focus", "no_humans", "duo", "trio", "group", "multiple_views", "zero_pictured"}
)


def is_count_tag(tag: str) -> bool:
    """Return True for head-count tags such as ``1girl``, ``2boys``, ``6+girls``, ``solo``, ``no humans``."""
    key = tag_key(tag)
    return key in _COUNT_WORDS or bool(_COUNT_RE.match(key))


def order_tags(
    tags: Sequence[str],
    categories: Mapping[str, str] | None = None,
    *,
    confidences: Mapping[str, float] | None = None,
    order: Sequence[str] = DEFAULT_CATEGORY_ORDER,
) -> list[str]:
    """Sort tags into category groups.

    Args:
        tags: Tags to order (any spelling; lookups use :func:`tag_key`).
        categories: Tag -> category name, keyed by the tag as given or by its key. Missing tags count as
            ``unknown``; head-count tags are recognised without it.
        confidences: Tag -> confidence; within a group higher confidence comes first.
        order: Category names in output order; categories not listed go after the listed ones.

    Returns:
        A new list; the sort is stable, so equal entries keep their input order.
    """
    cats = categories or {}
    conf = confidences or {}
    rank = {name: i for i, name in enumerate(order)}
    unlisted = len(rank)

    def sort_key(item: tuple[int, str]) -> tuple[int, float, int]:
        index, tag = item
        if is_count_tag(tag) and c.COUNT in rank:
            group = rank[c.COUNT]
        else:
            category = cats.get(tag) or cats.get(tag_key(tag)) or c.UNKNOWN
            group = rank.get(category, unlisted)
        score = conf.get(tag)
        if score is None:
            score = conf.get(tag_key(tag), 0.0)
        return (group, -float(score), index)

    return [tag for _, tag in sorted(enumerate(tags), key=sort_key)]
