r"""Caption / tag files that sit beside an image: ``<stem>.txt`` (comma-separated tags) and ``<stem>.caption``.

Tags are turned into the display form the project database stores (CONTRACTS.md): ``\(`` ``\)`` unescaped,
whitespace collapsed, underscores to spaces except in the 19 kaomoji, duplicates merged keeping the first.

Text encodings: UTF-8 (with or without BOM) and UTF-16/32 with a BOM are read as such; anything else is
decoded by charset-normalizer (the maintained detector requests uses). Short tag lists give a detector little
to go on, so among the equally plausible decodings the common legacy code pages win (Windows-1252 first: a
Latin-1 ``café`` must not come out as Arabic or Cyrillic). Whatever is not plain UTF-8, had control
characters removed, was too large or unreadable is reported as a :class:`SidecarNote` so the import summary
can name the file.
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from genai_tag_db_tools.normalize import normalize_tag  # the one place tag normalisation rules live

TAG_SUFFIX = ".txt"
CAPTION_SUFFIX = ".caption"
SIDECAR_SUFFIXES = (TAG_SUFFIX, CAPTION_SUFFIX)
MAX_SIDECAR_BYTES = 1024 * 1024  # default limit: a caption file larger than this is not a caption

NOTE_ENCODING = "not utf-8"
NOTE_CONTROL = "control characters removed"
NOTE_TOO_LARGE = "too large"
NOTE_UNREADABLE = "unreadable"

_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# When the detector finds several decodings equally plausible, the first of these that gives the same text
# wins: the code pages of tag files from Japanese, Chinese, Korean and Russian tools (Western ones are
# recognised before the detector runs, see `_detect`).
_PREFERRED = ("cp932", "shift_jis", "euc_jp", "gb18030", "big5", "euc_kr", "cp1251")
_WESTERN_PUNCTUATION = frozenset("‘’“”–—…€°©®™«»¡¿")
_WORD = re.compile(r"[^\W\d_]+")
# C0 and C1 controls except tab, newline and carriage return (which separate tags).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class SidecarNote:
    """Something the user should know about one sidecar file (shown in the import summary)."""

    path: str
    kind: str  # NOTE_*
    detail: str


@dataclass(frozen=True)
class SidecarFile:
    """A sidecar that exists, with the stat values re-imports compare to notice edits."""

    path: str
    size: int
    mtime: float | None


@dataclass(frozen=True)
class Sidecar:
    """What the sidecars of one image said (empty when there were none)."""

    tags: tuple[str, ...] = ()
    caption: str | None = None
    files: tuple[SidecarFile, ...] = ()
    notes: tuple[SidecarNote, ...] = ()

    @property
    def has_content(self) -> bool:
        return bool(self.tags or self.caption)


def display_tag(raw: str) -> str:
    """One tag in display form (``long_hair`` -> ``long hair``, ``^_^`` kept, ``\\(`` unescaped)."""
    return normalize_tag(raw)


def parse_tags(text: str) -> tuple[str, ...]:
    """Split a tag file on commas (and newlines), normalise each tag, drop empties and duplicates."""
    seen: dict[str, None] = {}
    for part in text.replace("\r", "\n").replace("\n", ",").split(","):
        tag = display_tag(part)
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


def _plausible_western(text: str) -> bool:
    """Does `text` read like Western-European words (the Windows-1252 reading of a file)?

    Every non-ASCII character must be a Latin letter or common typographic punctuation, and no word of four or
    more letters may consist only of accented letters: that is what Cyrillic (cp1251), Chinese, Japanese and
    Korean bytes look like when read as Windows-1252 (``äëèííûå``, ``ÆüËÜ¸ì``), and never like French, German,
    Spanish or Portuguese tags (a unit test checks both sides).
    """
    for char in text:
        if ord(char) < 128 or char in _WESTERN_PUNCTUATION:
            continue
        if not (char.isalpha() and "LATIN" in unicodedata.name(char, "")):
            return False
    return not any(len(word) >= 4 and all(ord(c) >= 128 for c in word) for word in _WORD.findall(text))


def _detect(data: bytes) -> tuple[str, str]:
    """(text, encoding name) of bytes that are not UTF-8 and have no BOM.

    Tag files are short: a detector sees a few accented letters and, as often as not, prefers a multi-byte
    Asian reading (charset-normalizer reads Latin-1 ``brûlée`` as Big5). So the Windows-1252 reading (a
    superset of Latin-1's letters) is taken first when it reads like Western words; anything else is left to
    charset-normalizer, preferring the common code pages among its equally plausible answers.
    """
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and _plausible_western(western):
        return western, "cp1252"

    from charset_normalizer import from_bytes  # imported here: only non-UTF-8 files pay for it

    matches = list(from_bytes(data))
    if not matches:
        return data.decode("cp1252", errors="replace"), "cp1252 (guessed)"
    best_chaos = min(match.chaos for match in matches)
    plausible = [match for match in matches if match.chaos <= best_chaos + 0.01]
    for encoding in _PREFERRED:
        for match in plausible:
            if encoding in match.could_be_from_charset:
                return str(match), encoding
    best = plausible[0]
    return str(best), best.encoding


def decode_text(data: bytes) -> tuple[str, str | None]:
    """Decode sidecar bytes: (text, None) for UTF-8 / ASCII, else (text, the encoding that was used)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), None if encoding == "utf-8-sig" else encoding.upper()
            except UnicodeDecodeError:
                break  # a BOM followed by something else: let detection decide
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return _detect(data)


def read_sidecar_text(path: Path, max_bytes: int = MAX_SIDECAR_BYTES) -> tuple[str | None, list[SidecarNote]]:
    """The text of one sidecar file (None when it is absent, unreadable or too large) and the notes about it."""
    name = os.fspath(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, [SidecarNote(name, NOTE_TOO_LARGE, f"{size:,} bytes > the {max_bytes:,}-byte limit: not read")]
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return None, []
    except OSError as exc:  # an unreadable sidecar is not a reason to skip its image
        return None, [SidecarNote(name, NOTE_UNREADABLE, exc.strerror or str(exc))]
    if len(data) > max_bytes:
        return None, [SidecarNote(name, NOTE_TOO_LARGE, f"grew past the {max_bytes:,}-byte limit while being read")]
    text, encoding = decode_text(data)
    notes: list[SidecarNote] = []
    if encoding is not None:
        notes.append(SidecarNote(name, NOTE_ENCODING, f"decoded as {encoding}"))
    cleaned, removed = _CONTROL.subn("", text)
    if removed:
        notes.append(SidecarNote(name, NOTE_CONTROL, f"{removed} NUL / control character(s) removed"))
    return cleaned, notes


def sidecar_paths(image_path: Path) -> tuple[Path, Path]:
    """``<stem>.txt`` and ``<stem>.caption`` beside `image_path`."""
    return image_path.with_suffix(TAG_SUFFIX), image_path.with_suffix(CAPTION_SUFFIX)


def stat_sidecars(image_path: Path) -> tuple[SidecarFile, ...]:
    """The sidecars of `image_path` that exist, with size and mtime."""
    found: list[SidecarFile] = []
    for path in sidecar_paths(image_path):
        try:
            info = path.stat()
        except OSError:
            continue
        found.append(SidecarFile(os.fspath(path), info.st_size, info.st_mtime))
    return tuple(found)


def read_sidecars(image_path: Path, max_bytes: int = MAX_SIDECAR_BYTES) -> Sidecar:
    """Read ``<stem>.txt`` and ``<stem>.caption`` next to `image_path`."""
    files = stat_sidecars(image_path)
    if not files:
        return Sidecar()
    tag_path, caption_path = sidecar_paths(image_path)
    tag_text, tag_notes = read_sidecar_text(tag_path, max_bytes)
    caption_text, caption_notes = read_sidecar_text(caption_path, max_bytes)
    caption = " ".join(caption_text.split()) if caption_text else None
    return Sidecar(
        tags=parse_tags(tag_text) if tag_text else (),
        caption=caption or None,
        files=files,
        notes=(*tag_notes, *caption_notes),
    )
