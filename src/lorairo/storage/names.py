"""File names that are not valid UTF-8 (Latin-1 names from old archives, bytes from other systems).

Python hands such names over as ``str`` with lone surrogates (``os.fsdecode``, PEP 383): ``caf\\udce9.png``
for the Latin-1 bytes ``caf\\xe9.png``. That form opens the file again byte for byte, so LoRAIro keeps it for
paths; but SQLite, JSON encoders, Qt and terminals refuse lone surrogates. Three forms, one place:

- :func:`to_db_text` / :func:`from_db_text`: a lossless, valid-UTF-8 form for the database (each escaped byte
  becomes NUL + two hex digits; NUL cannot occur in a real path, so the form is unambiguous);
- :func:`display_name`: what people see (the undecodable bytes become U+FFFD replacement characters);
- :func:`safe_name`: a file name every platform and every trainer accepts (export, copies in the project).
"""

from __future__ import annotations

import re

_SURROGATE = re.compile(r"[\udc80-\udcff]")
_DB_ESCAPE = re.compile(r"\x00([0-9a-f]{2})")
_REPLACEMENT = "\ufffd"


def has_undecodable(name: str) -> bool:
    """True when `name` carries bytes that were not valid UTF-8 (surrogate-escaped)."""
    return _SURROGATE.search(name) is not None


def to_db_text(value: str) -> str:
    """A surrogate-escaped path as valid UTF-8 text that :func:`from_db_text` turns back into it exactly."""
    if not has_undecodable(value):
        return value
    return _SURROGATE.sub(lambda m: f"\x00{ord(m.group()) - 0xDC00:02x}", value)


def from_db_text(value: str) -> str:
    """Inverse of :func:`to_db_text`."""
    if "\x00" not in value:
        return value
    return _DB_ESCAPE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), value)


def display_name(name: str) -> str:
    """`name` for people: bytes that were not UTF-8 shown as U+FFFD (``caf\\udce9.png`` -> ``caf\ufffd.png``).

    Accepts the database form too (what raw SQL reads return), so every reader can call it."""
    name = from_db_text(name)
    return _SURROGATE.sub(_REPLACEMENT, name) if has_undecodable(name) else name


def safe_name(name: str) -> str:
    """A portable file name for `name` (export targets, copies in the project): undecodable bytes (and the
    U+FFFD that stands for them in `images.file_name`) become ``_``, then
    :func:`lorairo.storage.layout.safe_file_name`'s rules apply (reserved characters, length)."""
    from lorairo.storage.layout import safe_file_name

    return safe_file_name(name.replace(_REPLACEMENT, "_"))
