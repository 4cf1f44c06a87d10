"""Desktop app benchmark on a generated 100k-image project (figures go in docs/benchmarks.md).

    uv run python bench/gui.py [--images 100000] [--workdir /tmp/lorairo-bench-gui] [--from-db DATABASE]

Measures, against the issue's targets:
  * window shown after launch (a fresh process: interpreter start, imports, QApplication, window, first paint)
  * first page of the grid after opening the project (rows of the first page + the visible thumbnails)
  * tag filter query time (ImageQueryService.query_ids, p50 / p95 over many tag filters)
  * the longest GUI-thread stall while scrolling, filtering and importing (a 10 ms QTimer records the
    largest gap between its ticks; a gap of 110 ms means the event loop was blocked for about 100 ms)
  * resident memory at the end

The project's rows are inserted directly in SQL in bulk; thumbnails are a handful of small JPEGs hard-linked
under every image's hash (what the grid reads is the same as after a real import).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The 1M project and its files (build, template copy, shared thumbnails, import folder): bench/gui_project.py.
# Re-exported here: bench/review.py, review_cpu.py, scale.py and export_scale.py use them as gui.<name>.
from gui_project import (  # noqa: E402,F401
    SHARED_THUMBS,
    VOCABULARY,
    _env,
    build_project,
    link_thumbnails,
    make_import_folder,
    project_from_template,
)


def child_launch() -> None:
    """Runs in a fresh interpreter: report seconds from the parent's spawn to the first painted window."""
    spawned = float(os.environ["BENCH_SPAWNED"])
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from lorairo.gui import app as gui_app

    app = QApplication([])
    app.setOrganizationName("LoRAIroBench")
    app.setApplicationName("LoRAIroBench")
    window = gui_app.create_window()
    figures: dict[str, float] = {}

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
            if event.type() == QEvent.Type.Paint and "window_shown_s" not in figures:
                figures["window_shown_s"] = time.time() - spawned
                QTimer.singleShot(1500, finish)  # let the late start-up (side panels) run, then measure it too
            return False

    def finish() -> None:
        figures["ready_s"] = time.time() - spawned - 1.5
        sys.stdout.write(json.dumps(figures) + "\n")
        sys.stdout.flush()
        window.close()
        app.quit()

    spy = FirstPaint()
    window.installEventFilter(spy)
    window.show()
    app.exec()


def measure_launch(workdir: Path, runs: int = 3) -> list[float]:
    figures = []
    for _ in range(runs):
        env = _env(workdir) | {"BENCH_SPAWNED": repr(time.time())}
        out = subprocess.run(
            [sys.executable, __file__, "--child-launch"], env=env, capture_output=True, text=True, check=True
        )
        line = next(line for line in out.stdout.splitlines() if line.startswith("{"))
        figures.append(json.loads(line)["window_shown_s"])
    return figures


# --- in-process GUI measurements ---------------------------------------------------------------------------


