"""Deterministic fault injection for the crash tests (``tests/faults``): a process kills itself, or gets a
"disk full", at the Nth pass through a named point, instead of a test racing a timer against it.

Set ``LORAIRO_FAULTS`` to comma-separated ``POINT=N:ACTION`` entries, e.g. ``commit=3:kill`` (SIGKILL this
process just before its 3rd database write commit), ``committed=3:kill`` (just after it) or
``commit=2:enospc`` (the 2nd commit fails as SQLite does on a full disk). Points: ``commit`` / ``committed``
(every write transaction, ``database/engine.py``: import, annotate, batch import) and ``export.item`` (each
exported image, ``services/export_service.py``).
Unset (always, outside the tests), :func:`fault_point` is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections import Counter

ENV = "LORAIRO_FAULTS"
KILL = "kill"
ENOSPC = "enospc"


def _parse(spec: str) -> dict[str, tuple[int, str]]:
    plan: dict[str, tuple[int, str]] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        point, _, rest = entry.partition("=")
        count, _, action = rest.partition(":")
        plan[point] = (int(count), action or KILL)
    return plan


_PLAN = _parse(os.environ.get(ENV, ""))
_seen: Counter[str] = Counter()


def fault_point(point: str) -> None:
    """Count a pass through `point` and act when the plan says so (nothing when no plan is set)."""
    if not _PLAN or point not in _PLAN:
        return
    _seen[point] += 1
    count, action = _PLAN[point]
    if _seen[point] != count:
        return
    if action == KILL:
        os.kill(os.getpid(), signal.SIGKILL)
    if action == ENOSPC:  # what SQLite raises when a commit cannot grow the file
        raise sqlite3.OperationalError("database or disk is full")
