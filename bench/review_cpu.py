"""CPU time (not wall time) of two review-loop steps, so figures hold on a loaded machine.

  * the viewer's decode of a 4000 x 3000 JPEG at the view's size (932 x 699) against a full-resolution decode
    (the reference) in the same run, thread CPU, median of 7;
  * the GUI thread's work when a project-wide rename's change (the images carrying the most used tag, 64,801 of
    100k) is broadcast: `ProjectSession.notify`, then the longest single event-loop pass after it.

Reuses `bench/review.py`'s project and photos (run that once first):

    uv run python bench/review_cpu.py [--workdir /tmp/lorairo-bench-gui]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import os
import pstats
import sqlite3
import statistics
import time
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_gui", Path(__file__).with_name("gui.py"))
assert _spec is not None and _spec.loader is not None
bench_gui = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_gui)


def cpu_ms(fn: object, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.thread_time()
        fn()  # type: ignore[operator]
        times.append((time.thread_time() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lorairo-bench-gui"))
    parser.add_argument("--profile", action="store_true", help="print where the longest event-loop pass went")
    args = parser.parse_args()
    os.environ.update(bench_gui._env(args.workdir))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSize
    from PySide6.QtWidgets import QApplication

    from lorairo.gui import app as gui_app
    from lorairo.gui.widgets.viewer import decode_for_view
    from lorairo.services.changes import Changes

    gui_app.tune_interpreter()
    app = QApplication([])
    print(f"load average {os.getloadavg()[0]:.1f}")
    target = QSize(932, 699)
    for photo in sorted(args.workdir.glob("photo_4000_*.jpg"))[:2]:
        ours = cpu_ms(lambda photo=photo: decode_for_view(photo, target))
        reference = cpu_ms(lambda photo=photo: decode_for_view(photo, None))
        print(
            f"decode {photo.name} for 932x699: {ours:.1f} ms CPU, full 4000 px decode {reference:.1f} ms "
            f"({ours / reference:.2f}x)"
        )

    window = gui_app.create_window()
    window.resize(1500, 950)
    window.show()
    bench_gui.pump_until(app, lambda: window.ready, 120)
    browser = window.ensure_browser()
    window.open_project("bench")
    bench_gui.pump_until(app, lambda: browser.model.rowCount() > 0, 120)
    bench_gui.pump_for(app, 3.0)
    browser.grid.select_ids([1])
    browser.grid.flush_selection()
    bench_gui.pump_for(app, 2.0)
    conn = sqlite3.connect(args.workdir / "projects" / "bench" / "database.db")
    (tag,) = conn.execute("SELECT tag FROM tags GROUP BY tag ORDER BY count(*) DESC LIMIT 1").fetchone()
    ids = [row[0] for row in conn.execute("SELECT DISTINCT image_id FROM tags WHERE tag = ?", (tag,))]
    conn.close()
    for _ in range(3):
        changes = Changes.of(ids, tags=True)
        start = time.thread_time()
        window.session.notify(changes)
        notify = (time.thread_time() - start) * 1000
        longest, end, worst = 0.0, time.perf_counter() + 2, None
        while time.perf_counter() < end:
            profile = cProfile.Profile() if args.profile else None
            start = time.thread_time()
            if profile is not None:
                profile.enable()
            app.processEvents()
            if profile is not None:
                profile.disable()
            spent = (time.thread_time() - start) * 1000
            if spent > longest:
                longest, worst = spent, profile
        print(
            f"broadcast of a change to {len(ids):,} images ({tag!r}): notify {notify:.1f} ms CPU on the GUI "
            f"thread, longest event-loop pass after it {longest:.1f} ms CPU"
        )
        if worst is not None and longest > 50:
            pstats.Stats(worst).sort_stats("cumulative").print_stats(12)
    window.close()


if __name__ == "__main__":
    main()
