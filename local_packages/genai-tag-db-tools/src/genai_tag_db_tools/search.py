"""In-memory autocomplete index.

Design (chosen by measurement, see docs/benchmarks.md): tag names are sorted by usage count, highest first,
and joined into one newline-separated string. A prefix query is ``blob.find("\\n" + query)`` and a substring
query is ``blob.find(query)``; because the lines are in count order, the first ``limit`` hits *are* the
``limit`` most used matches, so the scan stops early for common queries and a miss costs one C-speed pass over
~2.5 MB. Aliases and translations get their own blobs, ordered by the count of the tag they point to.
Mapping a hit offset to its line is a ``bisect`` over the line start offsets.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from .normalize import normalize_whitespace, tag_key, to_spaces

#: Match kinds, best first; ties in count are broken in this order.
MATCH_KINDS = ("exact", "prefix", "alias", "substring", "translation")
_KIND_RANK = {kind: i for i, kind in enumerate(MATCH_KINDS)}


@dataclass(frozen=True)
class SearchResult:
    """One autocomplete suggestion.

    Attributes:
        name: Display form with spaces (``long hair``; kaomoji keep underscores).
        tag: Stored form (``long_hair``).
        category: Category name for the searched format.
        count: Usage count in the searched format.
        aliases: Other spellings that resolve to this tag (display form).
        match: How the query matched: exact, prefix, alias, substring or translation.
        matched: The alias or translation text that matched (equals ``name`` for name matches).
    """

    name: str
    tag: str
    category: str
    count: int
    aliases: tuple[str, ...] = field(default_factory=tuple)
    match: str = "prefix"
    matched: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return plain JSON-serialisable data."""
        return {
            "name": self.name,
            "tag": self.tag,
            "category": self.category,
            "count": self.count,
            "aliases": list(self.aliases),
            "match": self.match,
            "matched": self.matched,
        }


class _Blob:
    """UTF-8 lines joined by newlines plus the byte offset where each line starts.

    Bytes rather than str: one non-Latin-1 tag would make a str blob 2-4 bytes per character and every
    ``find`` correspondingly slower; ``bytes.find`` stays a single fast pass.
    """

    def __init__(self, lines: Sequence[str]) -> None:
        encoded = [line.encode("utf-8") for line in lines]
        self.text = b"\n" + b"\n".join(encoded) + b"\n"
        self.starts: list[int] = list(accumulate(map(len, encoded), lambda acc, n: acc + n + 1, initial=1))
        self.starts.pop()

    def scan(
        self, needle: str, *, prefix: bool, want: int, target: Sequence[int], lines: int | None = None
    ) -> list[tuple[int, int]]:
        """Return up to ``want`` (line, target) hits with distinct targets, in line order.

        ``lines`` limits the scan to the first that many lines.
        """
        if not needle or "\n" in needle:
            return []
        pattern = (("\n" + needle) if prefix else needle).encode("utf-8")
        text, starts = self.text, self.starts
        end = len(text) if lines is None or lines >= len(starts) else starts[lines]
        seen: set[int] = set()
        hits: list[tuple[int, int]] = []
        pos = text.find(pattern, 0, end)
        while pos != -1 and len(hits) < want:
            line = bisect_right(starts, pos + 1 if prefix else pos) - 1
            tgt = target[line]
            if tgt not in seen:
                seen.add(tgt)
                hits.append((line, tgt))
            if line + 1 >= len(starts):
                break
            pos = text.find(pattern, starts[line + 1] - (1 if prefix else 0), end)
        return hits


class _SortedKeys:
    """Alphabetically sorted keys with their targets: a prefix becomes a bisect range.

    Used for prefix queries whose range is small, where it avoids a full pass over the blob; wide ranges
    (one- or two-letter prefixes) go to the blob scan, which stops after ``want`` hits.
    """

    #: Ranges larger than this are left to the count-ordered blob scan.
    MAX_RANGE = 4000

    def __init__(self, keys: Sequence[str], targets: Sequence[int], *, presorted: bool = False) -> None:
        if presorted:
            self.keys, self.targets = list(keys), list(targets)
        else:
            pairs = sorted(zip(keys, targets, strict=True))
            self.keys = [k for k, _ in pairs]
            self.targets = [t for _, t in pairs]

    def prefix(self, key: str, want: int) -> list[tuple[str, int]] | None:
        """Return up to ``want`` (key, target) with distinct targets, lowest target first; None if too many."""
        lo = bisect_left(self.keys, key)
        hi = bisect_left(self.keys, key + "\U0010ffff", lo)
        if hi - lo > self.MAX_RANGE:
            return None
        out: list[tuple[str, int]] = []
        seen: set[int] = set()
        for tgt, k in sorted(zip(self.targets[lo:hi], self.keys[lo:hi], strict=True)):
            if tgt not in seen:
                seen.add(tgt)
                out.append((k, tgt))
                if len(out) >= want:
                    break
        return out


