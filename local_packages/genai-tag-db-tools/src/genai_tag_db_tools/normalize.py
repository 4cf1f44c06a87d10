"""Pure functions that normalise single tags.

Tags are stored in their source form (Danbooru style: lowercase, words joined by underscores). Users and
captions write them with spaces. A *key* is the form used for lookups: whitespace collapsed, spaces turned into
underscores, lowercase. The 19 kaomoji below are never rewritten, because their underscores are part of the
face (``^_^`` must not become ``^ ^``).
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Tags whose underscores are part of the text (conventions.md, "Training-dataset export").
KAOMOJI: frozenset[str] = frozenset(
    {
        "0_0",
        "(o)_(o)",
        "+_+",
        "+_-",
        "._.",
        "<o>_<o>",
        "<|>_<|>",
        "=_=",
        ">_<",
        "3_3",
        "6_9",
        ">_o",
        "@_@",
        "^_^",
        "o_o",
        "u_u",
        "x_x",
        "|_|",
        "||_||",
    }
)

_WS_RE = re.compile(r"\s+")


def normalize_whitespace(tag: str) -> str:
    """Strip the tag and collapse every run of whitespace into one space."""
    return _WS_RE.sub(" ", tag).strip()


def unescape_parentheses(tag: str) -> str:
    r"""Turn prompt escapes ``\(`` and ``\)`` back into literal parentheses."""
    return tag.replace("\\(", "(").replace("\\)", ")")


def escape_parentheses(tag: str) -> str:
    r"""Escape parentheses for A1111/ComfyUI prompts (``photo (medium)`` -> ``photo \(medium\)``)."""
    out = unescape_parentheses(tag)  # never double-escape
    return out.replace("(", "\\(").replace(")", "\\)")


def is_kaomoji(tag: str) -> bool:
    """Return True if ``tag`` is one of the 19 kaomoji whose underscores must be kept."""
    return tag in KAOMOJI


def to_spaces(tag: str) -> str:
    """Replace underscores with spaces, except in kaomoji (``long_hair`` -> ``long hair``, ``^_^`` kept)."""
    if tag in KAOMOJI:
        return tag
    return tag.replace("_", " ")


def to_underscores(tag: str) -> str:
    """Replace spaces with underscores (``long hair`` -> ``long_hair``); kaomoji are returned unchanged."""
    if tag in KAOMOJI:
        return tag
    return tag.replace(" ", "_")


def normalize_tag(tag: str, *, lowercase: bool = False, spaces: bool = True) -> str:
    r"""Normalise one tag: unescape ``\(`` ``\)``, collapse whitespace, optionally lowercase.

    Args:
        tag: The raw tag text.
        lowercase: Lowercase the result (kaomoji are lowercase already except ``>_o``-style faces, which
            are in the list in lowercase).
        spaces: Return the space form (``long hair``); False returns the underscore form (``long_hair``).

    Returns:
        The normalised tag, or an empty string when nothing but whitespace was given.
    """
    text = normalize_whitespace(unescape_parentheses(tag))
    if lowercase:
        text = text.lower()
    if spaces:
        return to_spaces(text)
    return to_underscores(text)


@lru_cache(maxsize=1 << 17)
def tag_key(tag: str) -> str:
    r"""Return the lookup key of a tag: unescaped, whitespace collapsed, underscores, lowercase.

    ``"Long  Hair"``, ``"long_hair"`` and ``"long hair"`` all map to ``"long_hair"``;
    ``"photo \(medium\)"`` maps to ``"photo_(medium)"``.
    """
    # Cached: cleaning and lookups call this several times per tag, over a vocabulary of bounded size.
    return to_underscores(normalize_whitespace(unescape_parentheses(tag)).lower())
