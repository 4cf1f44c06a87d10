"""CLI start-up benchmark: wall time of `lorairo` commands against a bare Python start, in the same run.

Run from the repository root:

    uv run python bench/cli_startup.py --repeat 7 [--before /work/main/src]

Each command runs `--repeat` times in a fresh process (the median is shown) against a throw-away config and
projects folder; the reference is `python -c pass` with the same interpreter. `uv run lorairo --version` adds
uv's own start (it checks the lock file) and is measured too when uv is on PATH. The last table is what
`python -X importtime` says the heaviest top-level imports of `lorairo --version` and `lorairo project list`
cost (cumulative milliseconds), so a new module-level import of a heavy library shows up here.
`--before SRC` also times the same commands with another checkout's `src` first on PYTHONPATH (e.g. the code
before this change), in the same run, as a second column.

Target (issue 13): every command starts in under a second; `--version` and `--help` load no database,
imaging or model library (tests/integration/test_cli_startup.py checks the latter without timing).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS: list[tuple[str, list[str]]] = [
    ("lorairo --version", ["-m", "lorairo", "--version"]),
    ("lorairo --help", ["-m", "lorairo", "--help"]),
    ("lorairo export --help", ["-m", "lorairo", "export", "--help"]),
    ("lorairo config path", ["-m", "lorairo", "config", "path"]),
    ("lorairo config set log.level INFO", ["-m", "lorairo", "config", "set", "log.level", "INFO"]),
    ("lorairo project list", ["-m", "lorairo", "project", "list", "--json"]),
    ("lorairo query --project bench --json", ["-m", "lorairo", "query", "--project", "bench", "--json"]),
    ("tag-db --help", ["-c", "from genai_tag_db_tools.cli import main; main()", "--help"]),
]
HEAVY = ("alembic", "sqlalchemy", "PIL", "numpy", "rich", "typer", "pydantic", "loguru", "tomlkit")


def _time(argv: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of a fresh process. On a shared, loaded machine the CPU
    time is the steadier figure: wall time includes waiting for a core."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def _import_costs(args: list[str], env: dict[str, str]) -> dict[str, int]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args], env=env, capture_output=True, text=True, check=True
    )
    costs: dict[str, int] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.split("|"))
        if name in HEAVY:  # top-level package lines only (indented names are submodules)
            costs[name] = max(costs.get(name, 0), int(cumulative))
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--before", type=Path, help="another checkout's src/ to compare with")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="lorairo-bench-startup-"))
    env = {k: v for k, v in os.environ.items() if k not in ("TYPER_USE_RICH",)}
    env.update(LORAIRO_CONFIG_PATH=str(home / "lorairo.toml"), LORAIRO_DATABASE_DIR=str(home / "projects"))
    try:
        subprocess.run(
            [sys.executable, "-m", "lorairo", "project", "create", "bench"],
            env=env,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        ref_wall, ref_cpu = _time([sys.executable, "-c", "pass"], env, args.repeat)
        print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
        before_env = dict(env, PYTHONPATH=str(args.before.resolve())) if args.before else None

        def cells(wall: float, cpu: float) -> str:
            return f"{wall * 1000:>7.0f} {wall / ref_wall:>6.1f}x {cpu * 1000:>7.0f} {cpu / ref_cpu:>6.1f}x"

        head = f"{'command':<38} {'wall ms':>7} {'ratio':>7} {'cpu ms':>7} {'ratio':>7}"
        print(head + ("   | before: wall, ratio, cpu, ratio" if before_env else ""))
        print(f"{'python -c pass (reference)':<38} {cells(ref_wall, ref_cpu)}")
        uv = shutil.which("uv")
        for label, argv in COMMANDS:
            line = f"{label:<38} {cells(*_time([sys.executable, *argv], env, args.repeat))}"
            if before_env and not label.startswith("tag-db"):
                line += "   | " + cells(*_time([sys.executable, *argv], before_env, args.repeat))
            print(line)
        if uv:
            timed = _time([uv, "run", "lorairo", "--version"], env, args.repeat)
            print(f"{'uv run lorairo --version':<38} {cells(*timed)}")
        print("\nheaviest top-level imports (cumulative ms, python -X importtime):")
        for label, argv in (("lorairo --version", COMMANDS[0][1]), ("lorairo project list", COMMANDS[5][1])):
            costs = _import_costs(argv, env)
            shown = ", ".join(f"{name} {us / 1000:.0f}" for name, us in sorted(costs.items(), key=lambda i: -i[1]))
            print(f"  {label}: {shown or 'none of ' + ', '.join(HEAVY)}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
