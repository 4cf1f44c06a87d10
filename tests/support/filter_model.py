"""Random small projects and random filter expressions, with a plain-Python reference evaluator.

The property tests (tests/unit/test_filter_property.py, tests/gui/test_filter_bar_property.py) render an
expression as text, run it through the real parser and SQL, and compare with `reference_ids`, which works
on the generated data directly, from docs/filters.md's rules, never through lorairo's own code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import insert, text

from lorairo.database.engine import Database
from lorairo.database.schema import (
    AnnotationFailure,
    CaptionRecord,
    ImageQualityRecord,
    ImageRecord,
    ImageSourceRecord,
    NearDuplicateRecord,
    QualityScoreRecord,
    RatingRecord,
    TagRecord,
)
from lorairo.database.tag_repository import EditRepository, InsertTags, TagRow

# canonical tag -> forms a user or a sidecar may write it in
VOCABULARY: dict[str, tuple[str, ...]] = {
    "long hair": ("long hair", "Long Hair", "long_hair", "LONG_HAIR", "long  hair"),
    "green eyes": ("green eyes", "Green Eyes", "green_eyes", "Green_eyes"),
    "cat": ("cat", "Cat", "CAT"),
    "dog": ("dog", "Dog"),
    "blurry": ("blurry", "Blurry"),
    "looking at viewer": ("looking at viewer", "Looking_At_Viewer"),
    "^_^": ("^_^",),
    "photo (medium)": ("photo (medium)", "Photo (Medium)", "photo_(medium)"),
    "re:zero": ("re:zero", "Re:Zero"),  # a colon: only findable quoted or as tag:
}
KAOMOJI = {"^_^"}
RATING_NAMES = ("general", "sensitive", "questionable", "explicit", "sfw", "nsfw")
SIZES = ((512, 512), (768, 512), (512, 768), (1024, 1024), (300, 900), (1050, 1000), (950, 1000), (1600, 600))
# Quality checks (docs/filters.md) with the shipped thresholds of config/lorairo.toml [quality], written out here
# as the documentation states them (the reference never reads lorairo's own rules).
QUALITY_WORDS = (
    *("blurry", "dark", "bright", "low-info", "greyscale"),
    *("low-jpeg", "letterbox", "extreme-aspect", "needs-upscale"),
)
TRAINING_RESOLUTION = 1024  # export.resolution


@dataclass(frozen=True)
class Metrics:
    sharpness: float
    brightness: float
    clipped_dark: float
    clipped_bright: float
    entropy: float
    saturation: float
    jpeg_quality: int | None
    border_fraction: float


def quality_flags(metrics: Metrics | None, size: tuple[int, int]) -> set[str]:
    """The checks an image is flagged by (docs/filters.md), from its metrics (None: never measured)."""
    flagged: set[str] = set()
    if max(size) / min(size) > 2.5:
        flagged.add("extreme-aspect")
    if min(size) < TRAINING_RESOLUTION:
        flagged.add("needs-upscale")
    if metrics is None:
        return flagged
    m = metrics
    checks = {
        "blurry": m.sharpness < 120,
        "dark": m.brightness < 0.15 or m.clipped_dark > 0.5,
        "bright": m.brightness > 0.72 or m.clipped_bright > 0.5,
        "low-info": m.entropy < 4.0,
        "greyscale": m.saturation < 0.01,
        "low-jpeg": m.jpeg_quality is not None and m.jpeg_quality < 70,
        "letterbox": m.border_fraction >= 0.15,
    }
    return flagged | {name for name, hit in checks.items() if hit}


# Values on both sides of (and at) each threshold.
metrics_strategy = st.none() | st.builds(
    Metrics,
    sharpness=st.sampled_from((0.0, 119.9, 120.0, 500.0)),
    brightness=st.sampled_from((0.05, 0.15, 0.5, 0.72, 0.9)),
    clipped_dark=st.sampled_from((0.0, 0.5, 0.6)),
    clipped_bright=st.sampled_from((0.0, 0.5, 0.6)),
    entropy=st.sampled_from((1.0, 4.0, 7.5)),
    saturation=st.sampled_from((0.0, 0.01, 0.3)),
    jpeg_quality=st.none() | st.sampled_from((40, 70, 95)),
    border_fraction=st.sampled_from((0.0, 0.15, 0.3)),
)
SCORE_VALUES = (0.0, 2.5, 5.0, 6.0, 7.5, 10.0)
CAPTIONS = ("A red dress on a chair", "100% cotton", "a_b test", "Blue sky")
CAPTION_SEARCHES = ("red", "Red Dress", "dress on", "100%", "a_b", "SKY", "cotton")
NAME_SEARCHES = ("IMG_1", ".png", "g_2", "img")
DATES = tuple(date(2024, 1, d) for d in range(1, 6))
FLAG_WORDS = {
    "untagged": ("untagged",),
    "uncaptioned": ("uncaptioned",),
    "duplicates": ("duplicates", "duplicate"),
    "near_duplicates": ("near-duplicates", "near-duplicate"),
    "has_failures": ("failed", "has:failures"),
    "excluded": ("excluded",),
}


def canonical(tag: str) -> str:
    """The reference's own normalisation: unescape \\( \\), collapse whitespace, lowercase, _ = space."""
    folded = " ".join(tag.replace("\\(", "(").replace("\\)", ")").split()).lower()
    return folded if folded in KAOMOJI else " ".join(folded.replace("_", " ").split())


