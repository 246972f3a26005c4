"""Rank fusion of the BM25 and dense candidate lists, the same for every backend.

Hybrid = weighted reciprocal-rank fusion (k=60) of the BM25 and dense top-``depth`` lists. Each BM25 hit's
weight is its *coverage* (``fusion="doc-coverage"``, the default): the share of the query's IDF mass that the
hit matches (a query word unknown to the catalog counts with the largest possible IDF). A cross-lingual query
that shares only a name or a number with a product gives that product a small BM25 vote, one sharing nothing
gives none (hybrid = dense order), and a product that matches the whole query gets a full vote.
``fusion="list-coverage"`` weights the whole BM25 list by its best hit's coverage; ``"rrf"`` is plain RRF.

Candidates are keyed by the backend's integer keys (rows, database ids, shard-qualified rows); ties in the
fused score go to the smaller key (insertion order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

MODES = ("hybrid", "bm25", "dense")
FUSIONS = ("doc-coverage", "list-coverage", "rrf")
#: A BM25 hit's fusion weight is its query coverage to this power: a hit matching the whole query keeps a full
#: vote, one matching half of it keeps 1/64, so a shared common word or name cannot outvote a strong
#: dense match. Chosen on a dev split of the search benchmark's queries (``benchmarks/search_fusion.py``).
COVERAGE_POWER = 6.0


def _empty_i() -> np.ndarray:
    return np.zeros(0, np.int64)


def _empty_f() -> np.ndarray:
    return np.zeros(0, np.float32)


@dataclass
class Candidates:
    """One query's candidate lists, best first: BM25 keys, scores and query coverage; dense keys and scores."""

    bm_keys: np.ndarray = field(default_factory=_empty_i)
    bm_scores: np.ndarray = field(default_factory=_empty_f)
    bm_cov: np.ndarray = field(default_factory=_empty_f)
    de_keys: np.ndarray = field(default_factory=_empty_i)
    de_scores: np.ndarray = field(default_factory=_empty_f)

    @property
    def coverage(self) -> float:
        """The best BM25 hit's query coverage (0 without BM25 hits)."""
        return float(self.bm_cov[0]) if len(self.bm_cov) else 0.0


@dataclass(frozen=True)
class FusionParams:
    """How the two lists are fused (see the module docstring)."""

    fusion: str = "doc-coverage"
    rrf_k: int = 60
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    coverage_power: float = COVERAGE_POWER


def fuse(c: Candidates, mode: str, p: FusionParams) -> tuple[list[tuple[int, float]], Candidates, np.ndarray]:
    """The ranked ``(key, score)`` list, the candidates as used (dense mode drops the BM25 list) and each
    used BM25 hit's fusion weight."""
    if p.fusion == "doc-coverage":
        bm_w = p.bm25_weight * c.bm_cov ** p.coverage_power
    elif p.fusion == "list-coverage":
        bm_w = np.full(len(c.bm_keys), p.bm25_weight * c.coverage ** p.coverage_power, np.float32)
    else:
        bm_w = np.full(len(c.bm_keys), p.bm25_weight, np.float32)
    if mode == "dense":
        c = Candidates(c.bm_keys[:0], c.bm_scores[:0], c.bm_cov[:0], c.de_keys, c.de_scores)
        bm_w = bm_w[:0]
    if mode == "bm25":
        return list(zip(c.bm_keys.tolist(), c.bm_scores.tolist(), strict=True)), c, bm_w
    if mode == "dense":
        return list(zip(c.de_keys.tolist(), c.de_scores.tolist(), strict=True)), c, bm_w
    fused: dict[int, float] = {}
    for rank, (key, w) in enumerate(zip(c.bm_keys.tolist(), bm_w.tolist(), strict=True), start=1):
        if w > 0:
            fused[key] = w / (p.rrf_k + rank)
    if p.dense_weight > 0:
        for rank, key in enumerate(c.de_keys.tolist(), start=1):
            fused[key] = fused.get(key, 0.0) + p.dense_weight / (p.rrf_k + rank)
    if not fused and len(c.bm_keys):  # BM25 weight 0 and no dense side: keep the BM25 order
        fused = {key: 1.0 / (p.rrf_k + r) for r, key in enumerate(c.bm_keys.tolist(), start=1)}
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0])), c, bm_w


class Explainer:
    """Each result's ranks and scores in the two lists (``explain=True``)."""

    def __init__(self, c: Candidates, bm_w: np.ndarray, *, mode: str, qlang: str | None, coverage: float,
                 p: FusionParams) -> None:
        self.bm_pos = {key: (r, float(s), float(w), float(cv)) for r, (key, s, w, cv) in enumerate(
            zip(c.bm_keys.tolist(), c.bm_scores.tolist(), bm_w.tolist(), c.bm_cov.tolist(), strict=True), start=1)}
        self.de_pos = {key: (r, float(s)) for r, (key, s) in enumerate(
            zip(c.de_keys.tolist(), c.de_scores.tolist(), strict=True), start=1)}
        self.mode, self.qlang, self.coverage, self.p = mode, qlang, coverage, p

    def __call__(self, key: int) -> dict[str, Any]:
        b_ = self.bm_pos.get(key)
        d_ = self.de_pos.get(key)
        hybrid = self.mode == "hybrid"
        return {
            "mode": self.mode, "query_lang": self.qlang,
            "bm25": {"rank": b_[0], "score": round(b_[1], 6), "coverage": round(b_[3], 6)} if b_ else None,
            "dense": {"rank": d_[0], "score": round(d_[1], 6)} if d_ else None,
            "weights": {"bm25": round(b_[2], 6) if b_ else 0.0, "dense": self.p.dense_weight} if hybrid else None,
            "fusion": self.p.fusion if hybrid else None, "query_bm25_coverage": round(self.coverage, 6),
            "rrf_k": self.p.rrf_k,
        }
