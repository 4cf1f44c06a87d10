"""The review loop's speed on a generated project (figures go in docs/benchmarks.md, "Review loop").

    uv run python bench/review.py [--images 100000] [--workdir /tmp/lorairo-bench-gui]

Uses bench/gui.py's generated project (same workdir: generated once) and measures, against issue 15's targets:
  * opening the viewer on a 4000 x 3000 JPEG until it is painted (< 150 ms), and the next image (< 100 ms)
  * adding a tag in the details panel until its chip appears (< 50 ms)
  * the dataset tags panel filled (< 500 ms at 100k images)
  * a project-wide rename of a tag on ~50k images and its undo: the longest GUI stall (< 100 ms) and how long
    until the tags panel shows the new counts
  * the whole-decode reference: the same JPEG decoded at full size in the same run (what the viewer avoids)
Every GUI-thread stall is measured with bench/gui.py's 10 ms timer.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_gui", HERE / "gui.py")
assert _spec is not None and _spec.loader is not None
bench_gui = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_gui)


def make_photos(workdir: Path, count: int = 4) -> list[Path]:
    """4000 x 3000 JPEGs with detail (noise), like a camera's."""
    from PIL import Image

    paths = []
    for n in range(count):
        path = workdir / f"photo_4000_{n}.jpg"
        if not path.is_file():
            noise = Image.effect_noise((1000, 750), 40 + n * 10).convert("RGB").resize((4000, 3000))
            noise.save(path, quality=90)
        paths.append(path)
    return paths


def point_images_at(root: Path, photos: list[Path]) -> list[int]:
    """Images 1..len(photos) of the project read these files (absolute paths: referenced in place)."""
    conn = sqlite3.connect(root / "database.db")
    ids = list(range(1, len(photos) + 1))
    for image_id, path in zip(ids, photos, strict=True):
        conn.execute(
            "UPDATE images SET file_path = ?, width = 4000, height = 3000, format = 'JPEG' WHERE id = ?",
            (str(path), image_id),
        )
    conn.commit()
    conn.close()
    return ids


class GcPauses:
    """Garbage collections while measuring: a full collection runs in whichever thread triggers it and holds the
    GIL throughout, so one in a worker stalls the GUI thread as long as it takes."""

    def __init__(self) -> None:
        import gc

        self.started = 0.0
        self.pauses: list[tuple[int, float]] = []
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], (time.perf_counter() - self.started) * 1000))

    def take(self) -> dict[str, object]:
        pauses, self.pauses = self.pauses, []
        full = [ms for generation, ms in pauses if generation == 2]
        return {
            "gc_collections": len(pauses),
            "gc_full": len(full),
            "gc_longest_ms": round(max((ms for _g, ms in pauses), default=0.0), 1),
        }


