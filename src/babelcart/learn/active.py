"""Active learning: which target-language texts a person should label next (uncertainty x diversity, per language).

>>> picked = suggest(load_model("models/rating"), pool_records, n=50)   # doctest: +SKIP

For each language of the pool, separately:

1. uncertainty ``u`` of the model on every text: ``1 - (p_top1 - p_top2)`` (classify, the margin) or, for
   ratings, the expected absolute error of the model's own median prediction, ``sum_k p_k |k - median|``,
   divided by its maximum ``K - 1`` (what MAE charges);
2. diversity: k-means with ``k = n`` over the model's vectors of those texts, and from each cluster its most
   uncertain member, so a batch covers the kinds of text in the pool (and follows its mix) instead of spending
   labels on near-duplicates of one confusing review. A first version (uncertainty-weighted greedy k-center)
   lost to random picks on the Indonesian ratings (docs/transfer.md, "Active learning").

``strategy="diversity"`` keeps step 2 without the uncertainty (the text nearest each centroid), ``"uncertainty"``
is the top-``n`` ``u`` without diversity, ``"random"`` a seeded uniform draw per language: the baselines the
benchmark compares against.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from babelcart.models.ordinal import median_decode

logger = logging.getLogger(__name__)

STRATEGIES = ("uncertainty-diversity", "diversity", "uncertainty", "random")


def uncertainty(P: np.ndarray, task: str) -> np.ndarray:
    """Per-row uncertainty in [0, 1] of class probabilities ``P`` ``[n, K]`` (see the module docstring)."""
    P = np.asarray(P, dtype=np.float64)
    if task == "rating":
        med = median_decode(P)
        k = np.arange(P.shape[1])
        return (P * np.abs(k[None, :] - med[:, None])).sum(axis=1) / max(P.shape[1] - 1, 1)
    top = np.sort(P, axis=1)[:, ::-1]
    return 1.0 - (top[:, 0] - (top[:, 1] if P.shape[1] > 1 else 0.0))


def cluster_pick(V: np.ndarray, u: np.ndarray, n: int, *, seed: int = 0) -> list[int]:
    """``n`` row indices of unit vectors ``V``: k-means with ``k = n``, then from each cluster its most uncertain
    member (ties: the one nearest the centroid). Clusters follow where the pool's mass is, so a batch covers
    the kinds of text the pool holds instead of one confusing corner (or its outliers)."""
    n = min(n, len(V))
    if n <= 0:
        return []
    if n == len(V):
        return list(range(n))
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n, n_init=3, random_state=seed).fit(V)
    sim = (V * km.cluster_centers_[km.labels_]).sum(axis=1)
    picked = []
    for c in range(n):
        members = np.flatnonzero(km.labels_ == c)
        if len(members):
            picked.append(int(members[np.lexsort((-sim[members], -u[members]))[0]]))
    taken = set(picked)
    picked += [int(i) for i in np.argsort(-u, kind="stable") if int(i) not in taken][: n - len(picked)]
    return picked


def pick(P: np.ndarray, V: np.ndarray, langs: Sequence[str], n: int, *, task: str,
         strategy: str = "uncertainty-diversity", seed: int = 0) -> tuple[list[int], np.ndarray]:
    """Indices of up to ``n`` rows per language to label, and every row's uncertainty."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    u = uncertainty(P, task)
    V = np.asarray(V, dtype=np.float64)
    V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    lang_arr = np.asarray(langs, dtype=object)
    out: list[int] = []
    for lang in sorted(set(langs)):
        idx = np.flatnonzero(lang_arr == lang)
        if strategy == "random":
            chosen = rng.permutation(len(idx))[:n]
        elif strategy == "uncertainty":
            chosen = np.argsort(-u[idx], kind="stable")[:n]
        elif strategy == "diversity":  # the text nearest each k-means centroid (the model's scores unused)
            chosen = np.array(cluster_pick(V[idx], np.zeros(len(idx)), n, seed=seed), dtype=np.int64)
        else:
            chosen = np.array(cluster_pick(V[idx], u[idx], n, seed=seed), dtype=np.int64)
        out += idx[chosen].tolist()
    return out, u


def model_vectors(clf: Any, texts: list[str], langs: list[str]) -> np.ndarray:
    """The model's own view of ``texts`` for the diversity term: aligned features of a frozen-head model,
    the fine-tuned encoder's vectors, or (a model without either) its class probabilities."""
    if hasattr(clf, "model") and hasattr(clf, "encoder"):  # heads on a frozen encoder
        return np.asarray(clf.model.features(clf.encoder.encode(texts, role=clf.role), langs))
    if hasattr(clf, "encode"):
        return np.asarray(clf.encode(texts))
    return probabilities(clf, texts, langs)


def probabilities(clf: Any, texts: list[str], langs: list[str]) -> np.ndarray:
    """Class probabilities ``[n, len(labels)]`` in the model's label order."""
    preds = clf.predict(texts, langs)
    return np.array([[p["scores"][str(lab)] for lab in clf.labels] for p in preds], dtype=np.float64)


def suggest(clf: Any, records: list[dict[str, Any]], n: int, *, text_field: str = "text",
            label_field: str = "label", strategy: str = "uncertainty-diversity",
            seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Up to ``n`` records per language from ``records`` for a person to label, most useful first, and a report.

    Each returned record is the pool record with ``lang`` filled in, ``label_field`` set to ``""`` and
    ``uncertainty`` added. Pool lines that are bad (``error``), have no text, or already carry a label are not
    candidates; the report counts them.
    """
    from babelcart.text.languages import resolve_languages

    if n < 1:
        raise ValueError("n must be >= 1")
    keep, skipped = [], {"bad": 0, "no_text": 0, "already_labelled": 0}
    for r in records:
        if "error" in r:
            skipped["bad"] += 1
        elif not isinstance(r.get(text_field), str) or not r[text_field].strip():
            skipped["no_text"] += 1
        elif r.get(label_field) not in (None, ""):
            skipped["already_labelled"] += 1
        else:
            keep.append(r)
    if not keep:
        raise ValueError(f"the pool has no unlabelled text in field {text_field!r} ({skipped})")
    texts = [r[text_field] for r in keep]
    langs = list(resolve_languages(texts, [r.get("lang") for r in keep]))
    P = probabilities(clf, texts, langs)
    V = model_vectors(clf, texts, langs) if "diversity" in strategy else P
    chosen, u = pick(P, V, langs, n, task=getattr(clf, "task", "classify"), strategy=strategy, seed=seed)
    out = [{**keep[i], "lang": langs[i], label_field: "", "uncertainty": round(float(u[i]), 4)} for i in chosen]
    per_lang = {lang: sum(1 for i in chosen if langs[i] == lang) for lang in sorted(set(langs))}
    report = {"picked": per_lang, "pool": {lang: langs.count(lang) for lang in sorted(set(langs))},
              "skipped": skipped, "strategy": strategy}
    logger.info("label suggest: %s", report)
    return out, report
