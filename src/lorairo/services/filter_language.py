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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, NamedTuple

from lorairo.exceptions import LoRAIroException

# Content ratings as the models store them: WD taggers give one of the first four, open-nsfw sfw / nsfw.
WD_RATINGS = ("general", "sensitive", "questionable", "explicit")
NSFW_RATINGS = ("sfw", "nsfw")
RATINGS = WD_RATINGS + NSFW_RATINGS

# Named aspect ratios (width / height): portrait < 0.95 <= square <= 1.05 < landscape (no overlap).
SQUARE_MIN, SQUARE_MAX = 0.95, 1.05
ASPECTS = {"square": (SQUARE_MIN, SQUARE_MAX), "portrait": (None, SQUARE_MIN), "landscape": (SQUARE_MAX, None)}

# Quality checks without a model (`quality:blurry`, `-quality:dark`); thresholds: lorairo.services.quality_rules.
QUALITY_CHECKS = (
    "blurry",
    "dark",
    "bright",
    "low-info",
    "greyscale",
    "low-jpeg",
    "letterbox",
    "extreme-aspect",
    "needs-upscale",
)

FILTER_HELP = """\
Filter syntax (docs/filters.md): terms separated by commas or spaces, all must hold.
  long hair, cat|dog, -blurry        tags: words side by side are ONE tag; a|b any of; -x without
  tag:"long hair"  "long hair"       quoted / tag: (also for tags that look like keys: tag:failed)
  hair*  *hair                       * is a wildcard; case, _ and spaces do not matter (Green_Eyes)
  caption:"red dress"  name:IMG_     caption / file name contains (ASCII case-insensitive)
  score>=6  score<8.5  score:3-5     a score in range (any; score_name:aesthetic picks one)
  rating:general|sensitive           WD: general sensitive questionable explicit; open-nsfw: sfw nsfw
  -rating:explicit                   not rated explicit (a manual rating wins over the models')
  width>=512 height<=4096 res>=1024  pixel size; res = the shorter side (also res<1024, min_side<1024)
  quality:blurry  -quality:dark      checks: blurry dark bright low-info greyscale low-jpeg letterbox
                                     extreme-aspect needs-upscale (thresholds: [quality] in the settings)
  aspect>1.5  aspect:square          aspect ratio w/h, or aspect:square|portrait|landscape
  imported>=2024-05-01               import date (also imported<=..., imported:2024-05-01)
  untagged  uncaptioned  failed      also duplicates, near-duplicates, excluded; -untagged = tagged"""

KEYS = (
    *("tag", "caption", "name", "score_name", "rating", "quality"),
    *("aspect", "score", "width", "height", "res", "min_side", "imported"),
)
_TEXT_KEYS = ("caption", "name", "score_name")
_COMPARABLE = ("score", "width", "height", "res", "min_side", "aspect", "imported")

# flag word -> ImageFilter field (True = must be so; a leading "-" asks for False)
FLAGS = {
    "untagged": "untagged",
    "uncaptioned": "uncaptioned",
    "duplicates": "duplicates",
    "duplicate": "duplicates",
    "near-duplicates": "near_duplicates",
    "near-duplicate": "near_duplicates",
    "failed": "has_failures",
    "has:failures": "has_failures",
    "excluded": "excluded",
}
FLAG_FIELDS = ("untagged", "uncaptioned", "duplicates", "near_duplicates", "has_failures", "excluded")
_FLAG_WORD = {field_name: word for word, field_name in reversed(list(FLAGS.items()))}  # canonical word per field

_KEY_RE = re.compile(r"([A-Za-z][A-Za-z_]*):")
_COMPARE_RE = re.compile(r"([A-Za-z][A-Za-z_]*)(>=|<=|>|<|=)")
_QUOTES = "\"'"


class FilterSyntaxError(LoRAIroException):
    """A filter text that cannot be parsed. `column` is 1-based; the message names the term and the column."""

    def __init__(self, message: str, *, column: int | None = None, term: str = "") -> None:
        self.column = column
        self.term = term
        where = f"at column {column}" if column is not None else ""
        if term:
            where += f" ({term!r})" if where else f"{term!r}"
        super().__init__(f"filter error {where}: {message}" if where else f"filter error: {message}")


class IdListError(LoRAIroException):
    """An `--ids` value that is not a list of image IDs / ranges."""


