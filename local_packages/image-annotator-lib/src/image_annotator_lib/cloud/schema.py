"""The one JSON answer every cloud model gives (tags, caption, score, rating) and its validation.

The same schema goes to every provider (OpenAI strict json_schema, an Anthropic tool's input_schema, Google's
response_schema) so answers are comparable across providers. Validation is by hand: it is small, and it lets
the error say exactly which field was wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from image_annotator_lib.cloud.errors import MalformedResponseError
from image_annotator_lib.core.types import RatingPrediction, Score, TagPrediction

TAG_CATEGORIES = ("general", "character", "copyright", "artist", "meta")
RATINGS = ("general", "sensitive", "questionable", "explicit")  # the WD labels, so ratings compare across models
SCORE_NAME = "cloud_aesthetic"
SCORE_MIN, SCORE_MAX = 1.0, 10.0
TOOL_NAME = "record_annotation"
# Answer size limits (per provider: `max_caption_chars`, `max_answer_tags`, `max_response_bytes` options). A real
# annotation is a few hundred bytes; anything near these sizes is a broken or hostile endpoint, refused as
# malformed_response instead of being stored (and stored again in every export).
DEFAULT_MAX_CAPTION_CHARS = 64 * 1024
DEFAULT_MAX_ANSWER_TAGS = 1000
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class AnswerLimits:
    """The largest answer accepted: caption characters, tags, and bytes of the whole HTTP response body."""

    max_caption_chars: int = DEFAULT_MAX_CAPTION_CHARS
    max_tags: int = DEFAULT_MAX_ANSWER_TAGS
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


DEFAULT_LIMITS = AnswerLimits()


def annotation_schema(*, strict_objects: bool = True) -> dict[str, Any]:
    """JSON Schema of the answer. `strict_objects=False` drops additionalProperties (Google's subset)."""
    tag: dict[str, Any] = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "danbooru-style tag, lowercase, underscores"},
            "category": {"type": "string", "enum": list(TAG_CATEGORIES)},
        },
        "required": ["name", "category"],
    }
    root: dict[str, Any] = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": tag},
            "caption": {"type": "string", "description": "one or two sentences describing the image"},
            "score": {"type": "number", "description": "aesthetic quality from 1 (worst) to 10 (best)"},
            "rating": {"type": "string", "enum": list(RATINGS)},
        },
        "required": ["tags", "caption", "score", "rating"],
    }
    if strict_objects:
        tag["additionalProperties"] = False
        root["additionalProperties"] = False
    return root


@dataclass(frozen=True, slots=True)
class ParsedAnnotation:
    """A validated answer, ready to go into an AnnotationResult."""

    tags: list[TagPrediction]
    caption: str
    score: Score
    rating: RatingPrediction


def _bad(why: str, raw_text: str) -> MalformedResponseError:
    return MalformedResponseError(f"answer does not match the annotation schema: {why}", raw_text=raw_text)


def parse_answer_text(text: str, limits: AnswerLimits = DEFAULT_LIMITS) -> ParsedAnnotation:
    """Parse the model's JSON text (tolerating a ```json fence some servers add) and validate it."""
    # The caption is the only free text: an answer far longer than caption + tags allow is refused before
    # json.loads builds it in memory.
    longest = limits.max_caption_chars + 200 * limits.max_tags + 4096
    if len(text) > longest:
        raise MalformedResponseError(
            f"answer is too large ({len(text):,} characters; the limit allows about {longest:,})", raw_text=text
        )
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`")
        stripped = stripped.removeprefix("json").strip()
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise MalformedResponseError(f"answer is not valid JSON ({exc.msg}, char {exc.pos})", raw_text=text) from exc
    return validate_answer(data, raw_text=text, limits=limits)


def validate_answer(
    data: object, *, raw_text: str | None = None, limits: AnswerLimits = DEFAULT_LIMITS
) -> ParsedAnnotation:
    """Check types and ranges of a decoded answer; raises MalformedResponseError naming the bad field."""
    raw = raw_text if raw_text is not None else json.dumps(data, ensure_ascii=False, default=str)
    if not isinstance(data, dict):
        raise _bad(f"expected a JSON object, got {type(data).__name__}", raw)
    missing = [k for k in ("tags", "caption", "score", "rating") if k not in data]
    if missing:
        raise _bad(f"missing field(s) {', '.join(missing)}", raw)

    tags_in = data["tags"]
    if not isinstance(tags_in, list):
        raise _bad("'tags' must be a list", raw)
    if len(tags_in) > limits.max_tags:
        raise _bad(f"{len(tags_in):,} tags, more than the limit of {limits.max_tags:,}", raw)
    tags: list[TagPrediction] = []
    seen: set[str] = set()
    for i, item in enumerate(tags_in):
        if isinstance(item, str):  # servers without schema support sometimes return bare strings
            name, category = item, "general"
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            name, category = item["name"], str(item.get("category") or "general").lower()
        else:
            raise _bad(f"tags[{i}] must be an object with a string 'name'", raw)
        name = name.strip().replace(",", " ").strip()  # a comma inside a tag would split it on export
        if category not in TAG_CATEGORIES:
            category = "general"
        if name and name not in seen:
            seen.add(name)
            tags.append(TagPrediction(name=name, category=category, confidence=None))

    caption = data["caption"]
    if not isinstance(caption, str):
        raise _bad("'caption' must be a string", raw)
    if len(caption) > limits.max_caption_chars:
        raise _bad(f"caption of {len(caption):,} characters, more than the limit of {limits.max_caption_chars:,}", raw)

    score = data["score"]
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise _bad("'score' must be a number", raw)
    if not SCORE_MIN <= float(score) <= SCORE_MAX:
        raise _bad(f"'score' must be between {SCORE_MIN:g} and {SCORE_MAX:g}, got {score}", raw)

    rating = data["rating"]
    if not isinstance(rating, str) or rating.lower() not in RATINGS:
        raise _bad(f"'rating' must be one of {', '.join(RATINGS)}, got {rating!r}", raw)

    return ParsedAnnotation(
        tags=tags,
        caption=caption.strip(),
        score=Score(float(score), SCORE_MIN, SCORE_MAX),
        rating=RatingPrediction(label=rating.lower()),
    )
