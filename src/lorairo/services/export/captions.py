r"""Caption text for training sidecars: which tags go in, in which order, written how.

Rules (conventions.md, "Training-dataset export"): separator ``", "`` and no comma inside a tag; trigger words
first (``keep_tokens`` counts them); underscores become spaces except in the 19 kaomoji; parentheses are
literal (``photo (medium)``) unless A1111 escaping (``\(`` ``\)``) is asked for; with sd-scripts'
``enable_wildcard`` every literal ``{`` ``}`` is written ``{{`` ``}}``.

genai_tag_db_tools has the same tag-level rules (KAOMOJI, to_spaces) but did not export them from its public
``__init__`` when this was written, so the few lines needed live here (kept in step with conventions.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Tags whose underscores are part of the face and are written verbatim (conventions.md).
KAOMOJI: frozenset[str] = frozenset(
    [
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
    ]
)

SEPARATOR = ", "
KEEP_TOKENS_SEPARATOR = "|||"

_WS_RE = re.compile(r"\s+")

#: Head-count tags go first within a caption laid out by category ("1girl, solo, ...").
_COUNT_RE = re.compile(r"^(?:\d+\+?|multiple|no)[ _]?(?:girl|boy|other)s?$")
_COUNT_WORDS = frozenset({"solo", "solo focus", "no humans", "duo", "trio", "group"})

#: Category order of the tag part of a caption; categories not listed go after general, meta last.
CATEGORY_ORDER: tuple[str, ...] = ("character", "copyright", "artist", "species", "general")
_LAST_CATEGORIES: tuple[str, ...] = ("rating", "meta")


def collapse(text: str) -> str:
    """Strip and collapse whitespace runs (newlines included) into single spaces."""
    return _WS_RE.sub(" ", text).strip()


def unescape_parentheses(text: str) -> str:
    return text.replace("\\(", "(").replace("\\)", ")")


def to_spaces(tag: str) -> str:
    """``long_hair`` -> ``long hair``; the kaomoji keep their underscores."""
    return tag if tag in KAOMOJI else tag.replace("_", " ")


def to_underscores(tag: str) -> str:
    """``long hair`` -> ``long_hair`` (kaomoji unchanged)."""
    return tag if tag in KAOMOJI else tag.replace(" ", "_")


@dataclass(frozen=True)
class TagStyle:
    """How tags are spelled in the written caption."""

    underscores_to_spaces: bool = True
    escape_parentheses: bool = False
    wildcard: bool = False  # sd-scripts enable_wildcard: literal braces doubled


def clean_tag(tag: str, style: TagStyle) -> str:
    """Return one tag as written into a caption, or ``""`` when nothing is left.

    A comma inside a tag would split it on reading, so it becomes a space; ``|||`` (sd-scripts'
    keep_tokens_separator) likewise.
    """
    text = collapse(unescape_parentheses(tag).replace(",", " ").replace(KEEP_TOKENS_SEPARATOR, " "))
    if not text:
        return ""
    text = to_spaces(text) if style.underscores_to_spaces else to_underscores(text)
    return style_text(text, style)


def style_text(text: str, style: TagStyle) -> str:
    """Apply parenthesis escaping and wildcard brace doubling to already-clean text."""
    if style.escape_parentheses:
        text = unescape_parentheses(text).replace("(", "\\(").replace(")", "\\)")
    if style.wildcard:
        text = text.replace("{", "{{").replace("}", "}}")
    return text


def clean_caption_text(text: str, style: TagStyle) -> str:
    """A natural-language caption on one line, braces doubled for wildcard mode (parentheses left alone)."""
    line = collapse(text)
    if style.wildcard:
        line = line.replace("{", "{{").replace("}", "}}")
    return line


def join_unique(chunks: Iterable[str]) -> list[str]:
    """Drop empty chunks and repeats (first occurrence wins), keeping order."""
    seen: set[str] = set()
    out: list[str] = []
    for chunk in chunks:
        if chunk and chunk not in seen:
            seen.add(chunk)
            out.append(chunk)
    return out


def is_count_tag(tag: str) -> bool:
    """True for head-count tags such as ``1girl``, ``2 boys``, ``6+girls``, ``solo``."""
    key = collapse(tag.replace("_", " ")).lower()
    return key in _COUNT_WORDS or bool(_COUNT_RE.match(key))


def category_rank(tag: str, category: str | None) -> int:
    """Sort key of a tag's category group: head counts, character, copyright, artist, general, others, meta."""
    if is_count_tag(tag):
        return 0
    name = (category or "general").lower()
    if name in CATEGORY_ORDER:
        return 1 + CATEGORY_ORDER.index(name)
    if name in _LAST_CATEGORIES:
        return 100 + _LAST_CATEGORIES.index(name)
    return 1 + len(CATEGORY_ORDER)


def build_line(fixed: Sequence[str], body: Sequence[str], *, use_keep_tokens_separator: bool) -> str:
    """Join the fixed leading chunks and the rest into one caption line.

    With ``use_keep_tokens_separator`` the fixed part is followed by `` ||| `` (sd-scripts keeps everything
    before it in place when shuffling) instead of being counted by ``keep_tokens``.
    """
    if use_keep_tokens_separator and fixed:
        head = SEPARATOR.join(fixed)
        return f"{head} {KEEP_TOKENS_SEPARATOR} {SEPARATOR.join(body)}" if body else head
    return SEPARATOR.join([*fixed, *body])


def parse_sidecar_line(line: str, *, wildcard: bool = False) -> list[str]:
    r"""Split a caption line back into tags the way import reads sidecars (for checks and round trips).

    ``\(`` ``\)`` are unescaped, ``{{`` ``}}`` become single braces when the file was written for wildcard
    mode, the ``|||`` separator is a plain separator, empty chunks are dropped and duplicates merged.
    """
    text = line.replace(KEEP_TOKENS_SEPARATOR, ",")
    if wildcard:
        text = text.replace("{{", "{").replace("}}", "}")
    return join_unique(collapse(unescape_parentheses(chunk)) for chunk in text.split(","))
