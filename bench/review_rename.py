"""A project-wide rename / delete of the most used tag, and their undo, on bench/review.py's 100k-image project:
how long the GUI thread can be kept from running while the write runs in a worker thread.

The main thread plays the GUI thread: a 10 ms tick that takes the GIL (like every Qt callback into Python) and
records the largest gap between ticks; the edit runs in a worker thread exactly as the app's "write" pool runs it
(`EditService.rename_everywhere` / `delete_everywhere`, then `EditCommand.undo`). Also printed: the worker thread's
CPU time and the wall time. The GIL switch interval is the app's (`lorairo.gui.app.GIL_SWITCH_INTERVAL_S`).

`--src` runs the same steps with another checkout's `src` (e.g. the previous commit: `git archive HEAD src | tar -x
-C /tmp/old`) in a child process, on its own copy of the database, right after this tree's run: a same-run
reference on a machine whose load moves.

    uv run python bench/review_rename.py --workdir /tmp/rv-bench [--src /tmp/old/src]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _env(workdir: Path, copy_name: str) -> dict[str, str]:
    env = dict(os.environ)
    env["LORAIRO_CONFIG_PATH"] = str(workdir / "config" / "lorairo.toml")
    env["LORAIRO_DATABASE_DIR"] = str(workdir / copy_name)
    return env


def copy_project(workdir: Path, copy_name: str) -> None:
    """A private copy of the project's database (the edits write; bench/review.py's project stays as it is)."""
    target = workdir / copy_name / "bench"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    source = sqlite3.connect(workdir / "projects" / "bench" / "database.db")
    dest = sqlite3.connect(target / "database.db")
    source.backup(dest)
    source.close()
    dest.close()


def timed(step: Callable[[], Any]) -> dict[str, float]:
    """Run `step` in a worker thread while this thread ticks every 10 ms; the largest gap between ticks."""
    done = threading.Event()
    cpu: list[float] = []
    failure: list[BaseException] = []

    def work() -> None:
        start = time.thread_time()
        try:
            step()
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
        cpu.append(time.thread_time() - start)
        done.set()

    worker = threading.Thread(target=work)
    start = last = time.perf_counter()
    max_gap = 0.0
    worker.start()
    while not done.is_set():
        time.sleep(0.01)
        sum(range(200))  # a Qt callback's worth of Python, needing the GIL
        now = time.perf_counter()
        max_gap, last = max(max_gap, now - last), now
    worker.join()
    if failure:
        raise failure[0]
    return {
        "wall_ms": round((time.perf_counter() - start) * 1000, 1),
        "worker_cpu_ms": round(cpu[0] * 1000, 1),
        "max_gap_ms": round(max_gap * 1000, 1),
    }


def child(workdir: Path, copy_name: str, rounds: int) -> dict[str, Any]:
    from lorairo.gui.app import GIL_SWITCH_INTERVAL_S
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.edit_service import EditCommand, EditService
    from lorairo.services.project_service import ProjectService

    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    project = ProjectService(ConfigurationService()).open("bench")
    service = EditService(project)
    conn = sqlite3.connect(workdir / copy_name / "bench" / "database.db")
    (tag, images), (second, _) = conn.execute(
        "SELECT tag, count(DISTINCT image_id) FROM tags WHERE is_rejected = 0 GROUP BY tag ORDER BY 2 DESC LIMIT 2"
    ).fetchall()
    conn.close()
    steps: dict[str, list[dict[str, float]]] = {}
    for _ in range(rounds):
        for name, edit in (
            ("rename", lambda: service.rename_everywhere(tag, "bench renamed tag")),
            ("merge", lambda: service.rename_everywhere(tag, second)),
            ("delete", lambda: service.delete_everywhere(tag)),
        ):
            result: list[Any] = []
            steps.setdefault(name, []).append(timed(lambda edit=edit, result=result: result.append(edit())))
            command = EditCommand(result[0])
            steps.setdefault(f"{name} undo", []).append(timed(lambda c=command: c.undo(service)))
    project.close()
    summary: dict[str, Any] = {"tag": tag, "images": images}
    for name, runs in steps.items():
        summary[name] = {
            key: f"{statistics.median(r[key] for r in runs):.0f} (max {max(r[key] for r in runs):.0f})"
            for key in runs[0]
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lorairo-bench-gui"))
    parser.add_argument("--src", type=Path, help="another checkout's src/ to run as the reference")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.workdir, args.child, args.rounds)))
        return
    print(f"load average at start: {Path('/proc/loadavg').read_text().strip()}")
    runs = [("this tree", None, "rename-copy-new")]
    if args.src:
        runs.append((f"reference {args.src}", args.src, "rename-copy-ref"))
    for label, src, copy_name in runs:
        copy_project(args.workdir, copy_name)
        env = _env(args.workdir, copy_name)
        if src is not None:
            env["PYTHONPATH"] = str(src)
        command = [sys.executable, __file__, "--workdir", str(args.workdir), "--rounds", str(args.rounds)]
        out = subprocess.run(
            [*command, "--child", copy_name],
            env=env,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            sys.stderr.write(out.stderr[-5000:])
            raise SystemExit(out.returncode)
        print(label, json.dumps(json.loads(out.stdout.splitlines()[-1]), indent=2))
        shutil.rmtree(args.workdir / copy_name)
    print(f"load average at end: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