class SearchIndex:
    """Immutable autocomplete index over one vocabulary format. Thread-safe for concurrent searches."""

    def __init__(
        self,
        entries: Iterable[tuple[str, str, int]],
        aliases: Iterable[tuple[str, str]] = (),
        translations: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Build the index.

        Args:
            entries: (tag key, category, count); duplicates keep the highest count.
            aliases: (alias key, tag key); aliases of unknown tags are ignored.
            translations: (translation text, tag key); translations of unknown tags are ignored.
        """
        best: dict[str, tuple[str, int]] = {}
        for name, category, count in entries:
            old = best.get(name)
            if old is None or count > old[1]:
                best[name] = (category, count)
        # Two C-level sorts instead of one with a tuple key: alphabetical (reused for prefix bisects), then a
        # stable sort by count, highest first, so equal counts stay alphabetical.
        alphabetical = sorted(best)
        count_of = {name: value[1] for name, value in best.items()}
        self.names = sorted(alphabetical, key=count_of.__getitem__, reverse=True)
        self.categories = [best[name][0] for name in self.names]
        self.counts = [count_of[name] for name in self.names]
        self._neg_counts = [-c for c in self.counts]  # ascending, for bisect
        self.position = {name: i for i, name in enumerate(self.names)}
        self._names = _Blob(self.names)
        self._identity = range(len(self.names))
        position = self.position
        self._sorted_names = _SortedKeys(alphabetical, [position[n] for n in alphabetical], presorted=True)

        alias_rows = sorted(
            {(self.position[t], a) for a, t in aliases if t in self.position and a not in self.position}
        )
        self.aliases_of: dict[int, list[str]] = {}
        for idx, alias in alias_rows:
            self.aliases_of.setdefault(idx, []).append(alias)
        self._alias_text = [a for _, a in alias_rows]
        self._alias_target = [i for i, _ in alias_rows]
        self._aliases = _Blob(self._alias_text)
        self._sorted_aliases = _SortedKeys(self._alias_text, self._alias_target)

        tr_rows = sorted(
            {
                (self.position[t], normalize_whitespace(text).lower(), text)
                for text, t in translations
                if t in self.position and normalize_whitespace(text)
            }
        )
        self._tr_text = [orig for _, _, orig in tr_rows]
        self._tr_target = [i for i, _, _ in tr_rows]
        self._translations = _Blob([low for _, low, _ in tr_rows])

    def __len__(self) -> int:
        return len(self.names)

    def search(self, query: str, *, limit: int = 20, prefix_first: bool = False) -> list[SearchResult]:
        """Return up to ``limit`` suggestions for ``query``.

        Spaces and underscores in the query are equivalent (``long ha`` == ``long_ha``). Candidates are the
        exact tag, tags starting with the query, tags with an alias starting with it, tags containing it and
        tags with a translation containing it. The exact tag comes first, then the rest by usage count; at
        equal count prefix beats alias beats substring beats translation. ``prefix_first=True`` instead lists
        all prefix matches before any other kind.
        """
        if limit <= 0:
            return []
        key = tag_key(query)
        if not key:
            return []
        found: dict[int, tuple[int, str]] = {}

        def offer(idx: int, kind: str, matched: str) -> None:
            rank = _KIND_RANK[kind]
            if idx not in found or rank < found[idx][0]:
                found[idx] = (rank, matched)

        exact = self.position.get(key)
        if exact is not None:
            offer(exact, "exact", self.names[exact])
        name_hits = self._sorted_names.prefix(key, limit)
        if name_hits is None:
            name_hits = [
                (self.names[i], i) for _, i in self._names.scan(key, prefix=True, want=limit, target=self._identity)
            ]
        for _, idx in name_hits:
            offer(idx, "prefix", self.names[idx])
        alias_hits = self._sorted_aliases.prefix(key, limit)
        if alias_hits is None:
            alias_hits = [
                (self._alias_text[line], i)
                for line, i in self._aliases.scan(key, prefix=True, want=limit, target=self._alias_target)
            ]
        for alias, idx in alias_hits:
            offer(idx, "alias", alias)
        # Names are in count order, so once ``limit`` candidates are known, a substring hit can only make the
        # list from a line whose count is at least the limit-th best count: scan only those lines. This
        # turns most full passes over the blob into short ones.
        lines = None
        if len(found) >= limit:
            threshold = sorted((self.counts[i] for i in found), reverse=True)[limit - 1]
            lines = bisect_right(self._neg_counts, -threshold)
        if not (prefix_first and len(found) >= limit):
            for _, idx in self._names.scan(key, prefix=False, want=limit, target=self._identity, lines=lines):
                offer(idx, "substring", self.names[idx])
            text_query = normalize_whitespace(query).lower()
            for line, idx in self._translations.scan(text_query, prefix=False, want=limit, target=self._tr_target):
                offer(idx, "translation", self._tr_text[line])

        def order(idx: int) -> tuple[int, int, int, int]:
            rank = found[idx][0]
            first = 0 if rank == 0 else (rank if prefix_first else 1)
            return (first, -self.counts[idx], rank, idx)

        results = []
        for idx in sorted(found, key=order)[:limit]:
            rank, matched = found[idx]
            kind = MATCH_KINDS[rank]
            results.append(
                SearchResult(
                    name=to_spaces(self.names[idx]),
                    tag=self.names[idx],
                    category=self.categories[idx],
                    count=self.counts[idx],
                    aliases=tuple(to_spaces(a) for a in self.aliases_of.get(idx, ())),
                    match=kind,
                    matched=to_spaces(matched) if kind != "translation" else matched,
                )
            )
        return results
