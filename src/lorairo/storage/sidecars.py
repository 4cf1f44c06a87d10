r"""Caption / tag files that sit beside an image: ``<stem>.txt`` (comma-separated tags) and ``<stem>.caption``.

Tags are turned into the display form the project database stores (CONTRACTS.md): ``\(`` ``\)`` unescaped,
whitespace collapsed, underscores to spaces except in the 19 kaomoji, duplicates merged keeping the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genai_tag_db_tools.normalize import normalize_tag  # the one place tag normalisation rules live

TAG_SUFFIX = ".txt"
CAPTION_SUFFIX = ".caption"
MAX_SIDECAR_BYTES = 1_000_000  # a caption file larger than this is not a caption


@dataclass(frozen=True)
class Sidecar:
    """What the sidecars of one image said (empty when there were none)."""

    tags: tuple[str, ...] = ()
    caption: str | None = None


def display_tag(raw: str) -> str:
    """One tag in display form (``long_hair`` -> ``long hair``, ``^_^`` kept, ``\\(`` unescaped)."""
    return normalize_tag(raw)


def parse_tags(text: str) -> tuple[str, ...]:
    """Split a tag file on commas (and newlines), normalise each tag, drop empties and duplicates."""
    seen: dict[str, None] = {}
    for part in text.replace("\n", ",").split(","):
        tag = display_tag(part)
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


def _read_text(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_SIDECAR_BYTES:
            return None
        return path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return None  # an unreadable sidecar is not a reason to skip its image


def read_sidecars(image_path: Path) -> Sidecar:
    """Read ``<stem>.txt`` and ``<stem>.caption`` next to `image_path`."""
    tag_text = _read_text(image_path.with_suffix(TAG_SUFFIX))
    caption_text = _read_text(image_path.with_suffix(CAPTION_SUFFIX))
    caption = " ".join(caption_text.split()) if caption_text else None
    return Sidecar(tags=parse_tags(tag_text) if tag_text else (), caption=caption or None)
