"""A Ray job over an input several times larger than its driver may grow completes, with part files.

The driver runs in a subprocess connected to the test's local Ray (tests/scale/limited_driver.py): a watchdog
kills it when its resident memory grows more than ALLOWANCE, and its kernel-kept peak RSS must stay under it.
The input is INPUT_BYTES (3x the allowance) of catalog lines; a driver that reads the input into a list (the
old ``_source_records``) grows about 4x the input: the test checks that the watchdog kills that one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import babelcart

pytestmark = [pytest.mark.slow, pytest.mark.ray,
              pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")]

ALLOWANCE = 32 << 20
INPUT_BYTES = 3 * ALLOWANCE


def _catalog(path: Path, size: int) -> int:
    """Write at least ``size`` bytes of JSONL products (16 kB each: a title and a long description)."""
    desc = "leichtes Sommerkleid aus Baumwolle, " * 450
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        while fh.tell() < size:
            fh.write(json.dumps({"id": f"p{n}", "text": f"product {n}", "description": desc},
                                ensure_ascii=False) + "\n")
            n += 1
    return n


def test_driver_memory_stays_flat_over_an_input_larger_than_its_allowance(local_ray: str, tmp_path: Path) -> None:
    warmup, big = tmp_path / "warmup.jsonl", tmp_path / "catalog.jsonl"
    _catalog(warmup, 1)
    lines = _catalog(big, INPUT_BYTES)
    assert big.stat().st_size > 2 * ALLOWANCE
    src = str(Path(babelcart.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    driver = Path(__file__).with_name("limited_driver.py")

    def run(out: str, *extra: str) -> tuple[int, dict[str, Any], str]:
        proc = subprocess.run([sys.executable, str(driver), local_ray, str(warmup), str(big), str(tmp_path / out),
                               str(ALLOWANCE), *extra], capture_output=True, text=True, env=env, timeout=600)
        report = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
        return proc.returncode, report[-1] if report else {}, proc.stderr[-3000:]

    rc, held, _ = run("held", "--hold")  # the watchdog does stop a driver that holds the input
    assert rc == 3 and held["killed"], held
    rc, got, err = run("out")
    assert rc == 0, (got, err)
    assert got["growth"] < ALLOWANCE, got
    assert (got["lines"], got["errors"]) == (lines, 0) and len(got["parts"]) >= 2
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text(encoding="utf-8"))
    assert manifest["parts"] == got["parts"] and manifest["lines"] == lines
    last = (tmp_path / "out" / got["parts"][-1]).read_text(encoding="utf-8").splitlines()[-1]
    assert json.loads(last)["_line"] == lines
