"""The one worker helper: results, progress, partial results, cancellation and error reporting."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt, QTimer

from lorairo.exceptions import ProjectError
from lorairo.gui.workers import JobContext, JobError, JobManager


@pytest.fixture
def jobs(qtbot):  # type: ignore[no-untyped-def]
    manager = JobManager()
    yield manager
    manager.shutdown()


def test_result_progress_and_partial_reach_the_gui_thread(qtbot, jobs: JobManager) -> None:
    gui_thread = threading.get_ident()
    seen: dict[str, list] = {"progress": [], "partial": [], "threads": []}

    def work(ctx: JobContext) -> int:
        seen["threads"].append(threading.get_ident())
        for i in range(1, 4):
            ctx.emit([i])
            ctx.progress(i, 3, f"item {i}")
        return 42

    results: list[int] = []
    job = jobs.submit(
        "count",
        work,
        on_result=results.append,
        on_progress=lambda d, t, m: seen["progress"].append((d, t, m)),
        on_partial=seen["partial"].append,
    )
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert results == [42]
    assert seen["threads"][0] != gui_thread
    assert seen["partial"] == [[1], [2], [3]]
    assert seen["progress"][-1] == (3, 3, "item 3")  # the final report is never throttled away


def test_a_throttled_report_is_sent_before_the_next_batch_and_before_the_end(qtbot, jobs: JobManager) -> None:  # type: ignore[no-untyped-def]
    """An import bar said 6/13 while the grid showed 9 images: the report after a batch was throttled away."""
    events: list[object] = []

    def work(ctx: JobContext) -> None:
        ctx.progress(1, 10, "one")
        ctx.progress(2, 10, "two")  # within the throttle's interval of the first (or sent: either way, before)
        ctx.emit("batch")
        ctx.progress(3, 10, "three")
        ctx.progress(4, 10, "four")  # cancelled here: the bar still ends on what was done

    job = jobs.submit("import", work, on_progress=lambda d, _t, _m: events.append(d), on_partial=events.append)
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert events[events.index("batch") - 1] == 2
    assert events[-1] == 4


def test_cancel_sets_the_event_the_function_sees(qtbot, jobs: JobManager) -> None:
    started = threading.Event()

    def work(ctx: JobContext) -> str:
        started.set()
        ctx.cancel.wait(5)
        return "stopped" if ctx.cancelled else "ran out"

    results: list[str] = []
    job = jobs.submit("wait", work, on_result=results.append)
    assert started.wait(5)
    assert [j.name for j in jobs.running()] == ["wait"]
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.cancel()
    assert results == ["stopped"]
    assert jobs.running() == []


def test_every_error_reaches_error_reported_with_a_clear_message(qtbot, jobs: JobManager) -> None:
    def boom(_ctx: JobContext) -> None:
        raise ProjectError("no project named 'x' in /tmp")

    def crash(_ctx: JobContext) -> None:
        raise ZeroDivisionError("division by zero")

    reported: list[JobError] = []
    jobs.error_reported.connect(reported.append)
    for name, fn in (("open", boom), ("compute", crash)):
        job = jobs.submit(name, fn)
        with qtbot.waitSignal(job.finished, timeout=5000):
            pass
    assert [(e.job_name, e.message) for e in reported] == [
        ("open", "no project named 'x' in /tmp"),
        ("compute", "ZeroDivisionError: division by zero"),
    ]
    assert "Traceback" in reported[1].details


@pytest.mark.parametrize("fails", [False, True])
def test_no_event_loop_turn_shows_an_outcome_while_the_job_still_runs(qtbot, jobs: JobManager, fails: bool) -> None:  # type: ignore[no-untyped-def]
    """A panel shows "Cancelled …" from on_result and disables Cancel in on_finished: no turn of the event loop
    may come between them. The hook holds the worker thread right after it hands over the outcome, so a
    separate `finished` event could not have been sent when the GUI thread next looks."""
    release = threading.Event()
    held: list[str] = []

    def hold_after_outcome(event: tuple) -> None:  # runs in the worker thread, after the GUI was sent the event
        if event[1] in ("end", "result", "error") and not held:
            held.append(event[1])
            release.wait(5)

    jobs._dispatcher.job_event.connect(hold_after_outcome, Qt.ConnectionType.DirectConnection)
    seen_next_turn: list[tuple[bool, bool]] = []

    def next_turn() -> None:
        seen_next_turn.append((job.done, job in jobs.running()))
        release.set()

    def work(_ctx: JobContext) -> str:
        if fails:
            raise ProjectError("disk full")
        return "ok"

    job = jobs.submit("run", work)
    (job.error if fails else job.result).connect(lambda _value: QTimer.singleShot(0, next_turn))
    qtbot.waitUntil(lambda: bool(seen_next_turn), timeout=5000)
    release.set()
    assert seen_next_turn == [(True, False)]


def test_write_pool_runs_one_job_at_a_time(qtbot, jobs: JobManager) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def write(_ctx: JobContext) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        threading.Event().wait(0.02)
        with lock:
            active -= 1

    for i in range(4):
        jobs.submit(f"write {i}", write, pool="write")
    assert jobs.wait(5000)
    qtbot.waitUntil(lambda: not jobs.running(), timeout=5000)
    assert peak == 1


def test_signals_do_not_leak_references_to_true(qtbot) -> None:  # type: ignore[no-untyped-def]
    """PySide6 6.12.0 dropped a reference to True on every emit; after a few thousand the app aborted.

    5,000 emits would drop 5,000 references on an affected PySide6; unrelated objects freed meanwhile move the
    count by far less, and the garbage collector is paused so it cannot free a batch of them mid-measurement.
    """
    import gc
    import sys

    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        fired = Signal(object)

    emitter = Emitter()
    seen: list[object] = []
    emitter.fired.connect(seen.append)
    gc.collect()
    gc.disable()
    try:
        before = sys.getrefcount(True)
        for _ in range(5000):
            emitter.fired.emit(1)
        after = sys.getrefcount(True)
    finally:
        gc.enable()
    assert len(seen) == 5000
    assert after >= before - 500


def test_the_viewer_lane_puts_the_shown_image_before_queued_prefetches(qtbot, jobs: JobManager) -> None:  # type: ignore[no-untyped-def]
    """The image asked for goes before queued prefetches of its neighbours: with every viewer thread busy, the
    one thread that comes free takes the shown image's decode first, though it was queued last."""
    from lorairo.gui.workers import PRIORITY_LATER, PRIORITY_NOW, VIEWER_THREADS

    releases = [threading.Event() for _ in range(VIEWER_THREADS)]
    started = threading.Semaphore(0)

    def blocker(event: threading.Event) -> None:
        started.release()
        event.wait(10)

    for event in releases:
        jobs.submit("prefetch running", lambda _ctx, event=event: blocker(event), pool="viewer")
    for _ in releases:
        assert started.acquire(timeout=5)
    order: list[str] = []
    prefetch = jobs.submit("prefetch", lambda _ctx: order.append("prefetch"), pool="viewer", priority=PRIORITY_LATER)
    shown = jobs.submit("decode shown", lambda _ctx: order.append("shown"), pool="viewer", priority=PRIORITY_NOW)
    try:
        releases[0].set()  # one thread comes free; the other stays busy, so the two run one after the other
        with qtbot.waitSignal(prefetch.finished, timeout=5000):
            pass
        assert shown.done and order == ["shown", "prefetch"]
    finally:
        for event in releases:
            event.set()


def test_a_viewer_decode_finishes_while_every_shared_thread_is_blocked(qtbot, jobs: JobManager) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()
    for n in range(8):
        jobs.submit(f"tags panel count {n}", lambda _ctx: release.wait(10))
    decoded = jobs.submit("decode shown", lambda _ctx: "image", pool="viewer")
    try:
        with qtbot.waitSignal(decoded.result, timeout=5000) as blocker:
            pass
        assert blocker.args == ["image"]
    finally:
        release.set()
