"""Item-to-item signals: session co-occurrence and cross-lingual similar items.

- ``CoOccurrence``: events → sessions (per user, split at a time gap) → normalized item co-counts
  (``cosine``: c_ij / sqrt(n_i n_j), or ``lift``: c_ij N / (n_i n_j)).
- ``SimilarItems``: cross-lingual embedding neighbours re-scored for shopping: cosines are z-scored over the
  catalog (raw cosines of e5 sit in a narrow band), then ``+ category_bonus`` for the same category and
  ``- price_penalty · |ln(price_j / price_i)|``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from babelcart.apps.recommend.events import Ev, sessionize


class CoOccurrence:
    """Item-to-item co-occurrence within sessions, normalized by ``cosine`` or ``lift``.

    >>> import datetime as dt
    >>> evs = [Ev("u", "a", "view", 0), Ev("u", "b", "view", 60), Ev("v", "a", "view", 0), Ev("v", "b", "view", 9)]
    >>> CoOccurrence().fit(evs).similar("a")
    [('b', 1.0)]
    """

    def __init__(self, *, gap_s: float | None = 1800.0, measure: str = "cosine", min_count: int = 1) -> None:
        if measure not in ("cosine", "lift", "count"):
            raise ValueError(f"measure must be cosine, lift or count, not {measure!r}")
        self.gap_s = gap_s
        self.measure = measure
        self.min_count = min_count

    def fit(self, events: Sequence[Ev], *, item_ids: Sequence[str] | None = None) -> CoOccurrence:
        """Count co-occurrences; ``item_ids`` fixes the item axis (other items are ignored)."""
        sessions = sessionize(events, gap_s=self.gap_s)
        self.item_ids_ = list(item_ids) if item_ids is not None else sorted({i for s in sessions for i in s})
        self.index_ = {iid: j for j, iid in enumerate(self.item_ids_)}
        rows, cols = [], []
        for si, s in enumerate(sessions):
            for iid in s:
                j = self.index_.get(iid)
                if j is not None:
                    rows.append(si)
                    cols.append(j)
        n = len(self.item_ids_)
        S = sparse.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(len(sessions), n))
        self.n_sessions_ = len(sessions)
        self.item_counts_ = np.asarray(S.sum(axis=0)).ravel()
        C = (S.T @ S).tocsr()
        C.setdiag(0)
        C.data[C.data < self.min_count] = 0
        C.eliminate_zeros()
        C = C.tocoo()
        ni, nj = self.item_counts_[C.row], self.item_counts_[C.col]
        if self.measure == "cosine":
            data = C.data / np.sqrt(ni * nj)
        elif self.measure == "lift":
            data = C.data * max(self.n_sessions_, 1) / (ni * nj)
        else:
            data = C.data
        self.matrix_ = sparse.csr_matrix((data, (C.row, C.col)), shape=(n, n))
        return self

    def similar(self, item_id: str, k: int = 10) -> list[tuple[str, float]]:
        """Items that co-occur with ``item_id``, best first (empty for an unknown item)."""
        j = self.index_.get(item_id)
        if j is None:
            return []
        row = self.matrix_.getrow(j)
        order = np.argsort(-row.data, kind="stable")[:k]
        return [(self.item_ids_[row.indices[o]], round(float(row.data[o]), 6)) for o in order]

    def scores(self, weights: dict[str, float]) -> np.ndarray:
        """Σ_i w_i · C[i, :] over the history items ``weights`` (item → weight)."""
        idx = [(self.index_[i], w) for i, w in weights.items() if i in self.index_]
        if not idx:
            return np.zeros(len(self.item_ids_))
        rows, ws = zip(*idx, strict=True)
        return np.asarray(sparse.csr_matrix(np.asarray(ws, dtype=np.float64)).dot(
            self.matrix_[list(rows)]).todense()).ravel()


class SimilarItems:
    """Embedding neighbours re-scored by category and price (see the module docstring)."""

    def __init__(self, *, category_bonus: float = 0.5, price_penalty: float = 0.5, max_history: int = 50
                 ) -> None:
        self.category_bonus = category_bonus
        self.price_penalty = price_penalty
        self.max_history = max_history

    def fit(self, item_ids: Sequence[str], vectors: np.ndarray, *, categories: Sequence[str | None] | None = None,
            prices: Sequence[float | None] | None = None) -> SimilarItems:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(item_ids):
            raise ValueError(f"need one vector per item: {len(item_ids)} items, vectors {vectors.shape}")
        self.item_ids_ = list(item_ids)
        self.index_ = {iid: j for j, iid in enumerate(self.item_ids_)}
        self.vectors_ = vectors
        cats = list(categories) if categories is not None else [None] * len(item_ids)
        codes = {c: n for n, c in enumerate(sorted({c for c in cats if c}))}
        self.cat_codes_ = np.asarray([codes.get(c, -1) if c else -1 for c in cats], dtype=np.int64)
        pr = np.asarray([p if p is not None and p > 0 else np.nan for p in
                         (prices if prices is not None else [None] * len(item_ids))], dtype=np.float64)
        self.log_prices_ = np.log(pr)
        # each item's mean and std of cosine over the catalog, in closed form: mean_a = v_a · v̄ and
        # E[cos²]_a = v_a^T (V^T V / n) v_a, so no n × n matrix is ever built
        v64 = vectors.astype(np.float64)
        self.cos_mean_ = v64 @ v64.mean(axis=0)
        second = ((v64 @ (v64.T @ v64 / max(len(v64), 1))) * v64).sum(axis=1)
        self.cos_std_ = np.sqrt(np.maximum(second - self.cos_mean_ ** 2, 0.0))
        return self

    def rescore(self, anchors: np.ndarray) -> np.ndarray:
        """Scores ``[len(anchors), n_items]`` of every item against each anchor item index."""
        cos = self.vectors_[anchors] @ self.vectors_.T
        z = (cos - self.cos_mean_[anchors][:, None]) / (self.cos_std_[anchors][:, None] + 1e-6)
        same = (self.cat_codes_[anchors][:, None] == self.cat_codes_[None, :]) & (self.cat_codes_[None, :] >= 0)
        z = z + self.category_bonus * same
        gap = np.abs(self.log_prices_[anchors][:, None] - self.log_prices_[None, :])
        z = z - self.price_penalty * np.nan_to_num(gap, nan=0.0)
        z[np.arange(len(anchors)), anchors] = -np.inf
        return z

    def similar(self, item_id: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` best neighbours of ``item_id`` (empty for an unknown item)."""
        j = self.index_.get(item_id)
        if j is None:
            return []
        s = self.rescore(np.asarray([j]))[0]
        order = [o for o in top_indices(s, k + 1).tolist() if o != j][:k]
        return [(self.item_ids_[o], round(float(s[o]), 6)) for o in order]

    def history_scores(self, weights: dict[str, float]) -> np.ndarray:
        """Weighted mean of neighbour scores over the user's heaviest ``max_history`` items.

        Equal to averaging ``rescore`` rows (each anchor's own item left out) but linear in the catalog: the
        cosine part is one mat-vec, the category part a per-category weight lookup."""
        items = sorted(((w, self.index_[i]) for i, w in weights.items() if i in self.index_), reverse=True)
        items = items[:self.max_history]
        if not items:
            return np.zeros(len(self.item_ids_))
        w = np.asarray([x[0] for x in items], dtype=np.float64)
        a = np.asarray([x[1] for x in items], dtype=np.int64)
        scale = w / (self.cos_std_[a] + 1e-6)
        va = self.vectors_[a].astype(np.float64)
        out = (self.vectors_ @ (scale @ va).astype(np.float32)).astype(np.float64) - float(scale @ self.cos_mean_[a])
        codes = self.cat_codes_
        has_cat = codes[a] >= 0
        cat_w = np.bincount(codes[a][has_cat], weights=w[has_cat], minlength=max(int(codes.max()) + 1, 1))
        out += self.category_bonus * np.where(codes >= 0, cat_w[np.maximum(codes, 0)], 0.0)
        out -= self.price_penalty * _weighted_abs_gaps(self.log_prices_[a], w, self.log_prices_)
        own = scale * ((va * va).sum(axis=1) - self.cos_mean_[a]) + self.category_bonus * w * has_cat
        out[a] -= own  # an anchor does not vote for itself (its own price gap is 0)
        return out / w.sum()


