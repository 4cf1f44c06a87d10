"""The filter language's SQL: `build_query` turns an `ImageFilter` into one SELECT of image ids, and `SORTS` are the
grid's orders with the index that walks each (Qt-free, no database access: ImageQueryService runs what this builds).

Tags match by `tags.tag_key` (case, `_` and spaces ignored), through the partial index
`idx_tags_live (tag_key, image_id) WHERE is_rejected = 0`; the rarest positive tag term drives (its IN list), the
others are per-image probes (docs/benchmarks.md, "Scale").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from lorairo.services import quality_rules
from lorairo.services.filter_language import ImageFilter, tag_match_key
from lorairo.services.quality_rules import QualityThresholds


def glob_literal(text: str) -> str:
    """Escape GLOB's own wildcards in a tag key ([, ? and literal * never occur unescaped)."""
    return text.replace("[", "[[]").replace("?", "[?]")


def tag_match(tag: str) -> tuple[str, str]:
    """(SQL operator, value) matching `tag` by key. `*` is the user's wildcard: GLOB, which is case-sensitive
    like the lowercase key, so a literal prefix (`hair*`) is still a range scan of idx_tags_live."""
    key = tag_match_key(tag)
    if "*" in key:
        return "GLOB", "*".join(glob_literal(part) for part in key.split("*"))
    return "=", key


def _rating_condition(names: str) -> str:
    """The effective rating is in `names`: the manual rating when there is one, else any model's rating.
    Never NULL (a bare `manual_rating IN (...)` is NULL for unrated images, and NOT NULL drops them)."""
    return (
        f"((i.manual_rating IS NOT NULL AND i.manual_rating IN ({names})) OR (i.manual_rating IS NULL AND EXISTS "
        f"(SELECT 1 FROM ratings r WHERE r.image_id = i.id AND r.label IN ({names}))))"
    )


_FLAG_SQL = {
    # flag field -> SQL true for images that have it (a False flag asks for NOT this)
    "untagged": "NOT EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id AND t.is_rejected = 0)",
    "uncaptioned": "NOT EXISTS (SELECT 1 FROM captions c WHERE c.image_id = i.id)",
    "duplicates": "i.id IN (SELECT image_id FROM image_sources GROUP BY image_id HAVING count(*) > 1)",
    "near_duplicates": (
        "(i.id IN (SELECT image_id FROM near_duplicates) OR i.id IN (SELECT match_image_id FROM near_duplicates))"
    ),
    "has_failures": "i.id IN (SELECT image_id FROM annotation_failures)",
    "excluded": "i.excluded = 1",
}


