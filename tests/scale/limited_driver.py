"""A Ray driver with a memory allowance, run as a script by test_ray_memory.py.

``python limited_driver.py RAY_ADDRESS WARMUP_INPUT INPUT OUT ALLOWANCE_BYTES [--hold]``: connects to Ray, runs one
small warm-up job (Ray Data's executor and modules load once), then resets its peak RSS and embeds ``INPUT``
into the part-file folder ``OUT``. A watchdog kills the process (exit 3) as soon as its resident memory grows
more than ``ALLOWANCE_BYTES`` over where it stood, as a container's memory limit would; at the end it prints
one JSON line with the growth of its peak RSS (``VmHWM``, kept by the kernel, so no spike is missed).
``--hold`` reads the input into a list on the driver instead (what the jobs did before they streamed): the
check that the watchdog does catch a driver that holds the data.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def status(field: str) -> int:
    """A ``/proc/self/status`` memory field, in bytes."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def main(address: str, warmup: str, source: str, out: str, allowance: int, hold: bool) -> None:
    from babelcart.scale.ray_jobs import embed_catalog, init_ray

    init_ray(address)
    embed_catalog(warmup, out + "-warmup", encoder="hash:8")
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")  # the peak RSS (VmHWM) starts again from here
    base = status("VmRSS")

    def watchdog() -> None:
        while True:
            rss = status("VmRSS")
            if rss > base + allowance:
                print(json.dumps({"killed": True, "growth": rss - base}), flush=True)
                os._exit(3)
            time.sleep(0.005)

    threading.Thread(target=watchdog, daemon=True).start()
    if hold:
        from babelcart.datasets.records import read_records

        held = list(read_records(source))
        print(json.dumps({"growth": status("VmHWM") - base, "lines": len(held)}), flush=True)
        return
    res = embed_catalog(source, out, encoder="hash:8", part_bytes=8 << 20)
    print(json.dumps({"growth": status("VmHWM") - base, "lines": res.lines, "errors": res.errors,
                      "parts": res.parts}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5], int(sys.argv[5]), hold="--hold" in sys.argv[6:])