# --- the data --------------------------------------------------------------------------------------------


@dataclass
class Img:
    tags: list[tuple[str, bool, int]]  # (stored form, rejected, insert path 0/1/2)
    captions: list[str]
    scores: list[tuple[str, float]]
    manual_rating: str | None
    model_ratings: list[str]
    size: tuple[int, int]
    created: date
    excluded: bool
    extra_paths: int
    failed: bool
    metrics: Metrics | None = None
    id: int = 0


@dataclass
class ProjectData:
    images: list[Img]
    links: list[tuple[int, int]] = field(default_factory=list)  # indexes into images


forms = st.sampled_from([form for variants in VOCABULARY.values() for form in variants])
images = st.builds(
    Img,
    tags=st.lists(st.tuples(forms, st.booleans(), st.integers(0, 2)), max_size=5),
    captions=st.lists(st.sampled_from(CAPTIONS), max_size=2),
    scores=st.lists(st.tuples(st.sampled_from(("aesthetic", "manual")), st.sampled_from(SCORE_VALUES)), max_size=2),
    manual_rating=st.none() | st.sampled_from(RATING_NAMES),
    model_ratings=st.lists(st.sampled_from(RATING_NAMES), max_size=2),
    size=st.sampled_from(SIZES),
    created=st.sampled_from(DATES),
    excluded=st.booleans(),
    extra_paths=st.integers(0, 2),
    failed=st.booleans(),
    metrics=metrics_strategy,
)


@st.composite
def projects(draw: st.DrawFn) -> ProjectData:
    items = draw(st.lists(images, min_size=1, max_size=8))
    pairs = st.tuples(st.integers(0, len(items) - 1), st.integers(0, len(items) - 1)).filter(lambda p: p[0] != p[1])
    links = draw(st.lists(pairs, max_size=2, unique_by=lambda p: p))
    return ProjectData(items, links)


