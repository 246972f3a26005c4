"""Helpers shared by the benchmark scripts: result files, tables, timing."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import os

    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "machine": platform.machine()}


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` with the machine description added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **payload}, indent=2, ensure_ascii=False))
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
