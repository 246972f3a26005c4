"""Ranking metrics for search evaluation: nDCG@k, MRR@k, Recall@k, overall and per query language.

Pure functions over ranked id lists and graded relevance (``{doc_id: grade}``, grade > 0 is relevant).
nDCG uses gain ``2**grade - 1`` and discount ``log2(rank + 1)``; queries without any relevant document are
left out of the averages (and counted).

>>> ndcg_at_k(["a", "b"], {"b": 1}, 10)  # 1 / log2(3)
0.6309297535714575
>>> mrr_at_k(["a", "b"], {"b": 1}, 10)
0.5
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_METRICS: tuple[tuple[str, int], ...] = (("ndcg", 10), ("mrr", 10), ("recall", 1), ("recall", 10),
                                               ("recall", 100))


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain of gains listed in rank order."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """nDCG@k with gain ``2**grade - 1``; 0.0 when nothing is relevant."""
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = dcg([2.0 ** g - 1 for g in ideal])
    if idcg == 0:
        return 0.0
    seen: set[str] = set()
    gains = []
    for doc in ranked[:k]:
        g = qrels.get(doc, 0) if doc not in seen else 0
        seen.add(doc)
        gains.append(2.0 ** g - 1 if g > 0 else 0.0)
    return dcg(gains) / idcg


def mrr_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document within the top k (0.0 if none)."""
    for i, doc in enumerate(ranked[:k]):
        if qrels.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k (0.0 when nothing is relevant)."""
    relevant = {d for d, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(ranked[:k])) / len(relevant)


_FUNCS = {"ndcg": ndcg_at_k, "mrr": mrr_at_k, "recall": recall_at_k}


def metric_name(name: str, k: int) -> str:
    """``("ndcg", 10)`` → ``"nDCG@10"``."""
    return {"ndcg": "nDCG", "mrr": "MRR", "recall": "R"}[name] + f"@{k}"


def evaluate(
    run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], *,
    query_langs: Mapping[str, str | None] | None = None,
    metrics: Sequence[tuple[str, int]] = DEFAULT_METRICS,
) -> dict[str, Any]:
    """Average each metric over queries with a relevant document, overall and per query language.

    ``run``: qid → ranked doc ids (a qid missing from the run scores 0); ``qrels``: qid → {doc id: grade}.
    Returns ``{"overall": {metric: value, "queries": n}, "by_lang": {lang: {...}}, "skipped": n}``.
    """
    per_lang: dict[str, list[dict[str, float]]] = defaultdict(list)
    overall: list[dict[str, float]] = []
    skipped = 0
    for qid, rels in qrels.items():
        if not any(g > 0 for g in rels.values()):
            skipped += 1
            continue
        ranked = list(run.get(qid, []))
        row = {metric_name(m, k): _FUNCS[m](ranked, rels, k) for m, k in metrics}
        overall.append(row)
        lang = (query_langs or {}).get(qid) or "und"
        per_lang[lang].append(row)

    def mean(rows: list[dict[str, float]]) -> dict[str, float]:
        out: dict[str, float] = {"queries": float(len(rows))}
        for m, k in metrics:
            name = metric_name(m, k)
            out[name] = sum(r[name] for r in rows) / len(rows) if rows else 0.0
        return out

    return {"overall": mean(overall), "by_lang": {lg: mean(rows) for lg, rows in sorted(per_lang.items())},
            "skipped": skipped}
