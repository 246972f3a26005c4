"""Ranking metrics shared by search and recommendation evaluation: Recall@k, capped Recall@k, nDCG@k, MRR@k.

Relevance is either graded (``{id: grade}``, grade > 0 is relevant) or a set of relevant ids (grade 1).
Denominators, stated once because they differ between fields:

- ``recall_at_k``: hits in the top k / **|relevant|** (search's R@k; a query with 50 relevant documents
  cannot reach 1 at k = 10).
- ``capped_recall_at_k``: hits in the top k / **min(k, |relevant|)** (the recommendation convention: a perfect
  list of k items scores 1 even when the user bought more than k items). The recommendation benchmark's
  "Recall@10" is this one.
- ``ndcg_at_k``: gain ``2**grade - 1`` (1 for a set), discount ``log2(rank + 1)``, divided by the ideal DCG of
  the top k relevant grades; a repeated id counts once.
- ``mrr_at_k``: 1 / rank of the first relevant id in the top k.

All return 0.0 when nothing is relevant.

>>> recall_at_k(["a", "b"], {"b", "c", "d"}, 2), capped_recall_at_k(["a", "b"], {"b", "c", "d"}, 2)
(0.3333333333333333, 0.5)
>>> ndcg_at_k(["a", "b"], {"b": 1}, 10)  # 1 / log2(3)
0.6309297535714575
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

Relevance = Mapping[str, int] | AbstractSet[str]


def _grades(relevant: Relevance) -> Mapping[str, int]:
    return relevant if isinstance(relevant, Mapping) else dict.fromkeys(relevant, 1)


def _relevant_ids(relevant: Relevance) -> set[str]:
    return {d for d, g in _grades(relevant).items() if g > 0}


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain of gains listed in rank order."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranked: Sequence[str], relevant: Relevance, k: int) -> float:
    """nDCG@k with gain ``2**grade - 1`` (binary for a set); 0.0 when nothing is relevant."""
    grades = _grades(relevant)
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = dcg([2.0 ** g - 1 for g in ideal])
    if idcg == 0:
        return 0.0
    seen: set[str] = set()
    gains = []
    for doc in ranked[:k]:
        g = grades.get(doc, 0) if doc not in seen else 0
        seen.add(doc)
        gains.append(2.0 ** g - 1 if g > 0 else 0.0)
    return dcg(gains) / idcg


def mrr_at_k(ranked: Sequence[str], relevant: Relevance, k: int) -> float:
    """Reciprocal rank of the first relevant id within the top k (0.0 if none)."""
    grades = _grades(relevant)
    for i, doc in enumerate(ranked[:k]):
        if grades.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall_at_k(ranked: Sequence[str], relevant: Relevance, k: int) -> float:
    """Relevant ids found in the top k / |relevant| (0.0 when nothing is relevant)."""
    rel = _relevant_ids(relevant)
    return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0


def capped_recall_at_k(ranked: Sequence[str], relevant: Relevance, k: int) -> float:
    """Relevant ids found in the top k / min(k, |relevant|), so a perfect top-k list scores 1."""
    rel = _relevant_ids(relevant)
    return len(rel & set(ranked[:k])) / min(k, len(rel)) if rel else 0.0
