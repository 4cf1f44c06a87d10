r"""Parse and format caption strings (comma-separated tag lists).

Parsing understands what users paste from prompt tools: ``\(`` ``\)`` escapes, A1111 emphasis and weights
(``(long hair:1.2)``, ``((smile))``, ``[blurry]``), NovelAI braces (``{{smile}}``), sd-scripts wildcard brace
escapes (``{{`` ``}}``), commas and newlines as separators. Parentheses that belong to a tag are kept:
``photo_(medium)`` and the kaomoji ``(o)_(o)`` come back whole. Weights are dropped, never turned into
duplicates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import CaptionFormatError
from .normalize import escape_parentheses, normalize_whitespace, to_spaces

# Private-use placeholders protect escaped characters while brackets are analysed.
_ESC_OPEN, _ESC_CLOSE, _LIT_LBRACE, _LIT_RBRACE = "\ue000", "\ue001", "\ue002", "\ue003"
_RESTORE = str.maketrans({_ESC_OPEN: "(", _ESC_CLOSE: ")", _LIT_LBRACE: "{", _LIT_RBRACE: "}"})
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}
_WEIGHT_RE = re.compile(r"^(.*?)\s*:\s*-?\d+(?:\.\d*)?\s*$", re.DOTALL)
_SPLIT_RE = re.compile(r"[,\n\r]")


def _matching(text: str, index: int) -> int:
    """Return the index of the bracket pairing with ``text[index]`` (an opener or a closer), or -1."""
    char = text[index]
    if char in _PAIRS:
        other, step, stop = _PAIRS[char], 1, len(text)
    else:
        other, step, stop = _CLOSERS[char], -1, -1
    depth = 0
    for i in range(index, stop, step):
        if text[i] == char:
            depth += 1
        elif text[i] == other:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _strip_weight(inner: str) -> str:
    match = _WEIGHT_RE.match(inner)
    return match.group(1) if match else inner


def _strip_emphasis(chunk: str) -> str:
    """Remove emphasis brackets and weights around one tag, keeping brackets that are part of the tag."""
    text = chunk.strip()
    while text:
        first, last = text[0], text[-1]
        # Fully wrapped: "(tag)", "((tag))", "(tag:1.2)", "[tag]", "{tag}".
        if first in _PAIRS and _matching(text, 0) == len(text) - 1:
            inner = text[1:-1]
            text = (_strip_weight(inner) if first == "(" else inner).strip()
            continue
        # Left half of a multi-tag group split at a comma: "(tag_a" of "(tag_a, tag_b:1.1)".
        # Only when a word follows, so emoticons such as "(:" stay as they are.
        if first in _PAIRS and _matching(text, 0) == -1 and len(text) > 1 and text[1].isalnum():
            text = text[1:].strip()
            continue
        # Right half of a group: "tag_b:1.1)" or "tag_b)". ":)" and ";)" stay (punctuation before the bracket).
        if last in _CLOSERS and _matching(text, len(text) - 1) == -1 and len(text) > 1:
            body = text[:-1]
            weighted = _strip_weight(body)
            if weighted != body or body[-1].isalnum() or body[-1] in " _":
                text = weighted.strip()
                continue
        break
    return text


def parse_caption(text: str, *, wildcard: bool = False) -> list[str]:
    r"""Split a caption string into tags.

    Args:
        text: A caption such as ``"1girl, (long hair:1.2), photo_\(medium\)"``.
        wildcard: The caption was written for sd-scripts ``enable_wildcard``: ``{{`` and ``}}`` are literal
            braces.

    Returns:
        The tags in order, whitespace collapsed, escapes resolved, emphasis and weights removed, empty entries
        dropped. Duplicates are kept (see :func:`genai_tag_db_tools.clean_tags` to merge them); underscores
        and case are left as written.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_caption expects a str, got {type(text).__name__}")
    protected = text.replace("\\(", _ESC_OPEN).replace("\\)", _ESC_CLOSE)
    if wildcard:
        protected = protected.replace("{{", _LIT_LBRACE).replace("}}", _LIT_RBRACE)
    tags: list[str] = []
    for chunk in _SPLIT_RE.split(protected):
        tag = normalize_whitespace(_strip_emphasis(chunk).translate(_RESTORE))
        if tag:
            tags.append(tag)
    return tags


def format_tags(
    tags: Iterable[str],
    *,
    underscores_to_spaces: bool = True,
    escape_parentheses: bool = False,
    wildcard_escape_braces: bool = False,
    separator: str = ", ",
) -> str:
    r"""Join tags into one caption line.

    Args:
        tags: Tags in the order they should appear.
        underscores_to_spaces: Write ``long hair`` for ``long_hair`` (the 19 kaomoji keep their underscores).
        escape_parentheses: Write ``\(`` ``\)`` (A1111/ComfyUI prompts only; never for training captions).
        wildcard_escape_braces: Write literal braces as ``{{`` ``}}`` for sd-scripts ``enable_wildcard``.
        separator: Text between tags.

    Returns:
        The caption line. Empty tags are skipped and a tag that becomes identical to an earlier one after
        formatting is written once.

    Raises:
        CaptionFormatError: A tag contains the separator (a comma inside a tag would split it on reading).
    """
    sep_core = separator.strip()
    seen: set[str] = set()
    out: list[str] = []
    for raw in tags:
        tag = normalize_whitespace(raw)
        if not tag:
            continue
        if sep_core and sep_core in tag:
            raise CaptionFormatError(f"tag {raw!r} contains the separator {sep_core!r}")
        if underscores_to_spaces:
            tag = to_spaces(tag)
        if escape_parentheses:
            tag = _escape(tag)
        if wildcard_escape_braces:
            tag = tag.replace("{", "{{").replace("}", "}}")
        if tag in seen:
            continue
        seen.add(tag)
        out.append(tag)
    return separator.join(out)


def _escape(tag: str) -> str:
    return escape_parentheses(tag)
