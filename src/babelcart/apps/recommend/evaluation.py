"""Offline evaluation on a time split: capped Recall@k, nDCG@k and coverage per method."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from babelcart.apps.ranking_metrics import capped_recall_at_k, ndcg_at_k
from babelcart.apps.recommend.events import Ev
from babelcart.apps.recommend.recommender import METHODS, Recommender
from babelcart.progress import progress


def time_split(events: Sequence[Ev], *, test_frac: float = 0.2) -> tuple[list[Ev], list[Ev]]:
    """Split by a global time cutoff: the latest ``test_frac`` of events are the test set."""
    if not 0 < test_frac < 1:
        raise ValueError("test_frac must be between 0 and 1")
    if not events:
        return [], []
    cutoff = float(np.quantile([e.ts for e in events], 1.0 - test_frac))
    return [e for e in events if e.ts < cutoff], [e for e in events if e.ts >= cutoff]


def evaluate(rec: Recommender, train: Sequence[Ev], test: Sequence[Ev], *, k: int = 10,
             methods: Sequence[str] = METHODS, show_progress: bool | None = None) -> dict[str, dict[str, float]]:
    """Recall@k (``capped_recall_at_k``), nDCG@k and catalog coverage per method.

    The relevant items are each user's test items; with ``rec.repeats`` off, only those the user had not
    seen in train. ``rec`` must be fitted on ``train``. Users only in the test period are scored too (cold
    start → popularity), so every method is judged on the same users.
    """
    seen: dict[str, set[str]] = defaultdict(set)
    for e in train:
        seen[e.user_id].add(e.item_id)
    relevant: dict[str, set[str]] = defaultdict(set)
    for e in test:
        if e.item_id in rec.index_ and (rec.repeats or e.item_id not in seen[e.user_id]):
            relevant[e.user_id].add(e.item_id)
    users = sorted(u for u, r in relevant.items() if r)
    out: dict[str, dict[str, float]] = {}
    for method in methods:
        recalls, ndcgs, shown = [], [], set()
        for u in progress(users, desc=f"eval {method}", enabled=show_progress):
            ranked = [it["id"] for it in rec.recommend_user(u, k, method=method).items]
            shown.update(ranked)
            recalls.append(capped_recall_at_k(ranked, relevant[u], k))
            ndcgs.append(ndcg_at_k(ranked, relevant[u], k))
        out[method] = {f"recall@{k}": float(np.mean(recalls)) if recalls else 0.0,
                       f"ndcg@{k}": float(np.mean(ndcgs)) if ndcgs else 0.0,
                       "coverage": len(shown) / len(rec.item_ids_), "users": len(users)}
    return out
