"""What the benchmarks print about the machine they ran on: the load average (the machine is shared, so every figure
is read against it) and this process's resident memory."""

from __future__ import annotations

import os


def load() -> str:
    """The 1 / 5 / 15 minute load averages, e.g. "2.1 / 1.8 / 1.5"."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def rss_mb() -> int:
    """This process's resident memory in MB (VmRSS)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0