def build_query(
    f: ImageFilter,
    tag_size: Callable[[str], int] | None = None,
    quality: QualityThresholds | None = None,
    *,
    probe_only: bool = False,
) -> tuple[str, dict[str, Any]]:
    """SQL selecting matching image IDs in import order, with its parameters (also used by benchmarks).

    `tag_size` (ImageQueryService.tag_size) estimates how many rows a tag term matches; the rarest positive
    term then drives the query and the others are probed per candidate. Without it terms keep their order.
    `quality` are the thresholds of `quality:` terms (the shipped defaults when None). `probe_only`: every tag
    term is a per-image probe, no IN list (ImageQueryService.first_page walks the sort order with LIMIT). A
    `similar:` term is not SQL: this selects its candidates, and ImageQueryService.ranked ranks them with the
    project's embeddings."""
    where: list[str] = []
    params: dict[str, Any] = {}
    counter = iter(range(1_000_000))

    def bind(value: Any) -> str:
        name = f"p{next(counter)}"
        params[name] = value
        return name

    def has_tag(tag: str) -> str:
        op, value = tag_match(tag)
        return f"SELECT image_id FROM tags WHERE tag_key {op} :{bind(value)} AND is_rejected = 0"

    def tag_probe(tags: Sequence[str]) -> str:
        """True when the candidate image has one of `tags`: a seek in idx_tags_image_live (image_id, tag_key)."""
        ors = []
        for tag in tags:
            op, value = tag_match(tag)
            ors.append(f"t.tag_key {op} :{bind(value)}")
        return f"EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id AND t.is_rejected = 0 AND ({' OR '.join(ors)}))"

    # Only the rarest positive tag term (or OR group) is an IN list read from idx_tags_live; every other tag
    # term is a per-candidate probe. Two IN lists of a common tag each built a temporary b-tree of most of
    # the project (1M images: 0.4-0.9 s); the rarest list bounds the work (docs/benchmarks.md, bench/scale.py).
    size = tag_size or (lambda _tag: 0)
    singles = sorted(f.tags_all, key=size)
    groups = sorted(f.tags_any, key=lambda group: sum(size(tag) for tag in group))
    if probe_only:
        pass
    elif singles and (not groups or size(singles[0]) <= sum(size(tag) for tag in groups[0])):
        where.append(f"i.id IN ({has_tag(singles[0])})")
        singles = singles[1:]
    elif groups:
        where.append("(" + " OR ".join(f"i.id IN ({has_tag(tag)})" for tag in groups[0]) + ")")
        groups = groups[1:]
    for tag in singles:
        where.append(tag_probe([tag]))
    for group in groups:
        where.append(tag_probe(group))
    # Everything else is checked per candidate row with correlated EXISTS on an image_id index, so a broad
    # NOT / score / rating term never builds a list of half the project (measured: 2-3x faster at 100k images).
    for tag in f.tags_none:
        where.append("NOT " + tag_probe([tag]))
    # Text search: instr, not LIKE, so `%` and `_` in what the user typed are literal (`caption:100%`).
    if f.caption_text:
        where.append(
            "i.id IN (SELECT image_id FROM captions WHERE instr(lower(text), lower(:" + bind(f.caption_text) + ")) > 0)"
        )
    if f.name_text:
        where.append(f"instr(lower(i.file_name), lower(:{bind(f.name_text)})) > 0")
    if f.score_min is not None or f.score_max is not None:
        cond = ["1 = 1"]
        if f.score_name:
            cond.append(f"q.score_name = :{bind(f.score_name)}")
        if f.score_min is not None:
            cond.append(f"q.value {'>' if f.score_min_exclusive else '>='} :{bind(f.score_min)}")
        if f.score_max is not None:
            cond.append(f"q.value {'<' if f.score_max_exclusive else '<='} :{bind(f.score_max)}")
        where.append(f"EXISTS (SELECT 1 FROM quality_scores q WHERE q.image_id = i.id AND {' AND '.join(cond)})")
    if f.ratings:
        where.append(_rating_condition(", ".join(f":{bind(r)}" for r in f.ratings)))
    if f.ratings_none:
        where.append("NOT " + _rating_condition(", ".join(f":{bind(r)}" for r in f.ratings_none)))
    for column, low, high in (("i.width", f.min_width, f.max_width), ("i.height", f.min_height, f.max_height)):
        if low is not None:
            where.append(f"{column} >= :{bind(low)}")
        if high is not None:
            where.append(f"{column} <= :{bind(high)}")
    if f.min_side is not None:
        where.append(f"min(i.width, i.height) >= :{bind(f.min_side)}")
    if f.max_side is not None:
        where.append(f"min(i.width, i.height) <= :{bind(f.max_side)}")
    thresholds = quality or QualityThresholds()
    for check, flagged in f.quality:
        sql = quality_rules.check_sql(check, thresholds)
        where.append(sql if flagged else f"NOT {sql}")
    if f.aspect_min is not None:
        op = ">" if f.aspect_min_exclusive else ">="
        where.append(f"CAST(i.width AS REAL) / i.height {op} :{bind(f.aspect_min)}")
    if f.aspect_max is not None:
        op = "<" if f.aspect_max_exclusive else "<="
        where.append(f"CAST(i.width AS REAL) / i.height {op} :{bind(f.aspect_max)}")
    if f.imported_from is not None:
        where.append(f"i.created_at >= :{bind(datetime.combine(f.imported_from, datetime.min.time()))}")
    if f.imported_to is not None:
        end = datetime.combine(f.imported_to + timedelta(days=1), datetime.min.time())
        where.append(f"i.created_at < :{bind(end)}")
    for name, sql in _FLAG_SQL.items():
        value = getattr(f, name)
        if value is not None:
            where.append(sql if value else f"NOT ({sql})")
    query = "SELECT i.id FROM images i"
    if where:
        query += " WHERE " + " AND ".join(where)
    return query + " ORDER BY i.id", params


#: tag_size counts at most this many rows: enough to order terms, bounded for tags on most images.
TAG_SIZE_CAP = 20_000

#: Grid orders: key -> (menu label, ORDER BY over `images i`, the index that walks it; None: the row id).
#: Ties keep import order (the row id ends every index entry). DESC sorts NULL last: unscored images, no
#: file date. The tag count and scores are columns kept by triggers (database/counters.py, alembic 0013).
SORTS: dict[str, tuple[str, str, str | None]] = {
    "import": ("Import order", "i.id", None),
    "name": ("Name", "i.file_name COLLATE NOCASE, i.id", "idx_images_sort_name"),
    "date": ("File date (newest first)", "i.file_mtime DESC, i.id", "idx_images_sort_date"),
    "tags": ("Tag count (most first)", "i.tag_count DESC, i.id", "idx_images_sort_tags"),
    "resolution": ("Resolution (largest first)", "i.width * i.height DESC, i.id", "idx_images_sort_resolution"),
    # Scores on different scales compare on 0..1; an image's best aesthetic or manual score counts (not nsfw & co).
    "score": ("Score (best first)", "i.best_score DESC, i.id", "idx_images_sort_score"),
    "aesthetic": ("Aesthetic score (best first)", "i.best_aesthetic DESC, i.id", "idx_images_sort_aesthetic"),
}


def sort_order(sort: str) -> tuple[str, str | None]:
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; choose one of {', '.join(SORTS)}")
    _label, order, index = SORTS[sort]
    return order, index


def tags_only(f: ImageFilter) -> bool:
    """The filter has tag terms and nothing else."""
    has_terms = bool(f.tags_all or f.tags_any or f.tags_none)
    return has_terms and f == ImageFilter(tags_all=f.tags_all, tags_any=f.tags_any, tags_none=f.tags_none)


def ordered(sql: str, order: str) -> str:
    return sql.removesuffix(" ORDER BY i.id") + f" ORDER BY {order}"


def sqlite_value(value: Any) -> Any:
    """Parameters as SQLAlchemy stores them (datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value
