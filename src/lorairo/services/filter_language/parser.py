"""The parser of the filter language: a recursive-descent scanner over the text (see the package docstring for why it
is hand-written) that builds an `ImageFilter`; every error names its column and term."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from lorairo.services.filter_language.model import (
    _COMPARABLE,
    _COMPARE_RE,
    _FLAG_WORD,
    _KEY_RE,
    _QUOTES,
    _TEXT_KEYS,
    ASPECTS,
    FLAGS,
    KEYS,
    NSFW_RATINGS,
    QUALITY_CHECKS,
    RATINGS,
    WD_RATINGS,
    FilterSyntaxError,
    ImageFilter,
    SimilarTo,
    named_aspect,
    normalize_query_tag,
)


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
        self.similar: dict[str, Any] = {}  # SimilarTo fields given so far
        self.similar_starts: dict[str, int] = {}  # which term gave them (0-based), for errors

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
            label = key if key.endswith("=") else f"{key}:"
            raise self.error(f"'{label}' is given twice (first at column {self.seen[key]}){hint}", start)
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
        if key in ("similar", "similar_model", "top"):
            self.similar_term(key, negated, start)
            return
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
        if key == "similar":
            self.similar_minimum(op, self.text[match.end() : end], start, end)
        else:
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

    # --- similar: (ranked by embeddings) ------------------------------------------------------------------

    def similar_term(self, key: str, negated: bool, start: int) -> None:
        """`similar:"text"` / `similar:#123`, and its options `similar_model:NAME` and `top:N`."""
        if negated:
            raise self.error(
                f"'{key}:' cannot be negated: similar: ranks images by likeness (narrow them with other terms, "
                "keep fewer with top:N or similar>=0.3)",
                start,
            )
        self.once(key, start)
        self.similar_starts[key] = start
        if key == "top":
            end = self.word_end(self.pos)
            value = self.number(self.text[self.pos : end], int, start, end)
            if value < 1:
                raise self.error("top: keeps at least 1 image (top:50)", start, end)
            self.similar["top"] = value
            self.pos = end
            return
        if key == "similar" and self.peek() == "#":
            end = self.word_end(self.pos)
            raw = self.text[self.pos + 1 : end]
            if not re.fullmatch(r"[0-9]+", raw):
                raise self.error(f"'#{raw}' is not an image ID (similar:#123)", start, end)
            self.similar["image_id"] = int(raw)
            self.pos = end
            return
        value = " ".join((self.quoted() if self.peek() in _QUOTES else self.phrase()[0]).split())
        if key == "similar_model":
            if not value:
                raise self.error("'similar_model:' needs a model name (similar_model:clip-vit-b32-embed)", start)
            self.similar["model"] = value
        elif not value:
            raise self.error(
                'the text to search for is empty: write similar:"red dress on a beach" (or similar:#123 for '
                "the images most like image 123)",
                start,
                self.pos,
            )
        else:
            self.similar["text"] = value

    def similar_minimum(self, op: str, raw: str, start: int, end: int) -> None:
        """`similar>=0.3`: keep the images at least this similar (cosine)."""
        if op != ">=":
            raise self.error(f"write similar>=x (a minimum cosine similarity, -1 to 1), not similar{op}", start, end)
        self.once("similar>=", start)
        value = self.number(raw, float, start, end)
        if not -1.0 <= value <= 1.0:
            raise self.error(f"similar>= takes a cosine similarity from -1 to 1, not {raw}", start, end)
        self.similar["min_similarity"] = float(value)
        self.similar_starts["similar>="] = start

    def similar_value(self) -> SimilarTo | None:
        if not self.similar:
            return None
        if "text" not in self.similar and "image_id" not in self.similar:
            option = min(self.similar_starts, key=self.similar_starts.__getitem__)
            label = option if option.endswith("=") else f"{option}:"
            raise self.error(
                f"'{label}' belongs to a similar: term, and there is none "
                '(similar:"red dress" top:20, or similar:#123 similar>=0.8)',
                self.similar_starts[option],
            )
        return SimilarTo(**self.similar)

    def build(self) -> ImageFilter:
        f = dict(self.fields)
        f["similar"] = self.similar_value()
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
