"""GUI-thread CPU time of showing tag chips (issue 20: Ctrl+A over 1M images stalled on 80 chips).

Offscreen Qt, the app's Fusion style and palette, a 420 px wide details-like column (a scroll area holding a group
box with the chip area, as the details panel does), shown. Each round replaces the chips with another set and
processes events until Qt has made, laid out and painted them; the figures are the GUI thread's CPU time
(`time.thread_time`) for the call, for the events after it, their total, and the longest single event-loop turn
(the call included: what the user waits for at once), median (and min) over the rounds:

  * `set_counts(80)`: a multi-selection's 80 most common tags with "n/total" (what Ctrl+A shows);
  * `set_tags(400)`: one image with 400 tags (the most chips one image shows);
  * `set_tags(25)`: a typical image.

    QT_QPA_PLATFORM=offscreen uv run python bench/tag_chips.py [--rounds 15]

Before/after: run it with another checkout's `src` first on PYTHONPATH (`git archive REV src | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CATEGORIES = ["general", "general", "general", "character", "copyright", "artist", "meta", None]
WORDS = ["long", "hair", "blue", "eyes", "smile", "outdoors", "sky", "looking", "at", "viewer", "school", "uniform"]


def tag_name(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))) + f" {rng.randint(0, 9999)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication, QGroupBox, QScrollArea, QVBoxLayout, QWidget

    from lorairo.gui.palette import apply_palette
    from lorairo.gui.widgets.details import tag_chips
    from lorairo.gui.widgets.details.tag_chips import TagChipArea
    from lorairo.services.image_details import TagCount, TagInfo

    app = QApplication([])
    apply_palette(app, dark=False)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    column = QWidget()
    box = QGroupBox("Tags", column)
    area = TagChipArea(box)
    QVBoxLayout(box).addWidget(area)
    outer = QVBoxLayout(column)
    outer.addWidget(box)
    outer.addStretch(1)
    scroll.setWidget(column)
    scroll.resize(420, 900)
    scroll.show()

    def settle() -> None:
        for _ in range(4):
            app.processEvents()
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    settle()
    rng = random.Random(20)

    def counts() -> list[TagCount]:
        return [TagCount(tag_name(rng), rng.choice(CATEGORIES), rng.randint(1, 1_000_300)) for _ in range(120)]

    def infos(n: int) -> list[TagInfo]:
        sources = ["manual", "model", "import"]
        return [
            TagInfo(i, tag_name(rng), rng.choice(CATEGORIES), rng.choice(sources), "wd-vit-tagger-v3", 0.8)
            for i in range(n)
        ]

    def measure(show: Callable[[], None]) -> tuple[float, float, float]:
        """(the call, the events after it until every chip is made, laid out and painted, the longest single
        event-loop turn including the call): the GUI thread's CPU seconds."""
        t0 = time.thread_time()
        show()
        call = time.thread_time() - t0
        longest, after = call, 0.0
        building = getattr(area, "building", lambda: False)
        turns = 0
        while turns < 4 or building():
            t1 = time.thread_time()
            app.processEvents()
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            turn = time.thread_time() - t1
            longest, after, turns = max(longest, turn), after + turn, turns + 1
        return call, after, longest

    cases: dict[str, Callable[[], Callable[[], None]]] = {
        "set_counts_80": lambda: lambda c=counts(): area.set_counts(c, 1_000_300),  # type: ignore[misc]
        "set_tags_400": lambda: lambda t=infos(400): area.set_tags(t),  # type: ignore[misc]
        "set_tags_25": lambda: lambda t=infos(25): area.set_tags(t),  # type: ignore[misc]
    }
    results: dict[str, object] = {"module": tag_chips.__file__, "loadavg": os.getloadavg()}
    for name, make in cases.items():
        calls, events, totals, turns = [], [], [], []
        measure(make())  # warm-up (first use of fonts, style)
        for _ in range(args.rounds):
            call, after, longest = measure(make())
            calls.append(call * 1000)
            events.append(after * 1000)
            totals.append((call + after) * 1000)
            turns.append(longest * 1000)
        results[name] = {
            "call_ms_median": round(statistics.median(calls), 1),
            "events_ms_median": round(statistics.median(events), 1),
            "total_ms_median": round(statistics.median(totals), 1),
            "total_ms_min": round(min(totals), 1),
            "longest_turn_ms_median": round(statistics.median(turns), 1),
        }
    results["loadavg_end"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
