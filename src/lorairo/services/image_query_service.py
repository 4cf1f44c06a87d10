"""Find images in a project with one filter model, run in SQL (Qt-free; the GUI calls it from a worker).

`ImageFilter` is what the filter bar builds, what the CLI's `--filter` text parses to and what export and
annotation take as "a filter". The text syntax (`parse_filter` / `format_filter`)::

    "long hair" blue_eyes      tags that must all be present (bare words and quotes are tags)
    tag:"long hair"            the same, explicit
    cat|dog  tag:cat|dog       at least one of these tags
    -blurry  -tag:blurry       none of these tags
    hair*                      a tag wildcard (any tag starting with "hair")
    caption:"red dress"        caption contains the text (case-insensitive)
    name:IMG_                  file name contains the text
    score>=6  score<8.5        score range (any score, or the one named with score_name:aesthetic)
    rating:general,sensitive   effective rating (manual rating first, else a model's)
    width>=512 height<=4096    pixel size; res>=1024 is the shorter side
    aspect>=1.5  aspect:square aspect ratio (w / h) or portrait / landscape / square
    imported>=2024-05-01       import date (also imported<=..., imported:2024-05-01)
    untagged uncaptioned       no tags / no caption
    duplicates near-duplicates found at several paths / has a near-duplicate link
    failed                     has annotation failures
    excluded -excluded         excluded from export or not

Tags are compared in the project's display form (genai-tag-db-tools normalisation: `long_hair` == `long hair`).
Thread-safety: a service instance may be shared; every call opens its own read session.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lorairo.database.chunks import chunked
from lorairo.exceptions import LoRAIroException

if TYPE_CHECKING:
    from lorairo.database.engine import Database

RATINGS = ("general", "sensitive", "questionable", "explicit", "sfw", "nsfw")
ASPECTS = {"square": (0.95, 1.05), "portrait": (0.0, 0.95), "landscape": (1.05, 1e9)}


class FilterSyntaxError(LoRAIroException):
    """A filter text that cannot be parsed; the message names the offending term."""


def normalize_query_tag(tag: str) -> str:
    """A tag as the project stores it: `long_hair` -> `long hair`, `\\(` unescaped, kaomoji kept, lowercase."""
    try:
        from genai_tag_db_tools.normalize import normalize_tag
    except ImportError:  # the tag package is optional at this layer; same rule, minus the kaomoji list
        return " ".join(tag.replace("\\(", "(").replace("\\)", ")").replace("_", " ").split()).lower()
    return str(normalize_tag(tag, lowercase=True))


@dataclass(frozen=True)
class ImageFilter:
    """Which images to show. Empty/None fields do not restrict. Immutable: build a new one with `replace`."""

    tags_all: tuple[str, ...] = ()  # every one must be present
    tags_any: tuple[tuple[str, ...], ...] = ()  # each group: at least one present
    tags_none: tuple[str, ...] = ()  # none may be present
    caption_text: str = ""
    name_text: str = ""
    score_min: float | None = None
    score_max: float | None = None
    score_name: str = ""
    ratings: tuple[str, ...] = ()
    min_width: int | None = None
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    min_side: int | None = None
    aspect_min: float | None = None
    aspect_max: float | None = None
    imported_from: date | None = None
    imported_to: date | None = None  # inclusive
    untagged: bool = False
    uncaptioned: bool = False
    duplicates: bool = False
    near_duplicates: bool = False
    has_failures: bool = False
    excluded: bool | None = None

    def is_empty(self) -> bool:
        return self == ImageFilter()

    def with_changes(self, **changes: Any) -> ImageFilter:
        return replace(self, **changes)


@dataclass(frozen=True)
class ImageRow:
    """A snapshot of one image for lists and the CLI (safe to pass between threads)."""

    id: int
    file_name: str
    file_path: str
    hash_value: str
    width: int
    height: int
    file_size: int
    format: str
    created_at: datetime
    excluded: bool
    rating: str | None
    tags: tuple[str, ...] = ()
    # Highest model confidence of each tag that a model gave; manual / sidecar-only tags are absent.
    tag_confidences: dict[str, float] = field(default_factory=dict)
    caption: str | None = None
    scores: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- parsing -----------------------------------------------------------------------------------------------

_COMPARE = re.compile(r"^(score|width|height|res|aspect|imported)(>=|<=|>|<|=|:)(.+)$")
_FLAGS = {
    "untagged": "untagged",
    "uncaptioned": "uncaptioned",
    "duplicates": "duplicates",
    "duplicate": "duplicates",
    "near-duplicates": "near_duplicates",
    "near-duplicate": "near_duplicates",
    "failed": "has_failures",
    "has:failures": "has_failures",
}


def _number(term: str, raw: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise FilterSyntaxError(f"filter term {term!r}: {raw!r} is not a number") from None


def _date(term: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FilterSyntaxError(f"filter term {term!r}: {raw!r} is not a date (YYYY-MM-DD)") from None


def _tags(raw: str) -> tuple[str, ...]:
    return tuple(t for t in (normalize_query_tag(part) for part in raw.split("|")) if t)


def _range(term: str, op: str, value: Any, current: tuple[Any, Any]) -> tuple[Any, Any]:
    low, high = current
    if op in (">=", ">"):
        return value, high
    if op in ("<=", "<"):
        return low, value
    if op in ("=", ":"):
        return value, value
    raise FilterSyntaxError(f"filter term {term!r}: unknown comparison {op!r}")


def parse_filter(text_filter: str) -> ImageFilter:
    """Parse the filter text syntax (see module docstring). Raises FilterSyntaxError naming the bad term."""
    try:
        terms = shlex.split(text_filter, posix=True)
    except ValueError as exc:
        raise FilterSyntaxError(f"filter {text_filter!r}: {exc} (unbalanced quotes?)") from None
    f: dict[str, Any] = {}
    tags_all: list[str] = []
    tags_any: list[tuple[str, ...]] = []
    tags_none: list[str] = []
    for term in terms:
        lowered = term.lower()
        if lowered in _FLAGS:
            f[_FLAGS[lowered]] = True
        elif lowered in ("excluded", "-excluded"):
            f["excluded"] = lowered == "excluded"
        elif lowered.startswith(("-tag:", "-")) and len(term) > 1:
            tags_none.extend(_tags(term.split(":", 1)[1] if lowered.startswith("-tag:") else term[1:]))
        elif lowered.startswith("caption:"):
            f["caption_text"] = term.split(":", 1)[1]
        elif lowered.startswith("name:"):
            f["name_text"] = term.split(":", 1)[1]
        elif lowered.startswith("score_name:"):
            f["score_name"] = term.split(":", 1)[1]
        elif lowered.startswith("rating:"):
            ratings = tuple(r.strip().lower() for r in term.split(":", 1)[1].split(",") if r.strip())
            unknown = [r for r in ratings if r not in RATINGS]
            if unknown or not ratings:
                raise FilterSyntaxError(f"filter term {term!r}: rating must be one of {', '.join(RATINGS)}")
            f["ratings"] = ratings
        elif match := _COMPARE.match(lowered):
            _apply_comparison(term, match.group(1), match.group(2), match.group(3), f)
        else:
            raw = term.split(":", 1)[1] if lowered.startswith("tag:") else term
            group = _tags(raw)
            if not group:
                raise FilterSyntaxError(f"filter term {term!r}: empty tag")
            if len(group) == 1:
                tags_all.append(group[0])
            else:
                tags_any.append(group)
    return ImageFilter(tags_all=tuple(tags_all), tags_any=tuple(tags_any), tags_none=tuple(tags_none), **f)


def _apply_comparison(term: str, key: str, op: str, raw: str, f: dict[str, Any]) -> None:
    if key == "score":
        if op == ":" and "-" in raw.strip("-"):
            low, high = raw.split("-", 1)
            f["score_min"], f["score_max"] = _number(term, low, float), _number(term, high, float)
            return
        f["score_min"], f["score_max"] = _range(
            term, op, _number(term, raw, float), (f.get("score_min"), f.get("score_max"))
        )
    elif key in ("width", "height"):
        f[f"min_{key}"], f[f"max_{key}"] = _range(
            term, op, _number(term, raw, int), (f.get(f"min_{key}"), f.get(f"max_{key}"))
        )
    elif key == "res":
        if op not in (">=", ">", ":", "="):
            raise FilterSyntaxError(f"filter term {term!r}: res only supports res>=N (shorter side)")
        f["min_side"] = _number(term, raw, int)
    elif key == "aspect":
        if op == ":" and raw in ASPECTS:
            f["aspect_min"], f["aspect_max"] = ASPECTS[raw]
            return
        f["aspect_min"], f["aspect_max"] = _range(
            term, op, _number(term, raw, float), (f.get("aspect_min"), f.get("aspect_max"))
        )
    else:  # imported
        f["imported_from"], f["imported_to"] = _range(
            term, op, _date(term, raw), (f.get("imported_from"), f.get("imported_to"))
        )


def _quote(text: str) -> str:
    """Double-quote text with spaces, quotes or `|` (shlex reads `\"` inside double quotes back as `"`)."""
    if not text or re.search(r"[\s\"'|\\]", text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def format_filter(f: ImageFilter) -> str:
    """The text form of a filter (favourites and the CLI); `parse_filter(format_filter(f)) == f`."""
    parts: list[str] = [_quote(t) for t in f.tags_all]
    parts += ["|".join(_quote(t) for t in group) for group in f.tags_any]
    parts += [f"-{_quote(t)}" for t in f.tags_none]
    if f.caption_text:
        parts.append(f"caption:{_quote(f.caption_text)}")
    if f.name_text:
        parts.append(f"name:{_quote(f.name_text)}")
    if f.score_name:
        parts.append(f"score_name:{_quote(f.score_name)}")
    pairs = [
        ("score", f.score_min, f.score_max),
        ("width", f.min_width, f.max_width),
        ("height", f.min_height, f.max_height),
        ("aspect", f.aspect_min, f.aspect_max),
        ("imported", f.imported_from, f.imported_to),
    ]
    for key, low, high in pairs:
        if low is not None:
            parts.append(f"{key}>={low}")
        if high is not None:
            parts.append(f"{key}<={high}")
    if f.min_side is not None:
        parts.append(f"res>={f.min_side}")
    if f.ratings:
        parts.append("rating:" + ",".join(f.ratings))
    flags = {v: k for k, v in reversed(_FLAGS.items())}
    parts += [flags[name] for name in _FLAGS.values() if getattr(f, name)]
    if f.excluded is not None:
        parts.append("excluded" if f.excluded else "-excluded")
    return " ".join(dict.fromkeys(parts))


# --- SQL -----------------------------------------------------------------------------------------------------


def _tag_condition(tag: str, name: str) -> str:
    if "*" in tag:
        return f"tag LIKE :{name} ESCAPE '\\'"
    return f"tag = :{name}"


def _tag_value(tag: str) -> str:
    if "*" in tag:
        escaped = tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return escaped.replace("*", "%")
    return tag


def build_query(f: ImageFilter) -> tuple[str, dict[str, Any]]:
    """SQL selecting matching image IDs in import order, with its parameters (also used by benchmarks)."""
    where: list[str] = []
    params: dict[str, Any] = {}
    counter = iter(range(10_000))

    def bind(value: Any) -> str:
        name = f"p{next(counter)}"
        params[name] = value
        return name

    def has_tag(tag: str) -> str:
        name = bind(_tag_value(tag))
        return f"SELECT image_id FROM tags WHERE {_tag_condition(tag, name)} AND is_rejected = 0"

    for tag in f.tags_all:
        where.append(f"i.id IN ({has_tag(tag)})")
    for group in f.tags_any:
        where.append("(" + " OR ".join(f"i.id IN ({has_tag(tag)})" for tag in group) + ")")
    # Positive tag terms drive the query (IN lists read from the tag index); everything else is checked per
    # candidate row with correlated EXISTS on an image_id index, so a broad NOT / score / rating term never
    # builds a list of half the project (measured: 2-3x faster at 100k images, docs/benchmarks.md).
    for tag in f.tags_none:
        name = bind(_tag_value(tag))
        where.append(
            f"NOT EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id AND t.{_tag_condition(tag, name)} "
            "AND t.is_rejected = 0)"
        )
    if f.caption_text:
        name = bind(f"%{f.caption_text.lower()}%")
        where.append(f"i.id IN (SELECT image_id FROM captions WHERE lower(text) LIKE :{name})")
    if f.name_text:
        where.append(f"lower(i.file_name) LIKE :{bind(f'%{f.name_text.lower()}%')}")
    if f.score_min is not None or f.score_max is not None:
        cond = ["1 = 1"]
        if f.score_name:
            cond.append(f"q.score_name = :{bind(f.score_name)}")
        if f.score_min is not None:
            cond.append(f"q.value >= :{bind(f.score_min)}")
        if f.score_max is not None:
            cond.append(f"q.value <= :{bind(f.score_max)}")
        where.append(f"EXISTS (SELECT 1 FROM quality_scores q WHERE q.image_id = i.id AND {' AND '.join(cond)})")
    if f.ratings:
        names = ", ".join(f":{bind(r)}" for r in f.ratings)
        where.append(
            f"(i.manual_rating IN ({names}) OR (i.manual_rating IS NULL AND EXISTS "
            f"(SELECT 1 FROM ratings r WHERE r.image_id = i.id AND r.label IN ({names}))))"
        )
    for column, low, high in (("i.width", f.min_width, f.max_width), ("i.height", f.min_height, f.max_height)):
        if low is not None:
            where.append(f"{column} >= :{bind(low)}")
        if high is not None:
            where.append(f"{column} <= :{bind(high)}")
    if f.min_side is not None:
        where.append(f"min(i.width, i.height) >= :{bind(f.min_side)}")
    if f.aspect_min is not None:
        where.append(f"CAST(i.width AS REAL) / i.height >= :{bind(f.aspect_min)}")
    if f.aspect_max is not None:
        where.append(f"CAST(i.width AS REAL) / i.height <= :{bind(f.aspect_max)}")
    if f.imported_from is not None:
        where.append(f"i.created_at >= :{bind(datetime.combine(f.imported_from, datetime.min.time()))}")
    if f.imported_to is not None:
        end = datetime.combine(f.imported_to + timedelta(days=1), datetime.min.time())
        where.append(f"i.created_at < :{bind(end)}")
    if f.untagged:
        where.append("NOT EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id AND t.is_rejected = 0)")
    if f.uncaptioned:
        where.append("NOT EXISTS (SELECT 1 FROM captions c WHERE c.image_id = i.id)")
    if f.duplicates:
        where.append("i.id IN (SELECT image_id FROM image_sources GROUP BY image_id HAVING count(*) > 1)")
    if f.near_duplicates:
        where.append(
            "(i.id IN (SELECT image_id FROM near_duplicates) OR i.id IN (SELECT match_image_id FROM near_duplicates))"
        )
    if f.has_failures:
        where.append("i.id IN (SELECT image_id FROM annotation_failures)")
    if f.excluded is not None:
        where.append(f"i.excluded = {1 if f.excluded else 0}")
    sql = "SELECT i.id FROM images i"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY i.id", params


def _sqlite_value(value: Any) -> Any:
    """Parameters as SQLAlchemy stores them (datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


class ImageQueryService:
    """Query image IDs and fetch row snapshots of one project database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # SQLAlchemy is imported here, not at module level: the filter model above is needed at start-up.
        from sqlalchemy import text

        self._text = text

    def _scalars(self, sql: str, params: dict[str, Any]) -> list[Any]:
        """First column of every row, through the DB-API cursor: a result of 100k IDs goes through
        SQLAlchemy's row processing several times slower. Plain values, dates as they are stored."""
        with self.db.read_engine.connect() as conn:
            raw = conn.connection.driver_connection
            cursor = raw.execute(sql, {k: _sqlite_value(v) for k, v in params.items()})  # type: ignore[union-attr]
            try:
                return [row[0] for row in cursor.fetchall()]
            finally:
                cursor.close()

    def query_ids(self, f: ImageFilter | None = None) -> list[int]:
        """IDs of matching images in import order."""
        sql, params = build_query(f or ImageFilter())
        return [int(v) for v in self._scalars(sql, params)]

    def count(self, f: ImageFilter | None = None) -> int:
        sql, params = build_query(f or ImageFilter())
        return int(self._scalars(f"SELECT count(*) FROM ({sql})", params)[0])

    def fetch_rows(self, ids: Sequence[int], *, details: bool = True) -> list[ImageRow]:
        """Snapshots of `ids` in the order given (unknown IDs are left out). `details=False` skips tags,
        caption and scores (what the thumbnail grid needs)."""
        found: dict[int, dict[str, Any]] = {}
        tags: dict[int, list[str]] = {}
        confidences: dict[int, dict[str, float]] = {}
        captions: dict[int, str] = {}
        scores: dict[int, dict[str, float]] = {}
        with self.db.session() as s:
            for chunk in chunked(list(ids)):
                marks = ",".join(str(int(i)) for i in chunk)  # ints only: safe to inline, avoids param limits
                for row in s.execute(
                    self._text(
                        "SELECT i.id, i.file_name, i.file_path, i.hash_value, i.width, i.height, i.file_size, "
                        "i.format, i.created_at, i.excluded, coalesce(i.manual_rating, "
                        "(SELECT label FROM ratings r WHERE r.image_id = i.id ORDER BY r.id DESC LIMIT 1)) "
                        f"FROM images i WHERE i.id IN ({marks})"
                    )
                ):
                    found[int(row[0])] = dict(zip(_ROW_FIELDS, row, strict=True))
                if not details:
                    continue
                for image_id, tag, confidence in s.execute(
                    self._text(
                        "SELECT image_id, tag, confidence FROM tags "
                        f"WHERE is_rejected = 0 AND image_id IN ({marks}) ORDER BY id"
                    )
                ):
                    bucket = tags.setdefault(int(image_id), [])
                    if tag not in bucket:
                        bucket.append(tag)
                    if confidence is not None:
                        best = confidences.setdefault(int(image_id), {})
                        best[tag] = max(float(confidence), best.get(tag, 0.0))
                for image_id, caption in s.execute(
                    self._text(f"SELECT image_id, text FROM captions WHERE image_id IN ({marks}) ORDER BY id DESC")
                ):
                    captions.setdefault(int(image_id), caption)
                for image_id, name, value in s.execute(
                    self._text(f"SELECT image_id, score_name, value FROM quality_scores WHERE image_id IN ({marks})")
                ):
                    scores.setdefault(int(image_id), {})[name] = float(value)
        rows = []
        for image_id in ids:
            base = found.get(int(image_id))
            if base is None:
                continue
            created = base["created_at"]
            if isinstance(created, str):
                created = datetime.fromisoformat(created)
            rows.append(
                ImageRow(
                    **{**base, "created_at": created, "excluded": bool(base["excluded"])},
                    tags=tuple(tags.get(image_id, ())),
                    tag_confidences=confidences.get(image_id, {}),
                    caption=captions.get(image_id),
                    scores=scores.get(image_id, {}),
                )
            )
        return rows

    def tag_counts(self, prefix: str = "", limit: int = 50) -> list[tuple[str, int]]:
        """Tags used in this project starting with `prefix` (normalised), most used first (autocomplete)."""
        needle = normalize_query_tag(prefix) if prefix.strip() else ""
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self.db.session() as s:
            rows = s.execute(
                self._text(
                    "SELECT tag, count(*) AS n FROM tags WHERE is_rejected = 0 AND tag LIKE :p ESCAPE '\\' "
                    "GROUP BY tag ORDER BY n DESC, tag LIMIT :limit"
                ),
                {"p": f"{escaped}%", "limit": limit},
            ).all()
        return [(str(tag), int(n)) for tag, n in rows]


_ROW_FIELDS = (
    "id",
    "file_name",
    "file_path",
    "hash_value",
    "width",
    "height",
    "file_size",
    "format",
    "created_at",
    "excluded",
    "rating",
)