def store(db: Database, data: ProjectData) -> None:
    """Replace the database's rows with `data`. Tags go in through three real write paths (ORM as the
    annotation store does, the edit repository's Core insert, the import writer's sidecar insert)."""
    with db.session(write=True) as s:
        for table in (
            "tags",
            "captions",
            "quality_scores",
            "ratings",
            "annotation_failures",
            "image_quality",
            "image_sources",
            "near_duplicates",
            "images",
        ):
            s.execute(text(f"DELETE FROM {table}"))
        for n, img in enumerate(data.images):
            record = ImageRecord(
                file_path=f"images/{n}.png",
                file_name=f"img_{n}.png",
                original_path=f"/src/img_{n}.png",
                file_size=100,
                width=img.size[0],
                height=img.size[1],
                format="PNG",
                mode="RGB",
                hash_value=f"{n:064x}",
                phash=f"{n:016x}",
                phash_int=n,
                excluded=img.excluded,
                manual_rating=img.manual_rating,
                created_at=datetime.combine(img.created, datetime.min.time()).replace(hour=12),
            )
            s.add(record)
            s.flush()
            img.id = record.id
            edits, sidecars = [], []
            for form, rejected, path in img.tags:
                if path == 0 or rejected:
                    s.add(TagRecord(image_id=img.id, tag=form, source="model", is_rejected=rejected))
                elif path == 1:
                    edits.append(TagRow(img.id, form, None, "manual"))
                else:
                    sidecars.append(form)
            EditRepository(s).apply(InsertTags(tuple(edits)))
            if sidecars:  # a Core bulk insert, as the import writes rows (merge_sidecars would skip rejected keys)
                s.execute(insert(TagRecord), [{"image_id": img.id, "tag": t, "source": "sidecar"} for t in sidecars])
            s.add_all(CaptionRecord(image_id=img.id, text=c, source="model") for c in img.captions)
            s.add_all(QualityScoreRecord(image_id=img.id, score_name=k, value=v) for k, v in img.scores)
            s.add_all(RatingRecord(image_id=img.id, label=label) for label in img.model_ratings)
            s.add_all(
                ImageSourceRecord(image_id=img.id, source_path=f"/src/{n}/{k}.png") for k in range(1 + img.extra_paths)
            )
            if img.metrics is not None:
                s.add(ImageQualityRecord(image_id=img.id, **vars(img.metrics)))
            if img.failed:
                s.add(AnnotationFailure(image_id=img.id, model_name="m", provider="local", failure_reason="X"))
        s.flush()
        for a, b in data.links:
            s.add(NearDuplicateRecord(image_id=data.images[a].id, match_image_id=data.images[b].id, distance=3))


# --- expressions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    kind: str  # tag / flag / rating / score / score_name / caption / name / width / height / res / aspect / imported
    neg: bool = False
    values: tuple[Any, ...] = ()
    op: str = ""


def _tag_patterns() -> st.SearchStrategy[str]:
    """A canonical tag, or a wildcard pattern cut from one (never next to a separator)."""
    whole = st.sampled_from(list(VOCABULARY))

    @st.composite
    def wildcard(draw: st.DrawFn) -> str:
        tag = draw(whole)
        cut = draw(st.integers(1, len(tag) - 1)) if len(tag) > 1 else 1
        head, tail = tag[:cut], tag[cut:]
        if head.endswith((" ", "_")) or tail.startswith((" ", "_")) or ":" in head:
            return tag
        return draw(st.sampled_from([f"{head}*", f"*{tail}"]))

    return whole | wildcard()


_KINDS = (
    *("tag", "tag", "tag", "flag", "flag", "rating", "score"),
    *("caption", "name", "size", "res", "aspect", "imported", "quality", "quality"),
)


@st.composite
def expressions(draw: st.DrawFn) -> list[Term]:
    """0-3 terms (few, so that results are often not empty), each kind within the language's rules (one
    caption:, one rating: and one -rating:, a flag once)."""
    terms: list[Term] = []
    used: set[str] = set()
    for kind in draw(st.lists(st.sampled_from(_KINDS), max_size=3)):
        if kind == "tag":
            alts = tuple(draw(st.lists(_tag_patterns(), min_size=1, max_size=3, unique=True)))
            terms.append(Term("tag", draw(st.booleans()), alts))
        elif kind == "flag":
            name = draw(st.sampled_from(list(FLAG_WORDS)))
            if name not in used:
                used.add(name)
                terms.append(Term("flag", draw(st.booleans()), (name,)))
        elif kind == "rating":
            neg = draw(st.booleans())
            if f"rating{neg}" not in used:
                used.add(f"rating{neg}")
                names = tuple(draw(st.lists(st.sampled_from(RATING_NAMES), min_size=1, max_size=2, unique=True)))
                terms.append(Term("rating", neg, names))
        elif kind == "score":
            op = draw(st.sampled_from((">=", ">", "<=", "<", "=")))
            terms.append(Term("score", op=op, values=(draw(st.sampled_from(SCORE_VALUES)),)))
            if "score_name" not in used and draw(st.booleans()):
                used.add("score_name")
                terms.append(Term("score_name", values=(draw(st.sampled_from(("aesthetic", "manual"))),)))
        elif kind in ("caption", "name"):
            if kind not in used:
                used.add(kind)
                choices = CAPTION_SEARCHES if kind == "caption" else NAME_SEARCHES
                terms.append(Term(kind, values=(draw(st.sampled_from(choices)),)))
        elif kind == "size":
            key = draw(st.sampled_from(("width", "height")))
            op = draw(st.sampled_from((">=", ">", "<=", "<", "=")))
            terms.append(Term(key, op=op, values=(draw(st.sampled_from((300, 512, 768, 1000, 1024))),)))
        elif kind == "res":
            op = draw(st.sampled_from((">=", ">", "<", "<=")))
            key = draw(st.sampled_from(("res", "min_side")))
            terms.append(Term(key, op=op, values=(draw(st.sampled_from((300, 512, 600, 1024))),)))
        elif kind == "quality":
            name = draw(st.sampled_from(QUALITY_WORDS))
            if f"quality:{name}" not in used:
                used.add(f"quality:{name}")
                terms.append(Term("quality", draw(st.booleans()), (name,)))
        elif kind == "aspect":
            if draw(st.booleans()):
                name = draw(st.sampled_from(("square", "portrait", "landscape")))
                terms.append(Term("aspect", op=":", values=(name,)))
            else:
                terms.append(
                    Term(
                        "aspect",
                        op=draw(st.sampled_from((">=", ">", "<=", "<"))),
                        values=(draw(st.sampled_from((0.5, 0.95, 1.0, 1.05, 1.5))),),
                    )
                )
        else:
            terms.append(
                Term(
                    "imported",
                    op=draw(st.sampled_from((">=", ">", "<=", "<", ":"))),
                    values=(draw(st.sampled_from(DATES)),),
                )
            )
    return terms


