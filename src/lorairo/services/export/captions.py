r"""Caption text for training sidecars: which tags go in, in which order, written how.

Rules (conventions.md, "Training-dataset export"): separator ``", "`` and no comma inside a tag; trigger words
first (``keep_tokens`` counts them); underscores become spaces except in the 19 kaomoji; parentheses are
literal (``photo (medium)``) unless A1111 escaping (``\(`` ``\)``) is asked for; with sd-scripts'
``enable_wildcard`` every literal ``{`` ``}`` is written ``{{`` ``}}``.

Tag-level rules (the kaomoji list, underscore <-> space, unescaping, head-count tags, category order) come from
genai_tag_db_tools' public API; what is specific to writing training captions (a comma inside a tag becomes a
space instead of an error, ``|||`` handling, wildcard braces, the line layout) lives here.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from genai_tag_db_tools import (
    DEFAULT_CATEGORY_ORDER,
    KAOMOJI,
    is_count_tag,
    to_spaces,
    to_underscores,
    unescape_parentheses,
)

__all__ = [
    "KAOMOJI",
    "KEEP_TOKENS_SEPARATOR",
    "SECONDARY_SEPARATOR",
    "SEPARATOR",
    "TagStyle",
    "build_line",
    "category_rank",
    "clean_caption_text",
    "clean_tag",
    "collapse",
    "join_unique",
    "parse_sidecar_line",
    "style_text",
    "tag_cleaner",
]

SEPARATOR = ", "
KEEP_TOKENS_SEPARATOR = "|||"
#: sd-scripts' ``secondary_separator``: chunks joined by it are shuffled and dropped as one unit, and it is
#: turned back into a comma before training. A sentence's commas are written as this so shuffling cannot cut
#: the sentence into pieces.
SECONDARY_SEPARATOR = ";;;"

_WS_RE = re.compile(r"\s+")

_GENERAL_RANK = DEFAULT_CATEGORY_ORDER.index("general")


def collapse(text: str) -> str:
    """Strip and collapse whitespace runs (newlines included) into single spaces."""
    return _WS_RE.sub(" ", text).strip()


@dataclass(frozen=True)
class TagStyle:
    """How tags are spelled in the written caption."""

    underscores_to_spaces: bool = True
    escape_parentheses: bool = False
    wildcard: bool = False  # sd-scripts enable_wildcard: literal braces doubled
    keep_underscores: tuple[str, ...] = ()  # shell-style patterns of tags that keep ``_`` (``score_*``)

    def keeps_underscores(self, tag: str) -> bool:
        """True when ``tag`` (compared in its underscore spelling, case-insensitively) matches a pattern."""
        key = to_underscores(tag).lower()
        return any(fnmatch.fnmatchcase(key, pattern.lower()) for pattern in self.keep_underscores)


def clean_tag(tag: str, style: TagStyle) -> str:
    """Return one tag as written into a caption, or ``""`` when nothing is left.

    A comma inside a tag would split it on reading, so it becomes a space; ``|||`` (sd-scripts'
    keep_tokens_separator) likewise.
    """
    text = collapse(unescape_parentheses(tag).replace(",", " ").replace(KEEP_TOKENS_SEPARATOR, " "))
    if not text:
        return ""
    if style.underscores_to_spaces and not style.keeps_underscores(text):
        text = to_spaces(text)
    else:
        text = to_underscores(text)
    return style_text(text, style)


#: Tags remembered per style by `tag_cleaner` (forgotten all at once past this; a dataset's vocabulary is a few
#: thousand tags, so an export of 500k images cleans each distinct tag about once).
CLEANED_TAGS_MAX = 20_000


@functools.lru_cache(maxsize=4)
def tag_cleaner(style: TagStyle) -> Callable[[str], str]:
    """`clean_tag` for `style`, remembering each tag's result: an export cleans every tag row of every image
    (4.5M rows for 500k images) but only a few thousand distinct tags, and cleaning one (unescaping, underscore
    rules, pattern matching) was a quarter of the export's planning time (issue 20)."""
    cleaned: dict[str, str] = {}

    def clean(tag: str) -> str:
        text = cleaned.get(tag)
        if text is None:
            if len(cleaned) >= CLEANED_TAGS_MAX:
                cleaned.clear()
            text = cleaned[tag] = clean_tag(tag, style)
        return text

    return clean


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


def protect_sentence(text: str) -> str:
    """A sentence as one sd-scripts chunk: its commas become the secondary separator (read back as commas)."""
    return text.replace(SECONDARY_SEPARATOR, " ").replace(",", SECONDARY_SEPARATOR)


def join_unique(chunks: Iterable[str]) -> list[str]:
    """Drop empty chunks and repeats (first occurrence wins), keeping order."""
    seen: set[str] = set()
    out: list[str] = []
    for chunk in chunks:
        if chunk and chunk not in seen:
            seen.add(chunk)
            out.append(chunk)
    return out


def category_rank(tag: str, category: str | None) -> int:
    """Sort key of a tag's category group, in genai_tag_db_tools' order (head counts, character, copyright,
    artist, ..., general, ..., rating, meta). Uncategorised tags count as general."""
    if is_count_tag(tag):
        return DEFAULT_CATEGORY_ORDER.index("count")
    name = (category or "general").lower()
    if name in DEFAULT_CATEGORY_ORDER:
        return DEFAULT_CATEGORY_ORDER.index(name)
    return _GENERAL_RANK


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
    text = line.replace(KEEP_TOKENS_SEPARATOR, ",").replace(SECONDARY_SEPARATOR, ", ")
    if wildcard:
        text = text.replace("{{", "{").replace("}}", "}")
    return join_unique(collapse(unescape_parentheses(chunk)) for chunk in text.split(","))