class StallDetector:
    """A 10 ms timer; the largest gap between ticks is how long the GUI thread was blocked (+10 ms)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.max_gap = 0.0
        self.gaps: list[float] = []
        self.phase = ""
        self.cpu_at_start = 0.0

    def watch(self) -> None:
        """Diagnostics (--trace-stalls): a thread samples the GUI thread's stack whenever a tick is 80 ms late
        (BENCH_TRACE_LATE_MS to change), counted per step."""
        import threading
        import traceback
        from collections import Counter

        self.stacks: Counter[str] = Counter()
        main = threading.main_thread().ident
        late_s = float(os.environ.get("BENCH_TRACE_LATE_MS", "80")) / 1000

        def sample() -> None:
            while True:
                time.sleep(0.02)
                try:
                    late = self.timer.isActive() and time.perf_counter() - self.last > late_s
                except RuntimeError:  # the timer is gone: the measured window has closed
                    return
                if late:
                    frame = sys._current_frames().get(main)
                    if frame is not None:
                        stack = traceback.format_stack(frame, limit=14)
                        shown = "".join(line for line in stack if "bench/gui.py" not in line)
                        self.stacks[f"[{self.phase or 'step'}]\n{shown}"] += 1

        threading.Thread(target=sample, daemon=True).start()

    def start(self, phase: str = "") -> None:
        self.phase = phase
        self.cpu_at_start = time.thread_time()  # the GUI thread's (start and stop run on it)
        self.last = time.perf_counter()
        self.max_gap = 0.0
        self.gaps = []
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = now - self.last
        self.gaps.append(gap)
        self.max_gap = max(self.max_gap, gap)
        self.last = now

    def stop(self) -> dict[str, float]:
        self.timer.stop()
        ordered = sorted(self.gaps) or [0.0]
        return {
            "max_gap_ms": round(self.max_gap * 1000, 1),
            "p99_gap_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1) if len(ordered) > 1 else 0.0,
            "ticks": len(self.gaps),
            "gui_cpu_ms": round((time.thread_time() - self.cpu_at_start) * 1000, 1),
        }


def pump_until(app, condition, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.002)
    return False


def pump_for(app, seconds: float) -> None:
    pump_until(app, lambda: False, seconds)


def launch_window(workdir: Path):  # type: ignore[no-untyped-def]
    """In the measuring process: the app as `lorairo` starts it, window shown, side panels attached, the
    warm-up job done (as while a user picks a project); no project open yet. Returns (app, window)."""
    os.environ.update(_env(workdir))
    from PySide6.QtWidgets import QApplication

    from lorairo.gui import app as gui_app
    from lorairo.services.configuration_service import ConfigurationService

    # The window would reopen "bench" by itself (the last project) and a timed open would measure nothing.
    ConfigurationService().update_setting("app", "open_last_project", False)
    gui_app.tune_interpreter()  # as `lorairo` does
    app = QApplication([])
    app.setOrganizationName("LoRAIroBench")
    app.setApplicationName("LoRAIroBench")
    window = gui_app.create_window()
    window.resize(1500, 950)
    window.show()
    pump_until(app, lambda: window.ready, 60)
    pump_for(app, 2.0)
    return app, window


def run_child(script: Path, workdir: Path, child_flag: str, trace_stalls: bool = False) -> dict[str, object]:
    """Run `script child_flag --workdir workdir` in a fresh interpreter with the benchmark's environment and
    return the JSON object it prints (its stderr is shown when it fails or when tracing stalls)."""
    env = _env(workdir) | ({"BENCH_TRACE_STALLS": "1"} if trace_stalls else {})
    out = subprocess.run(
        [sys.executable, str(script), child_flag, "--workdir", str(workdir)], env=env, capture_output=True, text=True
    )
    if out.returncode != 0 or trace_stalls:
        sys.stderr.write(out.stderr[-30000:])
    if out.returncode != 0:
        raise SystemExit(out.returncode)
    return dict(json.loads(next(line for line in out.stdout.splitlines() if line.startswith("{"))))


def run_gui(workdir: Path, import_folder: Path) -> dict[str, object]:
    import psutil
    from PySide6.QtCore import QPoint

    from lorairo.gui.models.image_list_model import ImageRowRole
    from lorairo.services.image_query_service import ImageQueryService, parse_filter

    app, window = launch_window(workdir)
    results: dict[str, object] = {}
    browser = window.ensure_browser()
    model = browser.model
    stall = StallDetector()
    if os.environ.get("BENCH_TRACE_STALLS"):
        stall.watch()

    process = psutil.Process()
    rss: dict[str, float] = {"window_shown": round(process.memory_info().rss / 2**20, 1)}
    review = getattr(window, "review", None)
    tags_panel = getattr(review, "tags_panel", None)
    finished_at: list[float] = []  # query_finished: the full id list and the count are in
    browser.query_finished.connect(lambda _n: finished_at.append(time.perf_counter()))
    tags_at: list[float] = []
    if tags_panel is not None:
        tags_panel.loaded.connect(lambda _n: tags_at.append(time.perf_counter()))

    # first page: from "open project" to the first page's rows and the visible thumbnails on screen
    started = time.perf_counter()
    stall.start()
    window.open_project("bench")
    pump_until(app, lambda: model.rowCount() > 0, 60)
    ids_at = time.perf_counter() - started
    pump_until(app, lambda: model.cached_row(model.image_id(0)) is not None, 60)
    rows_at = time.perf_counter() - started
    view = browser.grid.view

    def visible_rows() -> list[int]:
        rows = []
        first = max(0, view.indexAt(QPoint(8, 8)).row())
        for row in range(first, min(model.rowCount(), first + 60)):
            if view.visualRect(model.index(row)).intersects(view.viewport().rect()):
                rows.append(row)
        return rows

    def thumbs_shown() -> bool:
        rows = visible_rows()
        return bool(rows) and all(
            (r := model.data(model.index(row), ImageRowRole)) is not None and model.thumbnails.get(r.hash_value)
            for row in rows
        )

    pump_until(app, thumbs_shown, 60)
    thumbs_at = time.perf_counter() - started
    pump_until(app, lambda: bool(finished_at) and (tags_panel is None or bool(tags_at)), 120)
    results["open_project"] = {
        "first_rows_in_grid_s": round(ids_at, 3),
        "first_page_rows_s": round(rows_at, 3),
        "first_page_thumbnails_s": round(thumbs_at, 3),
        "full_id_list_and_count_s": round(finished_at[0] - started, 3) if finished_at else None,
        "tags_panel_filled_s": round(tags_at[0] - started, 3) if tags_at else None,
        "images": model.rowCount(),
        **stall.stop(),
    }
    pump_for(app, 1.0)
    rss["project_open"] = round(process.memory_info().rss / 2**20, 1)

    # scrolling: a user dragging through the grid (a screen every 50 ms) and jumping around
    bar = view.verticalScrollBar()
    stall.start()
    step = view.viewport().height()
    for i in range(120):
        bar.setValue(min(bar.maximum(), bar.value() + step))
        pump_for(app, 0.05)
        if i % 30 == 29:
            bar.setValue(random.randint(0, bar.maximum()))
    pump_for(app, 0.5)
    results["scrolling"] = stall.stop() | {"scroll_range_px": bar.maximum()}
    rss["after_scrolling"] = round(process.memory_info().rss / 2**20, 1)

    # tag filter queries: the service itself (what runs on the worker), p50 / p95
    service = ImageQueryService(window.session.project.db)
    rng = random.Random(11)
    filters = [f'"tag {rng.randint(0, 50)}"' for _ in range(20)]
    filters += [f'"tag {rng.randint(0, 300)}" "tag {rng.randint(0, 30)}"' for _ in range(20)]
    filters += [f'"tag {rng.randint(0, 100)}"|"tag {rng.randint(100, 2000)}" -"tag 0"' for _ in range(20)]
    filters += [f'"tag {rng.randint(0, 20)}" score>=6 rating:general' for _ in range(20)]
    from lorairo.gui.models.image_list_model import PAGE_SIZE

    # query_ids: the whole list as Python ints (the CLI's path); first_page: what the grid shows first
    for name, run in (
        ("tag_filter_query", lambda f: service.query_ids(f)),
        ("tag_filter_first_page", lambda f: service.first_page(f, "import", PAGE_SIZE)),
    ):
        timings = []
        for text in filters:
            t0 = time.perf_counter()
            run(parse_filter(text))
            timings.append(time.perf_counter() - t0)
        timings.sort()
        results[name] = {
            "queries": len(timings),
            "p50_ms": round(statistics.median(timings) * 1000, 1),
            "p95_ms": round(timings[int(len(timings) * 0.95) - 1] * 1000, 1),
            "max_ms": round(timings[-1] * 1000, 1),
        }

    # filtering through the window: typing filters, each answered by a worker; the GUI must stay fluid.
    # "first page shown": the grid was reset to the new result and its first row's data is there (or it is
    # empty); "result complete": query_finished (the whole id list and the count).
    stall.start()
    end_to_end, first_shown = [], []
    resets: list[float] = []
    model.modelReset.connect(lambda: resets.append(time.perf_counter()))
    filter_texts = ["tag 1", "tag 1, tag 2", "tag 3|tag 40, -tag 0", "tag 5", "tag 7, score>=5", ""] * 4
    for text in filter_texts:
        done = []
        browser.query_finished.connect(done.append)
        resets.clear()
        t0 = time.perf_counter()
        browser.filter_bar.tags.setText(text)
        browser.filter_bar.apply_now()

        def first_page_shown() -> bool:
            return bool(resets) and (model.rowCount() == 0 or model.cached_row(model.image_id(0)) is not None)

        pump_until(app, first_page_shown, 60)
        first_shown.append(time.perf_counter() - t0)
        pump_until(app, lambda d=done: bool(d), 60)
        end_to_end.append(time.perf_counter() - t0)
        browser.query_finished.disconnect(done.append)
        pump_for(app, 0.05)

    def pct(values: list[float], q: float) -> float:
        return round(sorted(values)[max(0, int(len(values) * q) - 1)] * 1000, 1)

    results["filtering_in_window"] = stall.stop() | {
        "filters": len(end_to_end),
        "first_page_shown_p50_ms": pct(first_shown, 0.5),
        "first_page_shown_p95_ms": pct(first_shown, 0.95),
        "first_page_shown_max_ms": pct(first_shown, 1.0),
        "result_complete_p95_ms": pct(end_to_end, 0.95),
        "result_complete_max_ms": pct(end_to_end, 1.0),
    }
    rss["after_filtering"] = round(process.memory_info().rss / 2**20, 1)

    # importing into the 100k project while scrolling a little
    if os.environ.get("BENCH_PHASE_FILE"):  # lets a profiler attach for just this phase
        Path(os.environ["BENCH_PHASE_FILE"]).write_text("importing")
        pump_for(app, 1.0)
    stall.start()
    t0 = time.perf_counter()
    window.import_paths([str(import_folder)])
    finished: list[object] = []
    window.imports.finished.connect(finished.append)
    while not finished and time.perf_counter() - t0 < 600:
        bar.setValue(min(bar.maximum(), bar.value() + step // 4))
        pump_for(app, 0.05)
    summary = finished[0] if finished else None
    results["importing"] = stall.stop() | {
        "files": getattr(summary, "total", None),
        "added": getattr(summary, "added", None),
        "images_per_s": round(getattr(summary, "images_per_s", 0.0), 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }

    # select all over 100k+ and the selection count
    details = getattr(window, "panels", {}).get("DetailsPanel")
    batch_chips = getattr(getattr(details, "batch", None), "chips", None)

    def chips_shown() -> int:  # the selection's tag chips in the details panel (0: not there yet)
        return len(getattr(batch_chips, "chips", []))

    stall.start("select_all")
    t0 = time.perf_counter()
    window.select_all_action.trigger()
    # past the selection debounce: the panels' work on the selection (its tags' chips) is measured too
    pump_until(app, lambda: chips_shown() > 0, 1.5)
    chips_at = time.perf_counter() - t0
    pump_for(app, max(0.0, 1.5 - chips_at))
    results["select_all"] = stall.stop() | {
        "selected": window.status.selection_label.text(),
        "tag_chips": chips_shown(),
        "tag_chips_shown_s": round(chips_at, 2) if chips_shown() else None,
    }

    # Ctrl+A again with the Annotate tab in front: its estimate over the whole selection is then wanted (behind
    # the details it is not computed), measured until the estimate is shown
    annotate = getattr(window, "panels", {}).get("AnnotatePanel")
    if annotate is not None:
        window.select_none_action.trigger()
        pools = window.jobs._pools.values()
        pump_until(app, lambda: all(pool.activeThreadCount() == 0 for pool in pools), 60)
        window.panel_docks["AnnotatePanel"].raise_()
        pump_until(app, lambda: all(pool.activeThreadCount() == 0 for pool in pools), 60)
        pump_for(app, 0.5)
        annotate.estimate.setText("")
        stall.start("select_all_annotate_shown")
        t0 = time.perf_counter()
        window.select_all_action.trigger()
        pump_until(app, lambda: "runs" in annotate.estimate.text() or "Nothing" in annotate.estimate.text(), 60)
        seconds = time.perf_counter() - t0
        pump_for(app, 0.5)
        results["select_all_annotate_shown"] = stall.stop() | {
            "tag_chips": chips_shown(),
            "estimate_shown_s": round(seconds, 2),
            "estimate": annotate.estimate.text(),
        }
        window.panel_docks["DetailsPanel"].raise_()

    # the dataset tags panel counted again (as after an edit), then the Statistics view opened (it computes only
    # when shown: the whole project's figures and the resolution scatter). Each from a quiet window: nothing
    # selected and the work Ctrl+A started (the panels' look at 1M selected images) finished.
    window.select_none_action.trigger()
    pump_for(app, 0.5)
    pools = window.jobs._pools.values()  # every pool's threads (the code before this bench had no public check)
    pump_until(app, lambda: all(pool.activeThreadCount() == 0 for pool in pools), 60)
    if tags_panel is not None:
        counted: list[int] = []
        tags_panel.loaded.connect(counted.append)
        stall.start()
        t0 = time.perf_counter()
        tags_panel.reload()
        pump_until(app, lambda: bool(counted), 60)
        seconds = time.perf_counter() - t0
        pump_for(app, 0.5)
        results["tags_panel_refresh"] = stall.stop() | {"seconds": round(seconds, 3)}
    statistics_view = getattr(review, "statistics", None)
    if statistics_view is not None:
        plotted: list[object] = []
        statistics_view.loaded.connect(plotted.append)
        stall.start()
        t0 = time.perf_counter()
        review.statistics_dock.show()
        pump_until(app, lambda: bool(plotted), 120)
        seconds = time.perf_counter() - t0
        pump_for(app, 0.5)
        results["statistics_shown"] = stall.stop() | {"seconds": round(seconds, 3)}

    results["rss_mb"] = round(process.memory_info().rss / 2**20, 1)
    results["rss_mb_by_step"] = rss
    if os.environ.get("BENCH_TRACE_STALLS"):
        for stack, hits in stall.stacks.most_common(12):
            sys.stderr.write(f"--- GUI thread late, sampled {hits} x:\n{stack}\n")
    window.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--import-files", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lorairo-bench-gui"))
    parser.add_argument(
        "--from-db",
        type=Path,
        help="copy this database made by the generator (same --images) instead of generating the project",
    )
    parser.add_argument("--trace-stalls", action="store_true", help="print where the GUI thread was when late")
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        help="processes spinning at normal priority during the GUI measurement: the same load for a before and "
        "an after run on a shared machine (other sessions' jobs come and go)",
    )
    parser.add_argument("--child-launch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-gui", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_launch:
        child_launch()
        return
    if args.child_gui:
        print(json.dumps(run_gui(args.workdir, args.workdir / "to-import")))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.from_db is not None:
        project_from_template(args.workdir, args.from_db, args.images)
    else:
        build_project(args.workdir, args.images)
    make_import_folder(args.workdir, args.import_files)
    launch = measure_launch(args.workdir)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        results = run_child(Path(__file__), args.workdir, "--child-gui", args.trace_stalls)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    results = {"window_shown_s": [round(x, 2) for x in launch], "busy_processes": args.busy, **results}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
