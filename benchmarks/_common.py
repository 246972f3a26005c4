"""Helpers shared by the benchmark scripts: result files, tables, timing, and the machine's load.

Importing this module starts a daemon thread that samples the 1-minute load average every few seconds, so
every result file says how busy the machine was while the benchmark ran (a loaded 2-core box once turned a
0.28 s training step into 24.7 s). A run is flagged busy, with a warning, when the load was above
``BUSY_LOAD`` before it started (other jobs) or rose above the CPU count + 0.5 while it ran (more runnable
threads than cores: the benchmark's own threads alone can take the load to the CPU count).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
BUSY_LOAD = 1.5  # 1-minute load average at start above which a 2-core machine is too busy for honest timings


class LoadWatch:
    """Samples ``os.getloadavg()[0]`` in a daemon thread from construction on."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self.started = time.time()
        self._every = every_s
        threading.Thread(target=self._run, daemon=True, name="load-watch").start()

    def _run(self) -> None:
        while True:
            time.sleep(self._every)
            self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, Any]:
        """Load at start, median and max over the run, and whether the run counts as busy."""
        samples = self.samples + [os.getloadavg()[0]]
        peak = max(samples)
        busy = samples[0] > BUSY_LOAD or peak > (os.cpu_count() or 1) + 0.5
        return {"load_avg_1m_start": round(samples[0], 2), "load_avg_1m_median": round(statistics.median(samples), 2),
                "load_avg_1m_max": round(peak, 2), "load_avg_now": [round(x, 2) for x in os.getloadavg()],
                "busy": busy, "wall_s": round(time.time() - self.started, 1)}


LOAD = LoadWatch()


def load_note() -> str:
    """One line for under a table: the load while the benchmark ran, loudly flagged when it was busy."""
    s = LOAD.summary()
    text = f"load average (1 min) {s['load_avg_1m_start']} at start, max {s['load_avg_1m_max']}, {os.cpu_count()} CPUs"
    if s["busy"]:
        return f"**WARNING: the machine was busy (other jobs: load > {BUSY_LOAD} at start or above the CPU count): timings are inflated.** {text}"
    return text


def machine() -> dict[str, Any]:
    """What the numbers were measured on, including the load average over the run."""
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "machine": platform.machine(), **LOAD.summary()}


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` with the machine description and load added; warn when it was busy."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    meta = machine()
    path.write_text(json.dumps({"benchmark": name, "machine": meta, **payload}, indent=2, ensure_ascii=False))
    print(load_note(), file=sys.stderr if meta["busy"] else sys.stdout)
    return path


def median_time(fn: Callable[[], object], *, repeats: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-markdown table (floats to 3 significant decimals)."""
    def fmt(x: Any) -> str:
        return f"{x:.3f}" if isinstance(x, float) else str(x)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)
