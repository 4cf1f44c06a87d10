"""Image-ID lists: what every `--ids` option takes (`1,2,5-9`, repeatable)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from lorairo.services.filter_language.model import IdListError

_RANGE_RE = re.compile(r"(\d+)-(\d+)")


class IdList(NamedTuple):
    """Parsed `--ids`: every ID in the order given, and which were named one by one (not by a range)."""

    ids: tuple[int, ...]
    named: frozenset[int]


def parse_ids(values: str | Iterable[str], option: str = "--ids") -> IdList:
    """Image IDs from `1,2,5-9` (commas, spaces or newlines; ranges inclusive; repeated options add up), in
    the order given, without repeats. Raises IdListError naming the part that is not an ID or a range."""
    items = [values] if isinstance(values, str) else list(values)
    out: dict[int, None] = {}
    named: set[int] = set()
    for value in items:
        for part in re.split(r"[,\s]+", value):
            if not part:
                continue
            if part.isdigit():
                out[int(part)] = None
                named.add(int(part))
                continue
            match = _RANGE_RE.fullmatch(part)
            if match is None:
                raise IdListError(f"{option}: {part!r} is not an image ID or a range (e.g. {option} 1,2,5-9)")
            low, high = int(match.group(1)), int(match.group(2))
            if low > high:
                raise IdListError(f"{option}: the range {part!r} runs backwards (write {high}-{low})")
            out.update(dict.fromkeys(range(low, high + 1)))
    if not out:
        raise IdListError(f"{option}: no image IDs given (e.g. {option} 1,2,5-9)")
    return IdList(tuple(out), frozenset(named))
