"""Autocomplete suggestions for a typed tag: the project's own tags first (with their counts in the project),
then the vocabulary's (with their global counts). An alias or a translation shows the canonical tag it stands
for and inserts that tag. Matching is by substring, prefix matches first.

Qt-free and pure: the GUI looks both lists up on a worker and merges them here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from lorairo.services.tag_stats_service import ProjectTag


class VocabularyHit(Protocol):
    """What genai_tag_db_tools' `SearchResult` offers (display name, usage count, how the query matched)."""

    name: str
    count: int
    match: str
    matched: str


@dataclass(frozen=True)
class Suggestion:
    """One line of the popup: `label` is shown, `insert` goes into the field."""

    insert: str
    label: str
    source: str  # "project" or "vocabulary"
    count: int


def short_count(count: int) -> str:
    """1234 -> '1.2k', 2500000 -> '2.5M' (global counts are large; the popup has little room)."""
    for limit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= limit:
            value = count / limit
            return f"{value:.1f}{suffix}" if value < 10 else f"{value:.0f}{suffix}"
    return str(count)


def merge_suggestions(
    project: Sequence[ProjectTag], vocabulary: Iterable[VocabularyHit], limit: int = 25
) -> list[Suggestion]:
    """Project tags first (most used first, as given), then vocabulary tags the project does not use yet."""
    out: list[Suggestion] = []
    seen: set[str] = set()
    for tag in project:
        if tag.tag.lower() not in seen:
            seen.add(tag.tag.lower())
            out.append(Suggestion(tag.tag, f"{tag.tag}  ·  {tag.count:,} in project", "project", tag.count))
    for hit in vocabulary:
        key = hit.name.lower()
        if key in seen:
            continue
        seen.add(key)
        count = f"  ·  {short_count(hit.count)}" if hit.count else ""
        if hit.match in ("alias", "translation") and hit.matched and hit.matched.lower() != key:
            label = f"{hit.matched} → {hit.name}{count}"
        else:
            label = f"{hit.name}{count}"
        out.append(Suggestion(hit.name, label, "vocabulary", hit.count))
    return out[:limit]
