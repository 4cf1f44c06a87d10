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


def parse_answer_text(text: str) -> ParsedAnnotation:
    """Parse the model's JSON text (tolerating a ```json fence some servers add) and validate it."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`")
        stripped = stripped.removeprefix("json").strip()
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise MalformedResponseError(f"answer is not valid JSON ({exc.msg}, char {exc.pos})", raw_text=text) from exc
    return validate_answer(data, raw_text=text)


def validate_answer(data: object, *, raw_text: str | None = None) -> ParsedAnnotation:
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