# --- rendering ---------------------------------------------------------------------------------------------

_SAFE_BARE = re.compile(r"^[^\s,|\"'\-][^,|\"]*$")


def _variant(draw: st.DrawFn, tag: str) -> str:
    """How a user may type a canonical tag (or pattern): case, _ for spaces, \\( \\) escapes."""
    if tag in KAOMOJI:
        return tag
    out = draw(st.sampled_from([tag, tag.upper(), tag.title()]))
    if draw(st.booleans()):
        out = out.replace(" ", "_")
    if "(" in out and draw(st.booleans()):
        out = out.replace("(", "\\(").replace(")", "\\)")
    return out


def _quote(text_: str) -> str:
    return '"' + text_.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def render(draw: st.DrawFn, terms: list[Term]) -> str:
    """Text of `terms` in a random but valid style: comma or space separated, bare or quoted tags, `tag:`,
    random case of keys and flags, the synonyms of flags, `rating:a|b` or `rating:a,b`."""
    pieces: list[tuple[str, bool, bool]] = []  # (text, starts with a bare word, ends with a bare phrase)
    for term in terms:
        if term.kind == "tag":
            use_key = draw(st.booleans())
            alts = []
            for tag in term.values:
                typed = _variant(draw, tag)
                needs_quote = ":" in typed or not _SAFE_BARE.match(typed)
                alts.append(_quote(typed) if needs_quote or draw(st.integers(0, 3)) == 0 else typed)
            sep = draw(st.sampled_from(["|", " | "]))
            body = sep.join(alts)
            prefix = ("-" if term.neg else "") + ("tag:" if use_key else "")
            starts_bare = not prefix and not alts[0].startswith('"')
            pieces.append((prefix + body, starts_bare, not alts[-1].startswith('"')))
        elif term.kind == "flag":
            word = draw(st.sampled_from(FLAG_WORDS[term.values[0]]))
            word = draw(st.sampled_from([word, word.upper()]))
            pieces.append((("-" if term.neg else "") + word, False, False))
        elif term.kind == "quality":
            key = draw(st.sampled_from(["quality:", "Quality:"]))
            word = draw(st.sampled_from([term.values[0], term.values[0].upper()]))
            pieces.append((("-" if term.neg else "") + key + word, False, False))
        elif term.kind == "rating":
            sep = draw(st.sampled_from(["|", ","])) if not term.neg else "|"
            names = sep.join(draw(st.sampled_from([n, n.upper(), n.title()])) for n in term.values)
            key = draw(st.sampled_from(["rating:", "Rating:"]))
            pieces.append((("-" if term.neg else "") + key + names, False, False))
        elif term.kind in ("caption", "name", "score_name"):
            value = term.values[0]
            bare = _SAFE_BARE.match(value) and draw(st.booleans())
            pieces.append((f"{term.kind}:" + (value if bare else _quote(value)), False, bool(bare)))
        elif term.kind == "aspect" and term.op == ":":
            pieces.append((f"aspect:{term.values[0]}", False, False))
        else:
            op = term.op
            if op == "=":
                op = draw(st.sampled_from(["=", ":"]))
            value = term.values[0]
            shown = value.isoformat() if isinstance(value, date) else str(value)
            pieces.append((f"{term.kind}{op}{shown}", False, False))
    out = ""
    for i, (piece, starts_bare, _ends) in enumerate(pieces):
        if i:
            prev_ends_bare = pieces[i - 1][2]
            # Bare words side by side would join into one tag: those need a comma.
            options = [", ", ","] if (prev_ends_bare and starts_bare) or prev_ends_bare else [", ", ",", " ", "  "]
            out += draw(st.sampled_from(options))
        out += piece
    return draw(st.sampled_from([out, f" {out} ", out + ","])) if out else out


