"""Search evaluation: nDCG@k, MRR@k, Recall@k averaged overall and per query language.

The metric functions live in ``babelcart.apps.ranking_metrics`` (shared with recommendation); search's
``R@k`` is ``recall_at_k`` there, whose denominator is the number of relevant documents. Relevance is
graded (``{doc_id: grade}``, grade > 0 is relevant); queries without any relevant document are left out of
the averages (and counted).

>>> ndcg_at_k(["a", "b"], {"b": 1}, 10)  # 1 / log2(3)
0.6309297535714575
>>> mrr_at_k(["a", "b"], {"b": 1}, 10)
0.5
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from babelcart.apps.ranking_metrics import dcg, mrr_at_k, ndcg_at_k, recall_at_k

__all__ = ["DEFAULT_METRICS", "dcg", "evaluate", "metric_name", "mrr_at_k", "ndcg_at_k", "recall_at_k"]

DEFAULT_METRICS: tuple[tuple[str, int], ...] = (("ndcg", 10), ("mrr", 10), ("recall", 1), ("recall", 10),
                                               ("recall", 100))


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