def normalize_query_tag(tag: str) -> str:
    """A tag as written in filters and shown: `Long_Hair` -> `long hair`, `\\(` unescaped, kaomoji kept."""
    from genai_tag_db_tools.normalize import normalize_tag

    # split/join again: an underscore at either end becomes a space only after the library collapsed whitespace
    return " ".join(str(normalize_tag(tag, lowercase=True)).split())


def tag_match_key(tag: str) -> str:
    """The key a tag is matched by (the `tags.tag_key` column): `Green Eyes` / `green_eyes` -> `green_eyes`.

    The same key genai-tag-db-tools (autocomplete, the tag database) looks tags up by."""
    from genai_tag_db_tools.normalize import tag_key

    return str(tag_key(tag))


@dataclass(frozen=True)
class ImageFilter:
    """Which images to show. Empty/None fields do not restrict. Immutable: build a new one with `replace`.

    Tags are kept in their normalised display form (`long hair`); the SQL matches them by key. Flags are
    three-valued: None = either, True = only such images, False = only the others (`-untagged`)."""

    tags_all: tuple[str, ...] = ()  # every one must be present
    tags_any: tuple[tuple[str, ...], ...] = ()  # each group: at least one present
    tags_none: tuple[str, ...] = ()  # none may be present
    caption_text: str = ""
    name_text: str = ""
    score_min: float | None = None
    score_max: float | None = None
    score_min_exclusive: bool = False  # score>6 rather than score>=6
    score_max_exclusive: bool = False
    score_name: str = ""
    ratings: tuple[str, ...] = ()  # the effective rating is one of these
    ratings_none: tuple[str, ...] = ()  # ... and none of these
    min_width: int | None = None
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    min_side: int | None = None
    max_side: int | None = None  # the shorter side at most this (res<1024 = max_side 1023)
    aspect_min: float | None = None
    aspect_max: float | None = None
    aspect_min_exclusive: bool = False
    aspect_max_exclusive: bool = False
    imported_from: date | None = None
    imported_to: date | None = None  # inclusive
    untagged: bool | None = None
    uncaptioned: bool | None = None
    duplicates: bool | None = None
    near_duplicates: bool | None = None
    has_failures: bool | None = None
    excluded: bool | None = None
    # (check, flagged?) sorted by check: quality:blurry = ("blurry", True), -quality:dark = ("dark", False)
    quality: tuple[tuple[str, bool], ...] = ()

    def is_empty(self) -> bool:
        return self == ImageFilter()

    def with_changes(self, **changes: Any) -> ImageFilter:
        return replace(self, **changes)


def named_aspect(name: str) -> dict[str, Any]:
    """ImageFilter fields of `aspect:square|portrait|landscape`."""
    low, high = ASPECTS[name]
    return {
        "aspect_min": low,
        "aspect_max": high,
        "aspect_min_exclusive": name == "landscape",
        "aspect_max_exclusive": name == "portrait",
    }


def aspect_name(f: ImageFilter) -> str:
    """The name of the filter's aspect range when it is a named one, else ''."""
    current = {k: getattr(f, k) for k in ("aspect_min", "aspect_max", "aspect_min_exclusive", "aspect_max_exclusive")}
    return next((name for name in ASPECTS if named_aspect(name) == current), "")


# --- scanning -------------------------------------------------------------------------------------------------


@dataclass
class _Bound:
    value: Any
    exclusive: bool = False


