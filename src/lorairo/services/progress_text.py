"""Pace of a running job (images/s and time left), worded once for the CLI progress lines and the dialogs.

`lorairo export` / `lorairo import` and the export dialog all showed a rate and a time left, each with its
own arithmetic and clock format; they now share this (Qt-free, so the CLI never imports the GUI).
"""

from __future__ import annotations

from dataclasses import dataclass

UNKNOWN_CLOCK = "--:--"


def clock(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on (rounded to the second; negative counts as 0)."""
    total = max(0, int(seconds + 0.5))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class Pace:
    """`done` of `total` items after `elapsed_s` seconds."""

    done: int
    total: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        """Items per second so far (0 before the first item or the first instant)."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """At the rate so far; None while there is no rate to go by."""
        rate = self.rate
        return max(0, self.total - self.done) / rate if rate > 0 else None

    def rate_text(self, unit: str = "images") -> str:
        return f"{self.rate:.1f} {unit}/s"

    @property
    def eta_text(self) -> str:
        """The time left as a clock, ``--:--`` while unknown (the CLI's ``ETA`` column)."""
        left = self.seconds_left
        return UNKNOWN_CLOCK if left is None else clock(left)

    @property
    def left_text(self) -> str:
        """The time left in words for a status line: ``1:05 left`` or ``estimating…``."""
        left = self.seconds_left
        return "estimating…" if left is None else f"{clock(left)} left"