def top_indices(scores: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` best indices by descending score, ties by index (as a stable argsort), without sorting all:
    every index tied with the ``m``-th score is kept, so the cut never depends on partition order."""
    neg = -np.asarray(scores)
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    if m >= len(neg):
        return np.argsort(neg, kind="stable")
    keep = np.flatnonzero(neg <= np.partition(neg, m - 1)[m - 1])
    return keep[np.argsort(neg[keep], kind="stable")]


def _weighted_abs_gaps(points: np.ndarray, weights: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``Σ_a weights[a] · |points[a] - at[j]|`` for every ``j`` by prefix sums over the sorted points, NaN
    points and NaN ``at`` contributing 0 (``O((n + A) log A)``, not ``A × n``)."""
    ok = ~np.isnan(points)
    order = np.argsort(points[ok])
    p, w = points[ok][order], weights[ok][order]
    out = np.zeros(len(at))
    if not len(p):
        return out
    cw, cwp = np.concatenate([[0.0], np.cumsum(w)]), np.concatenate([[0.0], np.cumsum(w * p)])
    priced = ~np.isnan(at)
    x = at[priced]
    left = np.searchsorted(p, x)
    out[priced] = x * cw[left] - cwp[left] + (cwp[-1] - cwp[left]) - x * (cw[-1] - cw[left])
    return out