def run(workdir: Path) -> dict[str, object]:
    from PySide6.QtCore import QSize

    from lorairo.gui.widgets.viewer import decode_for_view

    app, window = bench_gui.launch_window(workdir)
    pump_until, pump_for = bench_gui.pump_until, bench_gui.pump_for
    browser = window.ensure_browser()
    window.open_project("bench")
    pump_until(app, lambda: browser.model.rowCount() > 0, 60)
    pump_for(app, 2.0)
    review = window.review
    panel = window.panels["DetailsPanel"]
    stall = bench_gui.StallDetector()
    if os.environ.get("BENCH_TRACE_STALLS"):
        stall.watch()
    results: dict[str, object] = {"images": browser.model.rowCount()}

    # viewer: open on the first image (a 4000 px JPEG), then next / next / next
    view = review.viewer.view
    browser.grid.view.setCurrentIndex(browser.model.index(0))
    opens, nexts = [], []
    for _round in range(3):
        review.viewer.cache.clear()  # a cold open: nothing decoded before
        stall.start()
        t0 = time.perf_counter()
        review.open_current()
        pump_until(app, lambda: view.has_image, 10)
        app.processEvents()  # the paint
        opens.append(time.perf_counter() - t0)
        for _ in range(3):
            pump_for(app, 0.5)  # the user looks at the image a moment (the viewer prefetches the next meanwhile)
            t0 = time.perf_counter()
            review.move(1)
            pump_until(app, lambda: view.has_image, 10)
            app.processEvents()
            nexts.append(time.perf_counter() - t0)
        figures = stall.stop()
        review.show_grid()
        browser.grid.view.setCurrentIndex(browser.model.index(0))
        pump_for(app, 1.0)  # the details preview (back on with the grid) is decoded before the next round
    decoded = view.decoded_size()
    path, _name = review._lookup(1)
    t0 = time.perf_counter()
    full = decode_for_view(path, None)
    full_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    decode_for_view(path, QSize(view.width(), view.height()))
    shown_s = time.perf_counter() - t0
    results["viewer"] = {
        "open_ms_median": round(statistics.median(opens) * 1000, 1),
        "open_ms_max": round(max(opens) * 1000, 1),
        "next_ms_median": round(statistics.median(nexts) * 1000, 1),
        "next_ms_max": round(max(nexts) * 1000, 1),
        "decoded_px": f"{decoded.width()}x{decoded.height()}" if decoded else None,
        "decode_at_view_size_ms": round(shown_s * 1000, 1),
        "decode_full_4000px_ms (reference)": round(full_s * 1000, 1),
        "full_px": f"{full.image.width()}x{full.image.height()}",
        **figures,
    }

    # adding a tag: Enter in the tag field until the chip is there
    browser.grid.select_ids([5])
    browser.grid.flush_selection()
    pump_until(app, lambda: panel.details is not None and panel.details.image_id == 5, 10)
    adds, stored = [], []
    stall.start()
    for n in range(10):
        tag = f"bench added {n} {time.time_ns()}"
        t0 = time.perf_counter()
        panel.tag_input.setText(tag)
        panel.view.add_from_input()
        pump_until(app, lambda t=tag: panel.chips.chip(t) is not None, 10)
        adds.append(time.perf_counter() - t0)
        pump_until(app, lambda t=tag: (c := panel.chips.chip(t)) is not None and not c.pending, 10)
        stored.append(time.perf_counter() - t0)
    results["add_tag_to_chip"] = {
        "median_ms": round(statistics.median(adds) * 1000, 1),
        "max_ms": round(max(adds) * 1000, 1),
        "stored_and_reloaded_median_ms": round(statistics.median(stored) * 1000, 1),
        "stored_and_reloaded_max_ms": round(max(stored) * 1000, 1),
        **stall.stop(),
    }
    # take them back (the project is reused by the next run)
    for _ in range(10):
        panel.undo_stack.undo()
    pump_for(app, 1.0)

    # the tags panel filled
    tags = review.tags_panel
    fills = []
    stall.start()
    for _ in range(3):
        done: list[int] = []
        tags.loaded.connect(done.append)
        t0 = time.perf_counter()
        tags.reload()
        pump_until(app, lambda d=done: bool(d), 30)
        fills.append(time.perf_counter() - t0)
        tags.loaded.disconnect(done.append)
    results["tags_panel_filled"] = {
        "tags": len(tags.counts()),
        "median_ms": round(statistics.median(fills) * 1000, 1),
        "max_ms": round(max(fills) * 1000, 1),
        **stall.stop(),
    }

    # project-wide rename of the most used tag (about half the images carry it), then undo
    import gc

    gc_pauses = GcPauses()
    results["python_objects_tracked_by_gc"] = len(gc.get_objects())
    counts = tags.counts()
    old = max(counts, key=lambda t: counts[t])
    new = "bench renamed tag"
    stall.start()
    t0 = time.perf_counter()
    panel.rename_everywhere(old, new)
    pump_until(app, lambda: tags.counts().get(new) == counts[old], 300)
    renamed_s = time.perf_counter() - t0
    rename = stall.stop()
    rename_gc = gc_pauses.take()
    stall.start()
    t0 = time.perf_counter()
    panel.undo_stack.undo()
    pump_until(app, lambda: tags.counts().get(old) == counts[old], 300)
    undo_s = time.perf_counter() - t0
    results["project_wide_rename"] = {
        "tag": old,
        "images": counts[old],
        "rename_until_panel_updated_s": round(renamed_s, 2),
        "rename_max_gap_ms": rename["max_gap_ms"],
        "undo_until_panel_updated_s": round(undo_s, 2),
        "undo_max_gap_ms": stall.stop()["max_gap_ms"],
        "rename_gc": rename_gc,
        "undo_gc": gc_pauses.take(),
    }
    if os.environ.get("BENCH_TRACE_STALLS"):
        for stack, hits in stall.stacks.most_common(8):
            sys.stderr.write(f"--- GUI thread late, sampled {hits} x:\n{stack}\n")
    window.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lorairo-bench-gui"))
    parser.add_argument("--trace-stalls", action="store_true", help="print where the GUI thread was when late")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(args.workdir)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    root = bench_gui.build_project(args.workdir, args.images)
    point_images_at(root, make_photos(args.workdir))
    print(json.dumps(bench_gui.run_child(Path(__file__), args.workdir, "--child", args.trace_stalls), indent=2))


if __name__ == "__main__":
    main()
