"""Where each exported file goes: folder layout per format, unique stems, kohya folder names."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

from lorairo.services.export.options import ExportOptions

_UNSAFE = re.compile(r'[\x00-\x1f<>:"/\\|?*]')
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def displayable(text: str) -> str:
    """``text`` as valid Unicode: bytes that were not UTF-8 (kept surrogate-escaped by import, e.g. a Latin-1
    ``caf\\xe9.png``) become U+FFFD, so the text can be written to any file system, JSON, TOML or terminal."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return text.encode("utf-8", "replace").decode("utf-8")


def safe_name(name: str, fallback: str) -> str:
    """A file or folder name that works on Windows, macOS and Linux (valid UTF-8, NFC, no separators, no
    trailing dots)."""
    text = _UNSAFE.sub("_", unicodedata.normalize("NFC", displayable(name))).strip().rstrip(". ")
    if not text or text.split(".")[0].lower() in _WINDOWS_RESERVED:
        return fallback
    return text[:150]


def kohya_folder_name(options: ExportOptions) -> str:
    """``<repeats>_<trigger> <class>`` (e.g. ``10_sks woman``): sd-scripts reads repeats from the prefix."""
    words = " ".join(w for w in (*options.trigger_words, options.class_tokens) if w)
    return safe_name(f"{options.repeats}_{words or 'images'}", f"{options.repeats}_images")


def image_subdir(options: ExportOptions) -> PurePath:
    """Folder of the images relative to the target, per format."""
    if options.format == "kohya":
        return PurePath(kohya_folder_name(options))
    if options.format in ("kohya-json", "kohya-jsonl"):
        return PurePath("images")
    if options.format == "hf":
        return PurePath("train")
    if options.format in ("simpletuner", "ai-toolkit", "diffusion-pipe", "musubi"):
        return PurePath("images")  # the config and README_TRAINING.md sit above it, never among the images
    return PurePath()  # onetrainer: the target is the concept folder


@dataclass(frozen=True)
class StemAssignment:
    stems: dict[int, str]  # image id -> stem
    renamed: tuple[tuple[int, str, str], ...]  # (image id, wanted stem, stem used)


class StemAssigner:
    """Unique stems for images taken in id order, one at a time (an export streams its selection).

    Two images never share a stem in one folder (``a.png`` and ``a.jpg`` would share ``a.txt``), compared
    case-insensitively because Windows and macOS folders are. A later image whose stem is taken gets
    ``<stem>_<image id>`` (and a counter if even that is taken), so the result is the same on every run. Holds
    only the stems used (lower-cased) and the renames.
    """

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._last_id: int | None = None
        self.renamed: list[tuple[int, str, str]] = []  # (image id, wanted stem, stem used)

    def assign(self, image_id: int, file_name: str) -> str:
        """The stem of `image_id`; ids must come in increasing order (the same stems as `assign_stems`)."""
        if self._last_id is not None and image_id <= self._last_id:
            raise ValueError(f"image ids must increase: {image_id} after {self._last_id}")
        self._last_id = image_id
        wanted = safe_name(PurePath(file_name).stem, f"image_{image_id}")
        if wanted.lower().endswith("-masklabel"):
            wanted = wanted[: -len("-masklabel")] + "_masklabel"  # OneTrainer would read it as a mask
        stem = wanted
        counter = 1
        while stem.lower() in self._used:
            stem = f"{wanted}_{image_id}" if counter == 1 else f"{wanted}_{image_id}_{counter}"
            counter += 1
        self._used.add(stem.lower())
        if stem != wanted:
            self.renamed.append((image_id, wanted, stem))
        return stem


def assign_stems(items: Iterable[tuple[int, str]]) -> StemAssignment:
    """Give every image a unique stem from its original file name (`StemAssigner`, images taken in id order)."""
    assigner = StemAssigner()
    stems = {image_id: assigner.assign(image_id, file_name) for image_id, file_name in sorted(items)}
    return StemAssignment(stems=stems, renamed=tuple(assigner.renamed))
