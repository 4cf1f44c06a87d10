"""The prompt template and the per-image variables it is filled with.

`annotate_batch()` only receives images and pHashes, so per-image context travels with the image: put a dict
under `image.info[CONTEXT_KEY]` (or call `set_prompt_context`). Run-wide defaults (a trigger word for the whole
dataset) can be set with the `prompt_defaults` context manager. The template may use {existing_tags},
{file_name}, {trigger_word} and {max_tags}; a brace the template did not mean as a variable is an error at
load time, not a surprise per image.
"""

from __future__ import annotations

import contextvars
import string
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

from image_annotator_lib.cloud.errors import CloudConfigError

CONTEXT_KEY = "image_annotator_lib.prompt_context"
VARIABLES = ("existing_tags", "file_name", "trigger_word", "max_tags")

DEFAULT_SYSTEM_PROMPT = (
    "You annotate images for a text-to-image training dataset. Answer only with the JSON object the schema "
    "describes: danbooru-style tags (lowercase, underscores, most important first, each with its category), "
    "one caption of one or two factual sentences, an aesthetic score from 1 to 10, and a content rating "
    "(general, sensitive, questionable or explicit)."
)
DEFAULT_PROMPT = (
    "Annotate this image with at most {max_tags} tags.\n"
    "File name: {file_name}\n"
    "Tags it already has (keep the correct ones, add what is missing): {existing_tags}\n"
    "Trigger word to use in the caption if given: {trigger_word}"
)

_defaults: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "image_annotator_lib_prompt_defaults", default=None
)


def set_prompt_context(
    image: Image.Image,
    *,
    existing_tags: Sequence[str] | str | None = None,
    file_name: str | None = None,
    trigger_word: str | None = None,
) -> Image.Image:
    """Attach per-image prompt variables to `image` (returned for chaining)."""
    ctx: dict[str, Any] = dict(image.info.get(CONTEXT_KEY) or {})
    for key, value in (("existing_tags", existing_tags), ("file_name", file_name), ("trigger_word", trigger_word)):
        if value is not None:
            ctx[key] = value
    image.info[CONTEXT_KEY] = ctx
    return image


@contextmanager
def prompt_defaults(**values: Any) -> Iterator[None]:
    """Run-wide prompt variables (e.g. `trigger_word`) for every image annotated inside the block."""
    unknown = set(values) - set(VARIABLES)
    if unknown:
        raise ValueError(f"unknown prompt variable(s): {', '.join(sorted(unknown))}; known: {', '.join(VARIABLES)}")
    token = _defaults.set(values)
    try:
        yield
    finally:
        _defaults.reset(token)


def check_template(template: str, model_name: str) -> None:
    """Fail early when the template uses an unknown variable or has an unbalanced brace."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise CloudConfigError(f"cloud model {model_name!r}: option 'prompt' is not a valid template: {exc}") from exc
    unknown = sorted({f for f in fields if f not in VARIABLES})
    if unknown:
        raise CloudConfigError(
            f"cloud model {model_name!r}: option 'prompt' uses unknown variable(s) {', '.join(unknown)}; "
            f"known: {', '.join(VARIABLES)} (write {{{{ and }}}} for literal braces)"
        )


def image_context(image: Image.Image) -> dict[str, Any]:
    """Prompt variables for `image`: run-wide defaults < file name PIL remembers < the image's own context."""
    ctx: dict[str, Any] = dict(_defaults.get() or {})
    filename = getattr(image, "filename", None)
    if filename:
        ctx["file_name"] = Path(str(filename)).name
    ctx.update(image.info.get(CONTEXT_KEY) or {})
    return ctx


def render_prompt(template: str, context: Mapping[str, Any], *, max_tags: int) -> str:
    """Fill the template; absent variables read "none" so the model is not confused by empty lines."""
    tags = context.get("existing_tags")
    if isinstance(tags, str):
        tags_text = tags.strip()
    elif tags:
        tags_text = ", ".join(str(t) for t in tags)
    else:
        tags_text = ""
    values = {
        "existing_tags": tags_text or "none",
        "file_name": str(context.get("file_name") or "unknown"),
        "trigger_word": str(context.get("trigger_word") or "none"),
        "max_tags": str(max_tags),
    }
    return template.format(**values)
