"""The pace line shared by `lorairo import`, `lorairo export` and the export dialog."""

from __future__ import annotations

from lorairo.services.progress_text import Pace, clock


def test_clock_switches_to_hours_and_rounds_to_the_second() -> None:
    assert [clock(s) for s in (0, 4.6, 59.4, 61, 3599.4, 3600, 7325, -3)] == [
        "0:00",
        "0:05",
        "0:59",
        "1:01",
        "59:59",
        "1:00:00",
        "2:02:05",
        "0:00",
    ]


def test_pace_before_and_during_a_run() -> None:
    start = Pace(0, 500, 0.0)
    assert (start.rate, start.seconds_left, start.eta_text, start.left_text) == (0.0, None, "--:--", "estimating…")
    running = Pace(100, 500, 20.0)
    assert running.rate_text() == "5.0 images/s" and running.rate_text("files") == "5.0 files/s"
    assert (running.seconds_left, running.eta_text, running.left_text) == (80.0, "1:20", "1:20 left")
    assert Pace(600, 500, 10.0).seconds_left == 0  # more done than announced (duplicates found late)