# --- the reference ---------------------------------------------------------------------------------------


def _tag_matches(pattern: str, stored: str) -> bool:
    if "*" not in pattern:
        return canonical(pattern) == canonical(stored)
    regex = ".*".join(re.escape(canonical(part)) if part else "" for part in pattern.split("*"))
    return re.fullmatch(regex, canonical(stored)) is not None


def _compare(value: Any, op: str, bound: Any) -> bool:
    return {
        ">=": value >= bound,
        ">": value > bound,
        "<=": value <= bound,
        "<": value < bound,
        "=": value == bound,
        ":": value == bound,
    }[op]


def _rating_matches(img: Img, names: tuple[str, ...]) -> bool:
    if img.manual_rating is not None:
        return img.manual_rating in names
    return any(label in names for label in img.model_ratings)


def reference_ids(data: ProjectData, terms: list[Term], extra: list[Term] = ()) -> list[int]:  # type: ignore[assignment]
    """IDs of the images matching every term, from the generated data, by docs/filters.md's rules."""
    linked = {data.images[a].id for a, b in data.links} | {data.images[b].id for a, b in data.links}
    all_terms = [*terms, *extra]
    score_terms = [t for t in all_terms if t.kind == "score"]
    score_name = next((t.values[0] for t in all_terms if t.kind == "score_name"), None)
    found = []
    for img in data.images:
        live = [form for form, rejected, _path in img.tags if not rejected]
        ok = True
        for t in all_terms:
            if t.kind == "tag":
                hit = any(_tag_matches(p, form) for p in t.values for form in live)
                ok = (not hit) if t.neg else hit
            elif t.kind == "flag":
                has = {
                    "untagged": not live,
                    "uncaptioned": not img.captions,
                    "duplicates": img.extra_paths > 0,
                    "near_duplicates": img.id in linked,
                    "has_failures": img.failed,
                    "excluded": img.excluded,
                }[t.values[0]]
                ok = (not has) if t.neg else has
            elif t.kind == "rating":
                ok = _rating_matches(img, t.values) != t.neg
            elif t.kind == "caption":
                ok = any(t.values[0].lower() in c.lower() for c in img.captions)
            elif t.kind == "name":
                ok = t.values[0].lower() in f"img_{data.images.index(img)}.png"
            elif t.kind in ("width", "height"):
                ok = _compare(img.size[0] if t.kind == "width" else img.size[1], t.op, t.values[0])
            elif t.kind in ("res", "min_side"):
                ok = _compare(min(img.size), t.op, t.values[0])
            elif t.kind == "quality":
                ok = (t.values[0] in quality_flags(img.metrics, img.size)) != t.neg
            elif t.kind == "aspect":
                ratio = img.size[0] / img.size[1]
                if t.op == ":":
                    ok = {"square": 0.95 <= ratio <= 1.05, "portrait": ratio < 0.95, "landscape": ratio > 1.05}[
                        t.values[0]
                    ]
                else:
                    ok = _compare(ratio, t.op, t.values[0])
            elif t.kind == "imported":
                ok = _compare(img.created, t.op, t.values[0])
            if not ok:
                break
        if ok and score_terms:
            # every score term holds for one and the same score (of the named kind, when score_name: is given)
            ok = any(
                all(_compare(value, t.op, t.values[0]) for t in score_terms)
                for name, value in img.scores
                if score_name is None or name == score_name
            )
        if ok:
            found.append(img.id)
    return sorted(found)
