"""The canonical text form of a filter (`format_filter`, the inverse of `parse_filter`) and the upgrade of texts
saved in the space-separated syntax before the filter language."""

from __future__ import annotations

from lorairo.services.filter_language.model import (
    _FLAG_WORD,
    _TEXT_KEYS,
    FLAG_FIELDS,
    ImageFilter,
    SimilarTo,
    aspect_name,
)
from lorairo.services.filter_language.parser import _Parser


def _bare_ok(text: str) -> bool:
    """True when `text` reads back as the same single phrase without quotes."""
    if not text or text != " ".join(text.split()) or any(c in text for c in ',|"\\'):
        return False
    return all(_Parser(word).classify(0) == "word" for word in text.split(" "))


def _quote(text: str) -> str:
    return text if _bare_ok(text) else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number_text(value: float) -> str:
    return repr(float(value)).removesuffix(".0") if float(value).is_integer() else repr(float(value))


def format_filter(f: ImageFilter) -> str:
    """The canonical text form (favourites, the CLI, the filter field): `parse_filter(format_filter(f)) == f`."""
    parts: list[str] = [_quote(t) for t in f.tags_all]
    parts += ["|".join(_quote(t) for t in group) for group in f.tags_any]
    parts += [f"-{_quote(t)}" for t in f.tags_none]
    if f.caption_text:
        parts.append(f"caption:{_quote(f.caption_text)}")
    if f.name_text:
        parts.append(f"name:{_quote(f.name_text)}")
    if f.score_name:
        parts.append(f"score_name:{_quote(f.score_name)}")
    if f.score_min is not None and f.score_max is not None and not (f.score_min_exclusive or f.score_max_exclusive):
        if f.score_min >= 0:
            parts.append(f"score:{_number_text(f.score_min)}-{_number_text(f.score_max)}")
        else:
            parts += [f"score>={_number_text(f.score_min)}", f"score<={_number_text(f.score_max)}"]
    else:
        if f.score_min is not None:
            parts.append(f"score{'>' if f.score_min_exclusive else '>='}{_number_text(f.score_min)}")
        if f.score_max is not None:
            parts.append(f"score{'<' if f.score_max_exclusive else '<='}{_number_text(f.score_max)}")
    for key, low, high in (
        ("width", f.min_width, f.max_width),
        ("height", f.min_height, f.max_height),
        ("imported", f.imported_from, f.imported_to),
    ):
        if low is not None:
            parts.append(f"{key}>={low}")
        if high is not None:
            parts.append(f"{key}<={high}")
    if f.min_side is not None:
        parts.append(f"res>={f.min_side}")
    if f.max_side is not None:
        parts.append(f"res<={f.max_side}")
    named = aspect_name(f)
    if named:
        parts.append(f"aspect:{named}")
    else:
        if f.aspect_min is not None:
            parts.append(f"aspect{'>' if f.aspect_min_exclusive else '>='}{_number_text(f.aspect_min)}")
        if f.aspect_max is not None:
            parts.append(f"aspect{'<' if f.aspect_max_exclusive else '<='}{_number_text(f.aspect_max)}")
    if f.ratings:
        parts.append("rating:" + "|".join(f.ratings))
    if f.ratings_none:
        parts.append("-rating:" + "|".join(f.ratings_none))
    for name in FLAG_FIELDS:
        value = getattr(f, name)
        if value is not None:
            parts.append(("" if value else "-") + _FLAG_WORD[name])
    parts += [("" if flagged else "-") + f"quality:{check}" for check, flagged in f.quality]
    if f.similar is not None:
        parts += _similar_parts(f.similar)
    return ", ".join(dict.fromkeys(parts))


def _similar_parts(term: SimilarTo) -> list[str]:
    """`similar:"text"` (always quoted: it reads as a sentence) or `similar:#123`, then its options."""
    text = '"' + term.text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    parts = [f"similar:#{term.image_id}" if term.image_id is not None else f"similar:{text}"]
    if term.model:
        parts.append(f"similar_model:{_quote(term.model)}")
    if term.top is not None:
        parts.append(f"top:{term.top}")
    if term.min_similarity is not None:
        parts.append(f"similar>={_number_text(term.min_similarity)}")
    return parts


def upgrade_legacy_text(text: str) -> str:
    """A filter saved by LoRAIro before this language (favourites): terms separated by spaces, each bare word
    its own tag (`"long hair" cat dog -blurry`). The same filter in today's syntax (`long hair, cat, dog,
    -blurry`): every old term becomes a comma-separated item, so `cat dog` stays two tags."""
    import shlex

    try:
        terms = shlex.split(text, posix=True)
    except ValueError:
        return text  # it never parsed; the user sees the error when loading it
    items: list[str] = []
    for term in terms:
        negated, core = (True, term[1:]) if term.startswith("-") and len(term) > 1 else (False, term)
        kind = _Parser(core).classify(0) if core else "word"
        if kind == "key" and core.split(":", 1)[0].lower() in ("tag", *_TEXT_KEYS):
            key, value = core.split(":", 1)
            quoted = "|".join(_quote(v) for v in value.split("|")) if key.lower() == "tag" else _quote(value)
            items.append(("-" if negated else "") + f"{key}:{quoted}")
        elif kind in ("flag", "key", "compare"):
            items.append(term)  # flags, ratings and comparisons read the same
        else:
            # a bare or quoted tag, or an OR group of them: each alternative on its own, quoted when needed
            items.append(("-" if negated else "") + "|".join(_quote(alt) for alt in core.split("|") if alt))
    return ", ".join(item for item in items if item.strip("-"))