class _Parser:
    """Recursive descent over the text with a cursor; builds the ImageFilter fields as it goes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tags_all: list[str] = []
        self.tags_any: list[tuple[str, ...]] = []
        self.tags_none: list[str] = []
        self.fields: dict[str, Any] = {}
        self.lows: dict[str, _Bound] = {}
        self.highs: dict[str, _Bound] = {}
        self.seen: dict[str, int] = {}  # single-valued key -> column first given

    # --- low level ---------------------------------------------------------------------------------------

    def error(self, message: str, start: int, end: int | None = None) -> FilterSyntaxError:
        term = self.text[start:end] if end is not None else self._word_at(start)
        return FilterSyntaxError(message, column=start + 1, term=term.strip())

    def _word_at(self, start: int) -> str:
        end = start
        while end < len(self.text) and not self.text[end].isspace() and self.text[end] != ",":
            end += 1
        return self.text[start:end] or self.text[start : start + 1]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def word_end(self, start: int) -> int:
        """End of the bare word at `start`: up to whitespace, a comma or a `|`."""
        end = start
        while end < len(self.text) and not self.text[end].isspace() and self.text[end] not in ",|":
            end += 1
        return end

    def quoted(self) -> str:
        """Read a quoted string at the cursor ("..." with \\" and \\\\ escapes, or '...'); literal text."""
        quote, start = self.text[self.pos], self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and quote == '"' and self.pos + 1 < len(self.text) and self.text[self.pos + 1] in '"\\':
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == quote:
                self.pos += 1
                if self.pos < len(self.text) and not (self.text[self.pos].isspace() or self.text[self.pos] in ",|"):
                    raise self.error("text right after a closing quote (add a space or a comma)", start, self.pos + 1)
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise self.error(f"the quote {quote} is never closed", start, len(self.text))

    def classify(self, start: int) -> str:
        """What the word at `start` is: 'flag', 'key', 'compare', 'neg', 'quote' or 'word'."""
        ch = self.text[start]
        if ch in _QUOTES:
            return "quote"
        word = self.text[start : self.word_end(start)]
        if word.lower() in FLAGS:
            return "flag"
        if ch == "-":  # a lone "-" too: term() reports that nothing follows it
            return "neg"
        if _KEY_RE.match(word):
            return "key"
        if _COMPARE_RE.match(word):
            return "compare"
        return "word"

    def phrase(self) -> tuple[str, int]:
        """Bare words separated by spaces, up to a comma, `|`, the end or a word that starts another term."""
        start = self.pos
        end = self.word_end(self.pos)
        words = [self.text[self.pos : end]]
        self.pos = end
        while True:
            save = self.pos
            self.skip_space()
            if self.at_end() or self.peek() in ",|" or self.classify(self.pos) != "word":
                self.pos = save
                return " ".join(words), start
            end = self.word_end(self.pos)
            words.append(self.text[self.pos : end])
            self.pos = end

    # --- grammar -----------------------------------------------------------------------------------------

    def parse(self) -> ImageFilter:
        while True:
            self.skip_space()
            if self.at_end():
                break
            if self.peek() == ",":  # item separator; empty items (a trailing comma while typing) are harmless
                self.pos += 1
                continue
            if self.peek() == "|":
                raise self.error("'|' needs a tag on both sides (cat|dog)", self.pos, self.pos + 1)
            self.term()
        return self.build()

    def term(self) -> None:
        start = self.pos
        kind = self.classify(start)
        negated = kind == "neg"
        if negated:
            self.pos += 1
            if self.at_end() or self.peek().isspace() or self.peek() in ",|":
                raise self.error("nothing after '-' (write -tag, -untagged, -rating:explicit)", start, start + 1)
            if self.peek() == "-":
                raise self.error("a term can be negated only once", start)
            kind = self.classify(self.pos)
        if kind == "flag":
            end = self.word_end(self.pos)
            self.flag(self.text[self.pos : end].lower(), negated, start)
            self.pos = end
        elif kind == "key":
            self.key_term(negated, start)
        elif kind == "compare":
            if negated:
                raise self.error("a comparison cannot be negated (write score<6 instead of -score>=6)", start)
            self.comparison(start)
        else:
            self.tag_term(negated, start)

    def alternatives(self, start: int) -> list[str]:
        """`alt ('|' alt)*` where alt is a quoted tag or a phrase; returns normalised tags."""
        tags: list[str] = []
        bar = start  # where the last '|' was: an empty alternative is reported there
        while True:
            self.skip_space()
            alt_start = self.pos
            if self.at_end() or self.peek() in ",|":
                raise self.error("empty tag after '|' (cat|dog)", bar, bar + 1)
            if self.peek() in _QUOTES:
                raw = self.quoted()
            else:
                kind = self.classify(self.pos)
                if tags and kind in ("flag", "key", "compare", "neg"):
                    raise self.error("only tags can be combined with '|' (cat|dog)", self.pos)
                raw, _ = self.phrase()
            tag = normalize_query_tag(raw)
            if not tag:
                raise self.error("empty tag", alt_start, self.pos)
            if tag not in tags:
                tags.append(tag)
            save = self.pos
            self.skip_space()
            if self.peek() != "|":
                self.pos = save
                return tags
            bar = self.pos
            self.pos += 1

    def tag_term(self, negated: bool, start: int) -> None:
        group = self.alternatives(start)
        if negated:
            self.tags_none.extend(t for t in group if t not in self.tags_none)
        elif len(group) == 1:
            if group[0] not in self.tags_all:
                self.tags_all.append(group[0])
        elif tuple(group) not in self.tags_any:
            self.tags_any.append(tuple(group))

    def flag(self, word: str, negated: bool, start: int) -> None:
        name = FLAGS[word]
        value = not negated
        if self.fields.get(name, value) != value:
            raise self.error(f"'{_FLAG_WORD[name]}' and '-{_FLAG_WORD[name]}' contradict each other", start)
        self.fields[name] = value

    def once(self, key: str, start: int) -> None:
        if key in self.seen:
            hint = " (use rating:a|b for either)" if key == "rating" else ""
            raise self.error(f"'{key}:' is given twice (first at column {self.seen[key]}){hint}", start)
        self.seen[key] = start + 1

    def key_term(self, negated: bool, start: int) -> None:
        match = _KEY_RE.match(self.text, self.pos)
        assert match is not None
        key = match.group(1).lower()
        if key not in KEYS:
            raise self.error(
                f"unknown key '{match.group(1)}' (keys: {', '.join(KEYS)}); "
                f"to find a tag that contains ':', quote it: \"{self._word_at(self.pos)}\"",
                start,
            )
        self.pos = match.end()
        if self.at_end() or self.peek().isspace() or self.peek() in ",|":
            raise self.error(f"'{key}:' needs a value", start)
        if key == "tag":
            self.tag_term(negated, start)
            return
        if key == "rating":
            self.rating(negated, start)
            return
        if key == "quality":
            self.quality(negated, start)
            return
        if negated:
            raise self.error(f"'{key}:' cannot be negated", start)
        if key in _TEXT_KEYS:
            self.once(key, start)
            value = self.quoted() if self.peek() in _QUOTES else self.phrase()[0]
            if not value.strip():
                raise self.error(f"'{key}:' needs a value", start, self.pos)
            field_name = {"caption": "caption_text", "name": "name_text", "score_name": "score_name"}[key]
            self.fields[field_name] = value
            return
        # key:value of a comparable key (score:3-5, width:512, aspect:square, imported:2024-05-01)
        key = "res" if key == "min_side" else key
        end = self.word_end(self.pos)
        self.compare_value(key, "=", self.text[self.pos : end], start, end)
        self.pos = end

    def quality(self, negated: bool, start: int) -> None:
        end = self.word_end(self.pos)
        name = self.text[self.pos : end].lower()
        if name not in QUALITY_CHECKS:
            raise self.error(
                f"unknown quality check '{self.text[self.pos : end]}' (checks: {', '.join(QUALITY_CHECKS)})",
                self.pos,
                end,
            )
        self.pos = end
        checks: dict[str, bool] = dict(self.fields.get("quality", ()))
        if checks.get(name, not negated) != (not negated):
            raise self.error(f"'quality:{name}' and '-quality:{name}' contradict each other", start, end)
        checks[name] = not negated
        self.fields["quality"] = tuple(sorted(checks.items()))

    def rating(self, negated: bool, start: int) -> None:
        self.once("-rating" if negated else "rating", start)
        names: list[str] = []
        while True:
            end = self.word_end(self.pos)
            name = self.text[self.pos : end].lower()
            if not name:
                raise self.error("'|' needs a rating after it (rating:general|sensitive)", self.pos - 1, self.pos)
            if name not in RATINGS:
                raise self.error(
                    f"unknown rating '{self.text[self.pos : end]}'; WD taggers give {', '.join(WD_RATINGS)}, "
                    f"open-nsfw gives {', '.join(NSFW_RATINGS)}",
                    self.pos,
                    end,
                )
            names.append(name)
            self.pos = end
            nxt = self.peek()
            following = self.text[self.pos + 1 : self.word_end(self.pos + 1)].lower() if nxt else ""
            # `rating:general|sensitive` and the older `rating:general,sensitive` both list ratings; a comma
            # followed by anything but a rating name ends the term (`rating:general, cat`).
            if nxt == "|" or (nxt == "," and following in RATINGS):
                self.pos += 1
                continue
            break
        target = "ratings_none" if negated else "ratings"
        self.fields[target] = tuple(dict.fromkeys(names))

    def comparison(self, start: int) -> None:
        match = _COMPARE_RE.match(self.text, self.pos)
        assert match is not None
        key, op = match.group(1).lower(), match.group(2)
        end = self.word_end(self.pos)
        key = "res" if key == "min_side" else key  # the shorter side, by either name
        if key not in _COMPARABLE:
            known = "unknown key" if key not in KEYS else "cannot be compared"
            raise self.error(
                f"{known} '{match.group(1)}' (comparisons: {', '.join(_COMPARABLE)}); "
                f'to find a tag like this, quote it: "{self.text[start:end]}"',
                start,
            )
        self.compare_value(key, op, self.text[match.end() : end], start, end)
        self.pos = end

    def compare_value(self, key: str, op: str, raw: str, start: int, end: int) -> None:
        if not raw:
            raise self.error(f"'{key}{op}' needs a value", start, end)
        if key == "score" and op == "=" and re.fullmatch(r"-?[\d.]+--?[\d.]+", raw):
            split = raw.index("-", 1)
            low, high = raw[:split], raw[split + 1 :]
            self.bound(key, ">=", self.number(low, float, start, end))
            self.bound(key, "<=", self.number(high, float, start, end))
            return
        if key == "aspect" and raw.lower() in ASPECTS:
            if op != "=":
                raise self.error(f"write aspect:{raw.lower()} (not aspect{op}{raw})", start, end)
            named = named_aspect(raw.lower())
            if named["aspect_min"] is not None:
                self.bound("aspect", ">" if named["aspect_min_exclusive"] else ">=", named["aspect_min"])
            if named["aspect_max"] is not None:
                self.bound("aspect", "<" if named["aspect_max_exclusive"] else "<=", named["aspect_max"])
            return
        if key == "imported":
            try:
                value: Any = date.fromisoformat(raw)
            except ValueError:
                raise self.error(f"{raw!r} is not a date (YYYY-MM-DD)", start, end) from None
        elif key in ("score", "aspect"):
            value = self.number(raw, float, start, end)
        else:
            value = self.number(raw, int, start, end)
        if key == "res" and op == "=":
            op = ">="  # res:1024 = at least 1024 on the shorter side (as the GUI's "Min side")
        self.bound(key, op, value)

    def number(self, raw: str, kind: type[int] | type[float], start: int, end: int) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise self.error(f"{raw!r} is not {what}", start, end) from None
        if kind is float and value != value:  # NaN compares false with everything
            raise self.error(f"{raw!r} is not a number", start, end)
        return value

    def bound(self, key: str, op: str, value: Any) -> None:
        """Intersect the key's range with `op value` (AND of comparisons: score>=6 score>=7 = score>=7)."""
        exclusive = op in (">", "<")
        if key in ("width", "height", "res", "imported") and exclusive:
            # whole numbers and days: > n is >= n + 1
            step: Any = timedelta(days=1) if key == "imported" else 1
            value, exclusive = (value + step, False) if op == ">" else (value - step, False)
        if op in (">=", ">", "="):
            self._tighten(self.lows, key, _Bound(value, exclusive), lower=True)
        if op in ("<=", "<", "="):
            self._tighten(self.highs, key, _Bound(value, exclusive), lower=False)

    @staticmethod
    def _tighten(bounds: dict[str, _Bound], key: str, new: _Bound, *, lower: bool) -> None:
        old = bounds.get(key)
        tighter = old is None or (new.value > old.value if lower else new.value < old.value)
        if tighter or (old is not None and new.value == old.value and new.exclusive):
            bounds[key] = new

    def build(self) -> ImageFilter:
        f = dict(self.fields)
        columns = {
            "score": ("score_min", "score_max"),
            "width": ("min_width", "max_width"),
            "height": ("min_height", "max_height"),
            "res": ("min_side", "max_side"),
            "aspect": ("aspect_min", "aspect_max"),
            "imported": ("imported_from", "imported_to"),
        }
        for key, (low_field, high_field) in columns.items():
            if key in self.lows:
                f[low_field] = self.lows[key].value
                if key in ("score", "aspect"):
                    f[f"{key}_min_exclusive"] = self.lows[key].exclusive
            if key in self.highs and high_field is not None:
                f[high_field] = self.highs[key].value
                if key in ("score", "aspect"):
                    f[f"{key}_max_exclusive"] = self.highs[key].exclusive
        for key in ("score", "aspect"):
            for side in ("min", "max"):
                if f.get(f"{key}_{side}") is not None and isinstance(f[f"{key}_{side}"], int):
                    f[f"{key}_{side}"] = float(f[f"{key}_{side}"])
        return ImageFilter(
            tags_all=tuple(self.tags_all), tags_any=tuple(self.tags_any), tags_none=tuple(self.tags_none), **f
        )


def parse_filter(text: str) -> ImageFilter:
    """Parse the filter language (docs/filters.md). Raises FilterSyntaxError naming the column and term."""
    return _Parser(text).parse()


# --- formatting --------------------------------------------------------------------------------------------


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
    return ", ".join(dict.fromkeys(parts))


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


# --- combining ---------------------------------------------------------------------------------------------


_MERGE_LABELS = {
    "caption_text": "caption:",
    "name_text": "name:",
    "score_name": "score_name:",
    "ratings": "rating:",
    "ratings_none": "-rating:",
    "has_failures": "failed",
    "near_duplicates": "near-duplicates",
}


def merge_filters(a: ImageFilter, b: ImageFilter) -> ImageFilter:
    """Both filters at once (AND): the filter field's text combined with the filter bar's other widgets.

    Raises FilterSyntaxError where the flat model cannot say "both" (two different captions, two rating
    sets, `untagged` and `-untagged`)."""
    out: dict[str, Any] = {
        "tags_all": tuple(dict.fromkeys(a.tags_all + b.tags_all)),
        "tags_any": tuple(dict.fromkeys(a.tags_any + b.tags_any)),
        "tags_none": tuple(dict.fromkeys(a.tags_none + b.tags_none)),
    }
    checks = dict(a.quality)
    for check, flagged in b.quality:
        if checks.get(check, flagged) != flagged:
            raise FilterSyntaxError(f"quality:{check} and -quality:{check} are both given (text and filter bar)")
        checks[check] = flagged
    out["quality"] = tuple(sorted(checks.items()))
    for name in ("caption_text", "name_text", "score_name", "ratings", "ratings_none", *FLAG_FIELDS):
        va, vb = getattr(a, name), getattr(b, name)
        empty = None if name in FLAG_FIELDS else type(va)()
        if va != empty and vb != empty and va != vb:
            label = _MERGE_LABELS.get(name, name)
            raise FilterSyntaxError(f"{label} is given twice, in the text and by the filter bar")
        out[name] = va if va != empty else vb
    for low, high, excl in (
        ("score_min", "score_max", "score"),
        ("aspect_min", "aspect_max", "aspect"),
        ("min_width", "max_width", None),
        ("min_height", "max_height", None),
        ("min_side", "max_side", None),
        ("imported_from", "imported_to", None),
    ):
        for side, pick, flag in ((low, max, f"{excl}_min_exclusive"), (high, min, f"{excl}_max_exclusive")):
            if side is None:
                continue
            values = [(getattr(x, side), getattr(x, flag) if excl else False) for x in (a, b)]
            values = [v for v in values if v[0] is not None]
            if not values:
                continue
            best = pick(v[0] for v in values)
            out[side] = best
            if excl:
                out[flag] = any(e for v, e in values if v == best)
    return ImageFilter(**out)


# --- image ID lists ----------------------------------------------------------------------------------------

_RANGE_RE = re.compile(r"(\d+)-(\d+)")


class IdList(NamedTuple):
    """Parsed `--ids`: every ID in the order given, and which were named one by one (not by a range)."""

    ids: tuple[int, ...]
    named: frozenset[int]


def parse_ids(values: str | Iterable[str], option: str = "--ids") -> IdList:
    """Image IDs from `1,2,5-9` (commas, spaces or newlines; ranges inclusive; repeated options add up), in
    the order given, without repeats. Raises IdListError naming the part that is not an ID or a range."""
    items = [values] if isinstance(values, str) else list(values)
    out: dict[int, None] = {}
    named: set[int] = set()
    for value in items:
        for part in re.split(r"[,\s]+", value):
            if not part:
                continue
            if part.isdigit():
                out[int(part)] = None
                named.add(int(part))
                continue
            match = _RANGE_RE.fullmatch(part)
            if match is None:
                raise IdListError(f"{option}: {part!r} is not an image ID or a range (e.g. {option} 1,2,5-9)")
            low, high = int(match.group(1)), int(match.group(2))
            if low > high:
                raise IdListError(f"{option}: the range {part!r} runs backwards (write {high}-{low})")
            out.update(dict.fromkeys(range(low, high + 1)))
    if not out:
        raise IdListError(f"{option}: no image IDs given (e.g. {option} 1,2,5-9)")
    return IdList(tuple(out), frozenset(named))


__all__ = [
    "ASPECTS",
    "FILTER_HELP",
    "FLAGS",
    "FLAG_FIELDS",
    "NSFW_RATINGS",
    "QUALITY_CHECKS",
    "RATINGS",
    "WD_RATINGS",
    "FilterSyntaxError",
    "IdList",
    "IdListError",
    "ImageFilter",
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
