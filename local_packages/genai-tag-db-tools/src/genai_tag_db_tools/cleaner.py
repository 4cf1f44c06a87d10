"""Tag cleaning: normalise, resolve aliases, drop unwanted tags, dedupe and order.

Works without a database (pure rules only) or with a :class:`TagDatabase` for aliases, categories,
deprecated flags and the user's blacklist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import categories as cats
from .caption import parse_caption
from .normalize import normalize_tag, tag_key, to_spaces, to_underscores
from .ordering import DEFAULT_CATEGORY_ORDER, order_tags

if TYPE_CHECKING:
    from .database import TagDatabase, TagInfo

TagInput = str | Iterable[str]


@dataclass
class CleanResult:
    """Cleaned tags plus what happened to the others.

    Attributes:
        tags: The cleaned, ordered tags.
        renamed: Input tag -> canonical tag, for aliases that were resolved.
        removed: Input tag -> reason (``duplicate``, ``deprecated``, ``blacklisted``, ``empty``).
        categories: Output tag -> category (``unknown`` when not known).
    """

    tags: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return plain JSON-serialisable data."""
        return {"tags": self.tags, "renamed": self.renamed, "removed": self.removed, "categories": self.categories}


class TagCleaner:
    """Configurable tag cleaning pipeline.

    Steps, in order: parse (when given a caption string) -> normalise (unescape ``\\(`` ``\\)``, collapse
    whitespace, optional lowercase) -> resolve aliases -> drop deprecated and blacklisted -> dedupe (keeping
    the highest confidence; duplicates never become weights) -> order by category -> write with spaces or
    underscores (the 19 kaomoji always keep their underscores).

    Thread-safety: an instance caches database lookups in a plain dict; use one instance per thread or
    guard it.
    """

    def __init__(
        self,
        db: TagDatabase | None = None,
        *,
        format_name: str = "danbooru",
        lowercase: bool = False,
        spaces: bool = True,
        resolve_aliases: bool = True,
        drop_deprecated: bool = True,
        blacklist: Iterable[str] = (),
        aliases: Mapping[str, str] | None = None,
        order: Sequence[str] | None = DEFAULT_CATEGORY_ORDER,
    ) -> None:
        """Configure the cleaner.

        Args:
            db: Tag database for aliases, categories, deprecated flags and the user blacklist (optional).
            format_name: Vocabulary format used for aliases and categories.
            lowercase: Lowercase tags that the database does not know (known tags are canonical already).
            spaces: Output ``long hair`` (True) or ``long_hair`` (False).
            resolve_aliases: Replace aliases (``1girls``) with the canonical tag (``1girl``).
            drop_deprecated: Drop tags the database marks deprecated.
            blacklist: Extra tags to drop, in addition to the user's blacklist in the database.
            aliases: Extra alias -> canonical mapping (works without a database; wins over database aliases).
            order: Category order (see :data:`DEFAULT_CATEGORY_ORDER`); None keeps the input order.
        """
        self.db = db
        self.format_name = format_name
        self.lowercase = lowercase
        self.spaces = spaces
        self.resolve_aliases = resolve_aliases
        self.drop_deprecated = drop_deprecated
        self.blacklist = {tag_key(t) for t in blacklist} - {""}
        self.aliases = {tag_key(a): tag_key(c) for a, c in (aliases or {}).items()}
        self.order = order
        self._cache: dict[str, TagInfo | None] = {}
        self._cache_stamp: tuple[int, int] = (-1, -1)

    # ------------------------------------------------------------------ lookups
    def _lookup(self, keys: Iterable[str]) -> dict[str, TagInfo | None]:
        """Return key -> TagInfo (None when unknown), cached until the database changes."""
        if self.db is None:
            return {}
        stamp = self.db.data_stamp()
        if stamp != self._cache_stamp:
            self._cache.clear()
            self._cache_stamp = stamp
        missing = [k for k in set(keys) if k not in self._cache]
        if missing:
            infos = self.db.get_tag_info(missing, format_name=self.format_name, resolve_aliases=self.resolve_aliases)
            for key in missing:
                self._cache[key] = infos.get(key)
        return self._cache

    # ------------------------------------------------------------------ cleaning
    def clean_detailed(self, tags: TagInput, confidences: Mapping[str, float] | None = None) -> CleanResult:
        """Clean one tag list or caption string and report renamed and removed tags."""
        raw = parse_caption(tags) if isinstance(tags, str) else [str(t) for t in tags]
        result = CleanResult()
        normalised: list[tuple[str, str]] = []  # (input, normalised)
        for item in raw:
            # Tags from lists may still carry escapes or stray separators' whitespace.
            norm = normalize_tag(item, lowercase=self.lowercase, spaces=False)
            if not norm:
                result.removed[item] = "empty"
                continue
            normalised.append((item, norm))
        keys = [self.aliases.get(tag_key(n), tag_key(n)) for _, n in normalised]
        infos = self._lookup(keys)
        conf_in = confidences or {}
        best_conf: dict[str, float] = {}
        out_tags: list[str] = []
        categories: dict[str, str] = {}
        for (item, norm), key in zip(normalised, keys, strict=True):
            info = infos.get(key)
            if info is not None:
                canonical = info.name
                category = info.category
            else:
                canonical = key if tag_key(norm) != key else norm
                category = cats.UNKNOWN
            if canonical in self.blacklist or key in self.blacklist or (info is not None and info.blacklisted):
                result.removed[item] = "blacklisted"
                continue
            if self.drop_deprecated and info is not None and info.deprecated:
                result.removed[item] = "deprecated"
                continue
            out = to_spaces(canonical) if self.spaces else to_underscores(canonical)
            if tag_key(out) != tag_key(norm):
                result.renamed[item] = out
            dedupe_key = tag_key(out)
            score = _confidence(conf_in, item, norm)
            if dedupe_key in best_conf:
                result.removed.setdefault(item, "duplicate")
                if score is not None:
                    best_conf[dedupe_key] = max(best_conf[dedupe_key], score)
                continue
            best_conf[dedupe_key] = score if score is not None else 0.0
            out_tags.append(out)
            categories[out] = category
        if self.order is not None:
            conf_out = {t: best_conf[tag_key(t)] for t in out_tags} if confidences else None
            out_tags = order_tags(out_tags, categories, confidences=conf_out, order=self.order)
        result.tags = out_tags
        result.categories = categories
        return result

    def clean(self, tags: TagInput, confidences: Mapping[str, float] | None = None) -> list[str]:
        """Clean one tag list or caption string; see the class docstring for the steps."""
        return self.clean_detailed(tags, confidences).tags

    def clean_many(self, tag_lists: Iterable[TagInput]) -> list[list[str]]:
        """Clean many tag lists, looking up all distinct tags in the database once."""
        lists = [parse_caption(t) if isinstance(t, str) else list(t) for t in tag_lists]
        if self.db is not None:
            keys = {tag_key(normalize_tag(t, lowercase=self.lowercase, spaces=False)) for tags in lists for t in tags}
            self._lookup(self.aliases.get(k, k) for k in keys)
        return [self.clean(tags) for tags in lists]


def _confidence(confidences: Mapping[str, float], item: str, norm: str) -> float | None:
    for candidate in (item, norm, to_spaces(norm), tag_key(norm)):
        if candidate in confidences:
            return float(confidences[candidate])
    return None


def clean_tags(
    tags: TagInput,
    *,
    db: TagDatabase | None = None,
    confidences: Mapping[str, float] | None = None,
    **options: Any,
) -> list[str]:
    """Clean a tag list or caption string in one call.

    Args:
        tags: Tags or a caption string (``"1girls, long_hair, long hair"``).
        db: Optional :class:`TagDatabase` for aliases, categories, deprecated tags and the user blacklist.
        confidences: Tag -> confidence, used for dedupe (highest kept) and ordering within a category.
        **options: Any :class:`TagCleaner` keyword (``lowercase``, ``spaces``, ``order``, ``blacklist``, ...).

    Returns:
        The cleaned tags.
    """
    return TagCleaner(db, **options).clean(tags, confidences)
