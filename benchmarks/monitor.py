"""Sentiment-spike alerts on a replayed real review stream: z-score vs CUSUM vs a fixed threshold.

Stream: PRDECT-ID (id) + Women's E-Commerce Clothing (en) reviews, shuffled and given synthetic timestamps
uniformly over ``--days`` days (1-day windows). Spikes are injected at known (scope, day) pairs: in the
spike window a fraction of the scope's non-negative reviews are replaced by negative reviews drawn from
the same scope (real text, rating 1-2). An alert is a true positive when its scope contains injected
reviews of an active spike (the spiked scope itself, ``all``, or its language) and its window lies in the spike or the window right after; recall counts spikes with at least
one such alert; delay is windows from spike start to the first matching alert.

    nice -n 5 .venv/bin/python benchmarks/monitor.py
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from babelcart.apps.monitor import MonitorConfig, SentimentMonitor, is_negative
from babelcart.datasets.shared import prdect_reviews, womens_clothing

DAY = 86400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def build_stream(seed: int, days: int, n_spikes: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    recs = [dict(r, lang="id") for r in prdect_reviews()] + [dict(r, lang="en") for r in womens_clothing()]
    for r in recs:
        r.pop("sentiment", None)  # use the rating for every record (same rule both datasets)
    rng.shuffle(recs)
    for r in recs:
        r["day"] = rng.randrange(days)
        r["ts_f"] = T0 + r["day"] * DAY + rng.random() * DAY
    # scopes with enough daily volume to be monitored (per-day count >= 20 on average)
    by_scope: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in recs:
        for f in ("lang", "category"):
            by_scope.setdefault((f, str(r[f])), []).append(r)
    candidates = sorted(k for k, v in by_scope.items() if len(v) / days >= 25)
    spikes: list[dict[str, Any]] = []
    used: set[tuple[str, str]] = set()
    for _ in range(n_spikes):
        scope = rng.choice([c for c in candidates if c not in used] or candidates)
        used.add(scope)
        start = rng.randrange(days // 4, days - 3)
        length = rng.choice([1, 1, 2])
        magnitude = rng.choice([0.15, 0.25, 0.4])
        affected: set[tuple[str, str]] = {scope, ("all", "all")}
        spike: dict[str, Any] = {"scope": scope, "start": start, "end": start + length - 1, "magnitude": magnitude,
                 "affected": affected}
        pool = [r for r in by_scope[scope] if is_negative(r)]
        for r in by_scope[scope]:
            if start <= r["day"] <= start + length - 1 and not is_negative(r) and rng.random() < magnitude:
                donor = rng.choice(pool)
                r["text"], r["rating"] = donor["text"], donor["rating"]
                affected.update({("lang", r["lang"]), ("category", str(r["category"]))})
        spikes.append(spike)
    recs.sort(key=lambda r: r["ts_f"])
    stream = [{"ts": r["ts_f"], "text": r["text"], "rating": r["rating"], "lang": r["lang"],
               "category": r["category"], "product_id": r.get("product_id") or r.get("product_name")}
              for r in recs]
    return stream, spikes


def score(alerts: list[dict[str, Any]], spikes: list[dict[str, Any]]) -> dict[str, float]:
    tp = 0
    first: dict[int, int] = {}
    for a in alerts:
        day = int((datetime_to_epoch(a["window_start"]) - T0) // DAY)
        scope = (a["scope"]["field"], a["scope"]["value"])
        hit = False
        for i, s in enumerate(spikes):
            if s["start"] <= day <= s["end"] + 1 and scope in s["affected"]:
                hit = True
                if scope == s["scope"]:
                    first[i] = min(first.get(i, 10**9), day - s["start"])
        tp += hit
    prec = tp / len(alerts) if alerts else 0.0
    rec = len(first) / len(spikes)
    delay = statistics.mean(first.values()) if first else float("nan")
    return {"alerts": len(alerts), "precision": prec, "recall": rec, "delay_windows": delay}


def datetime_to_epoch(iso: str) -> float:
    from babelcart.apps.monitor import parse_ts

    return parse_ts(iso)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--spikes", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    methods = {
        "zscore (z>=3)": MonitorConfig(methods=("zscore",), scopes=("lang", "category")),
        "cusum (k=0.5,h=5)": MonitorConfig(methods=("cusum",), scopes=("lang", "category")),
        "zscore+cusum": MonitorConfig(methods=("zscore", "cusum"), scopes=("lang", "category")),
        "fixed (p>=0.4)": MonitorConfig(methods=("fixed",), fixed_threshold=0.4, scopes=("lang", "category")),
        "fixed (p>=0.3)": MonitorConfig(methods=("fixed",), fixed_threshold=0.3, scopes=("lang", "category")),
    }
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    t0 = time.perf_counter()
    n_records = 0
    for seed in range(args.seeds):
        stream, spikes = build_stream(seed, args.days, args.spikes)
        n_records = len(stream)
        for name, cfg in methods.items():
            mon = SentimentMonitor(config=cfg)
            mon.replay(stream)
            rows[name].append(score(mon.alerts, spikes))
    elapsed = time.perf_counter() - t0
    summary = {}
    print(f"{n_records} reviews/stream, {args.days} daily windows, {args.spikes} injected spikes, "
          f"{args.seeds} seeds ({elapsed:.1f}s)")
    print(f"{'method':<20}{'alerts':>8}{'precision':>11}{'recall':>8}{'delay':>7}{'F1':>7}")
    for name, rs in rows.items():
        agg = {k: statistics.mean(r[k] for r in rs if r[k] == r[k]) if any(r[k] == r[k] for r in rs)
               else float("nan") for k in rs[0]}
        p, r = agg["precision"], agg["recall"]
        agg["f1"] = 2 * p * r / (p + r) if p + r else 0.0
        summary[name] = agg
        print(f"{name:<20}{agg['alerts']:>8.1f}{p:>11.3f}{r:>8.3f}{agg['delay_windows']:>7.2f}{agg['f1']:>7.3f}")
    out = Path(__file__).parent / "results" / "monitor.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "monitor", "args": vars(args), "records": n_records,
                               "results": summary, "python": sys.version.split()[0]}, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.5))
        names = list(summary)
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [summary[n]["precision"] for n in names], 0.4, label="precision")
        ax.bar([x + 0.2 for x in xs], [summary[n]["recall"] for n in names], 0.4, label="recall")
        ax.set_xticks(list(xs), names, rotation=15, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.legend()
        ax.set_title("Negative-share spike alerts (real reviews, injected spikes)")
        fig.tight_layout()
        fig.savefig(out.with_suffix(".png"), dpi=110)
    except Exception as exc:  # noqa: BLE001
        print(f"(no plot: {exc})", file=sys.stderr)


if __name__ == "__main__":
    main()
