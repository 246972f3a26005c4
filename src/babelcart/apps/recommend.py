"""Recommendation: repeat purchases, implicit ALS/BPR, session co-occurrence, multilingual similar items,
time-decayed user histories, blended by a click model learned on a time split of the log.

Pieces (each usable alone):

- ``CoOccurrence``: events → sessions (per user, split at a time gap) → normalized item co-counts
  (``cosine``: c_ij / sqrt(n_i n_j), or ``lift``: c_ij N / (n_i n_j)).
- ``UserProfiles`` / ``UserHistory``: per-user item weights Σ type_weight · (1 + ln quantity) ·
  0.5^(age / half_life) with view < click < cart < purchase (``EVENT_WEIGHTS``), distinct order times per item,
  the last time of each item.
- ``SimilarItems``: cross-lingual embedding neighbours re-scored for shopping: cosines are z-scored over the
  catalog (raw cosines of e5 sit in a narrow band), then ``+ category_bonus`` for the same category and
  ``- price_penalty · |ln(price_j / price_i)|``.
- ``ImplicitMF`` (``babelcart.apps.factorization``): ``implicit`` ALS or BPR factors.
- ``Recommender``: fits all of the above plus popularity, takes candidates from each (and, with
  ``repeats=True``, the user's past items), and re-ranks them with a ``ClickModel`` (LightGBM LambdaRank)
  trained on ``label_windows`` windows of ``label_days`` at the end of the log (earlier events → features,
  later purchases → labels; one list = the candidate pool a user would be shown), over text, collaborative
  and order-time repeat features (``FEATURES``). Without a click model it fuses the candidate lists by
  reciprocal rank.

>>> rec = Recommender(click_model=False).fit(events, products, vectors)   # doctest: +SKIP
>>> rec.recommend_user("u1", k=5).items                                 # doctest: +SKIP

Evaluation: ``time_split`` and ``evaluate`` (capped Recall@k, nDCG@k, coverage) against the single signals.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from babelcart.apps.click_model import KINDS as RANKER_KINDS
from babelcart.apps.click_model import ClickModel
from babelcart.apps.factorization import KINDS as MF_KINDS
from babelcart.apps.factorization import ImplicitMF
from babelcart.apps.ranking_metrics import capped_recall_at_k, ndcg_at_k
from babelcart.datasets.records import blank_line, error_record
from babelcart.fsutil import atomic_dir, recover_dir
from babelcart.progress import progress

logger = logging.getLogger(__name__)

EVENT_WEIGHTS: dict[str, float] = {"view": 1.0, "click": 2.0, "cart": 4.0, "purchase": 8.0}
DAY = 86400.0
FORMAT_VERSION = 3
METHODS = ("random", "popularity", "cooc", "similar", "profile", "repeat", "mf", "hybrid")
LAST_ORDERS = (1, 3, 10)  # rep_lastK: share of the user's last K orders that held the item
REPEAT_HALF_LIVES_DAYS = (14.0, 120.0)  # rep_decay_Nd: the item's orders, each decayed with this half-life
REPEAT_FEATURES = ["rep_orders", "rep_share", "rep_days", *(f"rep_last{k}" for k in LAST_ORDERS),
                   *(f"rep_decay_{int(h)}d" for h in REPEAT_HALF_LIVES_DAYS), "rep_gap", "rep_due", "rep_tenure"]
USER_FEATURES = ["u_orders", "u_days_since", "u_gap", "u_basket", "u_distinct", "u_repeat_share"]
FEATURES = ["profile_sim", "similar", "cooc", "mf", "log_pop", "recent_pop", "recency", "item_age", "repeat_rate",
            "log_price", "price_missing", "cat_affinity", "price_fit", "seen", "rep_weight",
            *REPEAT_FEATURES, *USER_FEATURES]


# ------------------------------------------------------------------------------------------------ events
@dataclass(frozen=True)
class Ev:
    """One validated event; ``ts`` in POSIX seconds; ``weight`` e.g. the quantity bought (default 1)."""

    user_id: str
    item_id: str
    type: str
    ts: float
    weight: float = 1.0


def to_events(records: Iterable[dict[str, Any] | Ev], *, on_error: str = "raise"
              ) -> tuple[list[Ev], list[tuple[int, str]]]:
    """Validate event records (``user_id``, ``item_id``, ``type``, ``ts``) into ``Ev``s.

    With ``on_error="skip"`` bad records are left out and returned as ``(position, message)``.
    """
    from babelcart.store.repo import Store

    out: list[Ev] = []
    errors: list[tuple[int, str]] = []
    for i, rec in enumerate(records):
        if isinstance(rec, Ev):
            out.append(rec)
            continue
        try:
            if "error" in rec:
                raise ValueError(str(rec["error"]))
            row = Store.event_row(rec)
        except (ValueError, TypeError, AttributeError) as exc:
            if on_error == "raise":
                raise ValueError(f"event {i}: {exc}") from None
            errors.append((i, str(exc)))
            continue
        out.append(Ev(row["user_id"], row["item_id"], row["type"], row["ts"].timestamp(),
                      float(row.get("weight") or 1.0)))
    return out, errors


def decay(age_s: np.ndarray | float, half_life_s: float | None) -> np.ndarray:
    """Exponential time decay 0.5 ** (age / half_life); ages below 0 count as 0; no half-life → 1."""
    age = np.maximum(np.asarray(age_s, dtype=np.float64), 0.0)
    if half_life_s is None or not math.isfinite(half_life_s):
        return np.ones_like(age)
    if half_life_s <= 0:
        raise ValueError("half_life must be positive")
    return np.power(0.5, age / half_life_s)


def sessionize(events: Sequence[Ev], *, gap_s: float | None = 1800.0) -> list[list[str]]:
    """Group events per user in time order; a pause longer than ``gap_s`` starts a new session.

    ``gap_s=None`` makes one session per user. Items are de-duplicated within a session (first order kept).
    """
    by_user: dict[str, list[Ev]] = defaultdict(list)
    for e in events:
        by_user[e.user_id].append(e)
    sessions: list[list[str]] = []
    for user in sorted(by_user):
        evs = sorted(by_user[user], key=lambda e: e.ts)
        cur: list[str] = []
        last = None
        for e in evs:
            if cur and gap_s is not None and last is not None and e.ts - last > gap_s:
                sessions.append(list(dict.fromkeys(cur)))
                cur = []
            cur.append(e.item_id)
            last = e.ts
        if cur:
            sessions.append(list(dict.fromkeys(cur)))
    return sessions


# ---------------------------------------------------------------------------------------- co-occurrence
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


# --------------------------------------------------------------------------------------------- profiles
class UserProfiles:
    """Per-user item weights from events: Σ type_weight(type) · (1 + ln weight) · 0.5 ** ((now - ts) / half_life).

    ``weight`` is the event's quantity (1 when absent), so a case of 24 counts more than one piece, but
    only logarithmically (wholesale buyers would drown everyone else).

    >>> p = UserProfiles(half_life_days=1).fit([Ev("u", "a", "purchase", 0.0)], now=86400.0)
    >>> p.weights_["u"]["a"]   # purchase weight 8, one half-life old
    4.0
    """

    def __init__(self, *, half_life_days: float | None = 30.0, type_weights: dict[str, float] | None = None
                 ) -> None:
        self.half_life_days = half_life_days
        self.type_weights = dict(type_weights or EVENT_WEIGHTS)

    def user_weights(self, events: Sequence[Ev], now: float) -> dict[str, float]:
        """Item weights of one user's events (no user check)."""
        hl = None if self.half_life_days is None else self.half_life_days * DAY
        out: dict[str, float] = defaultdict(float)
        if not events:
            return {}
        ages = np.asarray([now - e.ts for e in events])
        ds = decay(ages, hl)
        for e, d in zip(events, ds, strict=True):
            out[e.item_id] += self.type_weights.get(e.type, 1.0) * (1.0 + math.log(max(e.weight, 1.0))) * float(d)
        return dict(out)

    def fit(self, events: Sequence[Ev], *, now: float | None = None) -> UserProfiles:
        """Weights for every user; ``now`` defaults to the latest event time."""
        self.now_ = float(now if now is not None else max((e.ts for e in events), default=0.0))
        by_user: dict[str, list[Ev]] = defaultdict(list)
        for e in events:
            by_user[e.user_id].append(e)
        self.weights_ = {u: self.user_weights(evs, self.now_) for u, evs in by_user.items()}
        return self


# ----------------------------------------------------------------------------------------- similar items
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
        order = [o for o in _top_indices(s, k + 1).tolist() if o != j][:k]
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


# -------------------------------------------------------------------------------------------- recommender
#: What a user gets from a recommender fitted without any events: nothing, and how to fix it.
NO_EVENTS = ("no events yet: the recommender has no views, carts or purchases to learn from; load them with "
             "`babelcart ingest events EVENTS.jsonl --db DB`")


@dataclass
class RecResult:
    """Recommendations: ``items`` [{"id", "score", ...}], the ``strategy`` used and a ``message``."""

    items: list[dict[str, Any]]
    strategy: str
    message: str = ""
    cold_start: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "strategy": self.strategy, "message": self.message,
                "cold_start": self.cold_start}


@dataclass
class UserHistory:
    """One user's past: decayed item ``weights``, the sorted distinct order times of each item
    (``item_times``) and of the user (``order_times``; an order is one distinct event time, e.g. one invoice).
    Derived: ``orders`` (orders per item), ``last`` (last time per item), ``n_orders``."""

    weights: dict[str, float]
    item_times: dict[str, list[float]]
    order_times: list[float]
    orders: dict[str, int] = field(init=False)
    last: dict[str, float] = field(init=False)
    n_orders: int = field(init=False)

    def __post_init__(self) -> None:
        self.orders = {i: len(t) for i, t in self.item_times.items()}
        self.last = {i: t[-1] for i, t in self.item_times.items()}
        self.n_orders = len(self.order_times)


def user_histories(events: Sequence[Ev], profiles: UserProfiles) -> dict[str, UserHistory]:
    """``UserHistory`` per user."""
    by_user: dict[str, list[Ev]] = defaultdict(list)
    for e in events:
        by_user[e.user_id].append(e)
    out: dict[str, UserHistory] = {}
    for u, evs in by_user.items():
        times: dict[str, set[float]] = defaultdict(set)
        for e in evs:
            times[e.item_id].add(e.ts)
        out[u] = UserHistory(profiles.user_weights(evs, profiles.now_), {i: sorted(t) for i, t in times.items()},
                             sorted({e.ts for e in evs}))
    return out


_EMPTY = UserHistory({}, {}, [])


@dataclass
class _State:
    """Everything learned from one event log (item side + user histories + factors)."""

    cooc: CoOccurrence
    profiles: UserProfiles
    popularity: np.ndarray
    recent_popularity: np.ndarray
    repeat_rate: np.ndarray
    last_ts: np.ndarray
    first_ts: np.ndarray
    now: float
    users: dict[str, UserHistory]
    mf: ImplicitMF | None
    user_rows: dict[str, int]
    item_features: np.ndarray | None = None

    def item_recency(self) -> np.ndarray:
        """Decay (30-day half-life) of each item's last event; 0 for items without events (cached)."""
        if not hasattr(self, "_recency"):
            self._recency = np.where(np.isnan(self.last_ts), 0.0,
                                     decay(self.now - np.nan_to_num(self.last_ts), 30 * DAY))
        return self._recency


@dataclass
class _Plan:
    """A hybrid recommendation waiting for its blend: the candidate pool (item indices), the excluded items,
    and the click model's ``features`` for the pool, or the rank-fusion scores (``fused``) without a model."""

    cand: np.ndarray
    exclude: set[int]
    features: np.ndarray | None
    fused: np.ndarray | None


def _top_indices(scores: np.ndarray, m: int) -> np.ndarray:
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


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9) if len(x) else x


def _rrf(score_lists: list[np.ndarray], k0: float = 60.0) -> np.ndarray:
    """Reciprocal-rank fusion of full score arrays (higher is better)."""
    out = np.zeros(len(score_lists[0]))
    for s in score_lists:
        ranks = np.empty(len(s))
        ranks[np.argsort(-s, kind="stable")] = np.arange(len(s))
        out += 1.0 / (k0 + ranks + 1)
    return out


class Recommender:
    """Hybrid recommender over a product catalog and an event log (see the module docstring).

    Parameters are keyword-only; ``fit(events, products, vectors)`` returns ``self``; fitted state ends in
    ``_``. ``vectors`` (one unit row per product, e.g. ``embed_products``) are optional: without them the
    embedding features are zero and ``similar``/``profile`` fall back to popularity. ``repeats=True`` keeps
    the items a user already bought among the candidates (re-buying dominates retail purchase logs);
    ``mf`` picks the ``implicit`` factorization inside the blend (``"als"``, ``"bpr"`` or ``None``).
    """

    def __init__(self, *, half_life_days: float | None = 30.0, session_gap_s: float | None = 1800.0,
                 cooc_measure: str = "cosine", category_bonus: float = 0.5, price_penalty: float = 0.5,
                 n_candidates: int = 200, click_model: bool = True, ranker: str = "auto",
                 label_days: float = 28.0, label_windows: int = 2, max_train_users: int = 5000,
                 type_weights: dict[str, float] | None = None, repeats: bool = True, mf: str | None = "als",
                 mf_factors: int = 64, mf_regularization: float = 0.05, mf_iterations: int = 15,
                 recent_days: float = 28.0, max_negatives: int = 300, random_state: int = 0) -> None:
        self.half_life_days = half_life_days
        self.session_gap_s = session_gap_s
        self.cooc_measure = cooc_measure
        self.category_bonus = category_bonus
        self.price_penalty = price_penalty
        self.n_candidates = n_candidates
        self.click_model = click_model
        if ranker not in RANKER_KINDS:
            raise ValueError(f"ranker must be one of {', '.join(RANKER_KINDS)}, not {ranker!r}")
        if label_windows < 1:
            raise ValueError("label_windows must be at least 1")
        if mf not in (None, *MF_KINDS):
            raise ValueError(f"mf must be None or one of {', '.join(MF_KINDS)}, not {mf!r}")
        self.ranker = ranker
        self.label_days = label_days
        self.label_windows = label_windows
        self.max_train_users = max_train_users
        self.type_weights = dict(type_weights or EVENT_WEIGHTS)
        self.repeats = repeats
        self.mf = mf
        self.mf_factors = mf_factors
        self.mf_regularization = mf_regularization
        self.mf_iterations = mf_iterations
        self.recent_days = recent_days
        self.max_negatives = max_negatives
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "half_life_days", "session_gap_s", "cooc_measure", "category_bonus", "price_penalty",
            "n_candidates", "click_model", "ranker", "label_days", "label_windows", "max_train_users",
            "type_weights", "repeats", "mf", "mf_factors", "mf_regularization", "mf_iterations", "recent_days",
            "max_negatives", "random_state")}

    # ---- fitting
    def fit(self, events: Iterable[dict[str, Any] | Ev], products: Sequence[dict[str, Any]],
            vectors: np.ndarray | None = None) -> Recommender:
        """Learn from ``events`` over the catalog ``products`` (dicts with ``id`` and optional ``title``,
        ``category``, ``price``); events for items not in the catalog are ignored (counted in
        ``n_unknown_item_events_``)."""
        if not products:
            raise ValueError("the recommender needs a non-empty product catalog")
        ids = [str(p["id"]) for p in products]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate product ids in the catalog")
        self.item_ids_ = ids
        self.index_ = {iid: j for j, iid in enumerate(ids)}
        self.titles_ = [p.get("title") for p in products]
        self.categories_ = [p.get("category") or None for p in products]
        self.prices_ = [float(p["price"]) if p.get("price") not in (None, "") else None for p in products]
        self.vectors_ = None if vectors is None else np.asarray(vectors, dtype=np.float32)
        if self.vectors_ is not None and len(self.vectors_) != len(ids):
            raise ValueError(f"{len(ids)} products but {len(self.vectors_)} vectors")
        evs, _ = to_events(events)
        known = [e for e in evs if e.item_id in self.index_]
        self.n_unknown_item_events_ = len(evs) - len(known)
        if self.n_unknown_item_events_:
            logger.warning("ignored %d events for items not in the catalog", self.n_unknown_item_events_)
        self._fit_static()
        self.click_model_: ClickModel | None = None
        if self.click_model:
            self.click_model_ = self._fit_click(known)
        self.state_ = self._state(known)
        self.n_events_ = len(known)
        return self

    def _fit_static(self) -> None:
        n = len(self.item_ids_)
        pr = np.asarray([p if p and p > 0 else np.nan for p in self.prices_], dtype=np.float64)
        self.log_price_ = np.nan_to_num(np.log1p(pr), nan=0.0)
        self.price_missing_ = np.isnan(pr).astype(np.float64)
        self.cat_list_ = sorted({c for c in self.categories_ if c})
        cmap = {c: i for i, c in enumerate(self.cat_list_)}
        self.cat_codes_ = np.asarray([cmap.get(c, -1) if c else -1 for c in self.categories_], dtype=np.int64)
        self.sim_: SimilarItems | None = None
        if self.vectors_ is not None:
            self.sim_ = SimilarItems(category_bonus=self.category_bonus, price_penalty=self.price_penalty).fit(
                self.item_ids_, self.vectors_, categories=self.categories_, prices=self.prices_)
        assert n == len(self.log_price_)

    def _state(self, events: Sequence[Ev]) -> _State:
        n = len(self.item_ids_)
        profiles = UserProfiles(half_life_days=self.half_life_days, type_weights=self.type_weights)
        profiles.now_ = float(max((e.ts for e in events), default=0.0))
        users = user_histories(events, profiles)
        profiles.weights_ = {u: h.weights for u, h in users.items()}
        cooc = CoOccurrence(gap_s=self.session_gap_s, measure=self.cooc_measure).fit(events,
                                                                                    item_ids=self.item_ids_)
        item = np.fromiter((self.index_[e.item_id] for e in events), dtype=np.int64, count=len(events))
        ts = np.fromiter((e.ts for e in events), dtype=np.float64, count=len(events))
        w = np.fromiter((self.type_weights.get(e.type, 1.0) for e in events), dtype=np.float64, count=len(events))
        pop = np.bincount(item, weights=w, minlength=n)
        recent = np.bincount(item, weights=np.where(ts >= profiles.now_ - self.recent_days * DAY, w, 0.0),
                             minlength=n)
        last = np.full(n, -np.inf)
        np.maximum.at(last, item, ts)
        first = np.full(n, np.inf)
        np.minimum.at(first, item, ts)
        unseen = np.bincount(item, minlength=n) == 0
        last[unseen] = np.nan
        first[unseen] = np.nan
        buyers, rebuyers = np.zeros(n), np.zeros(n)
        for h in users.values():
            for i, c in h.orders.items():
                buyers[self.index_[i]] += 1
                rebuyers[self.index_[i]] += c > 1
        repeat_rate = (rebuyers + 1.0) / (buyers + 5.0)  # smoothed toward 0.2 for rarely bought items
        mf, rows = self._fit_mf(users)
        return _State(cooc, profiles, pop, recent, repeat_rate, last, first, profiles.now_, users, mf, rows)

    def _fit_mf(self, users: dict[str, UserHistory]) -> tuple[ImplicitMF | None, dict[str, int]]:
        if self.mf is None or not users:
            return None, {}
        names = sorted(users)
        rows, cols, vals = [], [], []
        for r, u in enumerate(names):
            for i, c in users[u].orders.items():
                rows.append(r)
                cols.append(self.index_[i])
                vals.append(float(c))
        m = sparse.csr_matrix((np.log1p(vals), (rows, cols)), shape=(len(names), len(self.item_ids_)))
        mf = ImplicitMF(kind=self.mf, factors=self.mf_factors, regularization=self.mf_regularization,
                        iterations=self.mf_iterations, random_state=self.random_state).fit(m)
        return mf, {u: r for r, u in enumerate(names)}

    # ---- scoring
    def _profile_vector(self, weights: dict[str, float]) -> np.ndarray | None:
        if self.vectors_ is None or not weights:
            return None
        idx = [(self.index_[i], w) for i, w in weights.items() if i in self.index_]
        if not idx:
            return None
        v = (self.vectors_[[i for i, _ in idx]] * np.asarray([w for _, w in idx])[:, None]).sum(axis=0)
        return v / (np.linalg.norm(v) + 1e-12)

    def _mf_scores(self, st: _State, user_id: str, hist: UserHistory) -> np.ndarray:
        n = len(self.item_ids_)
        if st.mf is None or not hist.orders:
            return np.zeros(n)
        row = st.user_rows.get(user_id)
        if row is not None and st.users.get(user_id) is hist:
            return st.mf.scores_for_user(row).astype(np.float64)
        items = np.asarray([self.index_[i] for i in hist.orders], dtype=np.int64)
        conf = np.log1p(np.asarray(list(hist.orders.values()), dtype=np.float64))
        return (st.mf.item_factors_ @ st.mf.fold_in(items, conf)).astype(np.float64)

    def _method_scores(self, st: _State, user_id: str, hist: UserHistory, method: str) -> np.ndarray:
        n = len(self.item_ids_)
        if method == "popularity":
            return st.popularity + 1e-9 * -np.arange(n)  # stable tie-break
        if method == "cooc":
            return st.cooc.scores(hist.weights)
        if method == "similar":
            return self.sim_.history_scores(hist.weights) if self.sim_ is not None else np.zeros(n)
        if method == "profile":
            p = self._profile_vector(hist.weights)
            if p is None or self.vectors_ is None:
                return np.zeros(n)
            return (self.vectors_ @ p.astype(self.vectors_.dtype)).astype(np.float64)  # no upcast of the catalog
        if method == "repeat":
            s = np.zeros(n)
            for i, c in hist.orders.items():
                s[self.index_[i]] = c + hist.weights.get(i, 0.0) * 1e-6
            return s
        if method == "mf":
            return self._mf_scores(st, user_id, hist)
        raise ValueError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")

    def _components(self, st: _State, user_id: str, hist: UserHistory) -> dict[str, np.ndarray]:
        names = ["popularity", "cooc"] + (["similar", "profile"] if self.vectors_ is not None else [])
        names += ["mf"] if st.mf is not None else []
        return {m: self._method_scores(st, user_id, hist, m) for m in names}

    def features(self, st: _State, hist: UserHistory, cand: np.ndarray, comps: dict[str, np.ndarray]
                 ) -> np.ndarray:
        """Feature matrix ``[len(cand), len(FEATURES)]`` for one user's candidate item indices."""
        n = len(self.item_ids_)
        zero = np.zeros(n)
        weights = hist.weights
        tot = sum(weights.values()) or 1.0
        cat_w = np.zeros(len(self.cat_list_) + 1)
        rep_w = np.zeros(n)
        for i, w in weights.items():
            j = self.index_.get(i)
            if j is not None:
                cat_w[self.cat_codes_[j]] += w
                rep_w[j] = w
        priced = (rep_w > 0) & (self.price_missing_ == 0)
        # every column but the profile z-score is elementwise, so it is computed on the candidates only
        codes, missing, log_price, w_c = self.cat_codes_[cand], self.price_missing_[cand], self.log_price_[cand], \
            rep_w[cand]
        if priced.any():
            ref = float(np.average(self.log_price_[priced], weights=rep_w[priced]))
            price_fit = np.where(missing > 0, 0.0, -np.abs(log_price - ref))
        else:
            price_fit = np.zeros(len(cand))
        component_cols = [_zscore(comps.get("profile", zero))[cand], comps.get("similar", zero)[cand],
                          np.log1p(np.maximum(comps["cooc"][cand], 0)), comps.get("mf", zero)[cand]]
        user_cols = [np.where(codes >= 0, cat_w[codes] / tot, 0.0), price_fit, (w_c > 0).astype(np.float64),
                     np.log1p(w_c)]
        return np.concatenate([np.stack(component_cols, axis=1), self._item_features(st)[cand],
                               np.stack(user_cols, axis=1), self._repeat_features(st.now, hist, cand)], axis=1)

    def _item_features(self, st: _State) -> np.ndarray:
        """The user-independent feature columns ``[n_items, 7]`` of a state (popularity ... price missing),
        built once per state."""
        if st.item_features is None:
            item_age = np.where(np.isnan(st.first_ts), 0.0,
                                np.maximum(st.now - np.nan_to_num(st.first_ts), 0) / DAY)
            st.item_features = np.stack([np.log1p(st.popularity), np.log1p(st.recent_popularity),
                                         st.item_recency(), np.log1p(item_age), st.repeat_rate, self.log_price_,
                                         self.price_missing_], axis=1)
        return st.item_features

    def _repeat_features(self, now: float, hist: UserHistory, cand: np.ndarray) -> np.ndarray:
        """``REPEAT_FEATURES`` then ``USER_FEATURES`` for the candidates, from the user's order times."""
        m = len(cand)
        out = np.zeros((m, len(REPEAT_FEATURES) + len(USER_FEATURES)))
        ot = np.asarray(hist.order_times, dtype=np.float64)
        if not len(ot):
            return out
        pos = np.full(len(self.item_ids_), -1)
        pos[cand] = np.arange(m)
        items = np.fromiter((self.index_.get(i, -1) for i in hist.item_times), dtype=np.int64,
                            count=len(hist.item_times))
        lens = np.fromiter((len(t) for t in hist.item_times.values()), dtype=np.int64, count=len(items))
        rows = np.repeat(np.where(items >= 0, pos[items], -1), lens)  # each order time's candidate row
        ts = np.fromiter(itertools.chain.from_iterable(hist.item_times.values()), dtype=np.float64,
                         count=int(lens.sum()))
        on_pool = rows >= 0
        u_gap = float(np.diff(ot).mean()) / DAY if len(ot) > 1 else 0.0
        n_buys = sum(hist.orders.values())
        out[:, len(REPEAT_FEATURES):] = [
            np.log1p(len(ot)), np.log1p(max(now - ot[-1], 0.0) / DAY), np.log1p(u_gap),
            np.log1p(n_buys / len(ot)), np.log1p(len(hist.item_times)),
            (n_buys - len(hist.item_times)) / max(n_buys, 1)]
        if not on_pool.any():
            return out
        r_, t_ = rows[on_pool], ts[on_pool]
        age = np.maximum(now - t_, 0.0) / DAY
        count = np.bincount(r_, minlength=m).astype(np.float64)
        last = np.full(m, -np.inf)
        np.maximum.at(last, r_, t_)
        first = np.full(m, np.inf)
        np.minimum.at(first, r_, t_)
        had = count > 0
        days = np.where(had, np.maximum(now - last, 0.0) / DAY, 0.0)
        gap = np.where(count > 1, (last - first) / np.maximum(count - 1, 1) / DAY, 0.0)
        due = np.where(had, days / np.maximum(np.where(count > 1, gap, u_gap), 1.0), 0.0)
        cols = [np.log1p(count), count / len(ot), np.log1p(days)]
        for k in LAST_ORDERS:
            since = ot[-min(k, len(ot))]
            cols.append(np.bincount(r_, weights=(t_ >= since).astype(np.float64), minlength=m) / min(k, len(ot)))
        for hl in REPEAT_HALF_LIVES_DAYS:
            cols.append(np.bincount(r_, weights=np.power(0.5, age / hl), minlength=m))
        cols += [np.log1p(gap), np.log1p(due), np.where(had, np.log1p(np.maximum(now - first, 0.0) / DAY), 0.0)]
        out[:, :len(REPEAT_FEATURES)] = np.stack(cols, axis=1)
        return out

    def _candidates(self, comps: dict[str, np.ndarray], exclude: set[int], hist: UserHistory) -> np.ndarray:
        n = len(self.item_ids_)
        m = min(self.n_candidates, n)
        parts = [np.fromiter((self.index_[i] for i in hist.orders), dtype=np.int64, count=len(hist.orders))
                 if self.repeats else np.zeros(0, dtype=np.int64)]
        top = min(m + len(exclude), n)
        banned = np.fromiter(exclude, dtype=np.int64, count=len(exclude))
        for s in comps.values():
            best = np.argpartition(-s, top - 1)[:top] if top < n else np.arange(n)
            best = best[np.argsort(-s[best], kind="stable")]
            parts.append(best[~np.isin(best, banned)] if len(banned) else best)
        listed = np.concatenate(parts)
        _, first = np.unique(listed, return_index=True)  # each item where it is first listed
        return listed[np.sort(first)]

    def _fit_click(self, events: Sequence[Ev]) -> ClickModel | None:
        """Learn the blend on time splits of the training log. Window ``w`` (of ``label_windows``) ends ``w``
        label periods before the log's end; its last ``label_days`` (at most 1/(2·(windows+1)) of the log's
        span) give the labels, everything before them the features. The rows of one customer in one window
        are the candidate pool they would be shown, bought items labelled 1 (the others thinned to
        ``max_negatives``), so the ranker orders past purchases and new items on one scale, as when serving."""
        if not events:  # no events at all is said once, plainly (NO_EVENTS), not as a click-model warning
            return None
        if len(events) < 20:
            logger.warning("too few events (%d) to train a click model; using rank fusion", len(events))
            return None
        rng = np.random.default_rng(self.random_state)
        t0, t1 = min(e.ts for e in events), max(e.ts for e in events)
        period = min(self.label_days * DAY, (t1 - t0) / (2 * (self.label_windows + 1)))
        jobs: list[tuple[_State, str, set[str]]] = []
        for w in range(self.label_windows):
            end = t1 - w * period
            cutoff = end - period
            hist_ev = [e for e in events if e.ts < cutoff]
            if not hist_ev:
                continue
            st = self._state(hist_ev)
            pos_by_user: dict[str, set[str]] = defaultdict(set)
            for e in events:
                if cutoff <= e.ts <= end and e.user_id in st.users and (
                        self.repeats or e.item_id not in st.users[e.user_id].orders):
                    pos_by_user[e.user_id].add(e.item_id)
            users = sorted(pos_by_user)
            if len(users) > self.max_train_users:
                users = sorted(rng.choice(users, size=self.max_train_users, replace=False).tolist())
            jobs += [(st, u, pos_by_user[u]) for u in users]
        X_parts: list[np.ndarray] = []
        y_parts: list[np.ndarray] = []
        for st, u, bought in progress(jobs, desc="click model features"):
            h = st.users[u]
            exclude = set() if self.repeats else {self.index_[i] for i in h.orders}
            comps = self._components(st, u, h)
            pool = self._candidates(comps, exclude, h)
            hit = np.isin(pool, [self.index_[i] for i in bought])
            if not hit.any():  # a list without a purchase teaches a ranker nothing
                continue
            neg = pool[~hit]
            if len(neg) > self.max_negatives:
                neg = rng.choice(neg, size=self.max_negatives, replace=False)
            # shuffled: a ranker's ties (and LightGBM's first nDCG) must not see the positives listed first
            cand = rng.permutation(np.concatenate([pool[hit], neg]))
            X_parts.append(self.features(st, h, cand, comps))
            y_parts.append(np.isin(cand, pool[hit]).astype(np.float64))
        if not X_parts or not any(len(y) > y.sum() for y in y_parts):
            logger.warning("no customers with both history and later purchases among their candidates; "
                           "no click model")
            return None
        X, y = np.concatenate(X_parts), np.concatenate(y_parts)
        groups = np.repeat(np.arange(len(y_parts)), [len(p) for p in y_parts])
        model = ClickModel(feature_names=FEATURES, kind=self.ranker, random_state=self.random_state).fit(X, y, groups)
        logger.info("click model (%s) on %d examples in %d lists (%.1f%% positive): %s", model.kind_, len(y),
                    len(y_parts), 100 * y.mean(), model.weights())
        return model

    # ---- recommending
    def _check_fitted(self) -> None:
        if not hasattr(self, "state_"):
            raise RuntimeError("Recommender is not fitted: call fit(...) or Recommender.load(dir)")

    def _result(self, scores: np.ndarray, k: int, exclude: set[int], strategy: str, message: str = "",
                cold: bool = False) -> RecResult:
        order = [j for j in _top_indices(scores, k + len(exclude)).tolist() if j not in exclude][:k]
        items = [{"id": self.item_ids_[j], "score": round(float(scores[j]), 6) + 0.0, "title": self.titles_[j],
                  "category": self.categories_[j], "price": self.prices_[j]} for j in order]
        return RecResult(items, strategy, message, cold)

    def user_history(self, user_id: str, history: Iterable[dict[str, Any] | Ev] | None = None) -> UserHistory:
        """The user's past: from ``history`` events when given, else from the fit (empty when unknown)."""
        self._check_fitted()
        if history is None:
            return self.state_.users.get(user_id, _EMPTY)
        evs, _ = to_events(history, on_error="skip")
        evs = [e for e in evs if e.user_id == user_id and e.item_id in self.index_]
        profiles = UserProfiles(half_life_days=self.half_life_days, type_weights=self.type_weights)
        profiles.now_ = max(self.state_.now, max((e.ts for e in evs), default=0.0))
        return user_histories(evs, profiles).get(user_id, _EMPTY)

    def user_weights(self, user_id: str, history: Iterable[dict[str, Any] | Ev] | None = None
                     ) -> dict[str, float]:
        """The user's decayed item weights: from ``history`` events when given, else from the fit."""
        return self.user_history(user_id, history).weights

    def new_item_scores(self, user_id: str, *, history: Iterable[dict[str, Any] | Ev] | None = None
                        ) -> np.ndarray:
        """Scores for items nobody has bought yet (cold-start items): the text side only, the user's profile
        vector · each item's embedding (zeros without vectors or history). Collaborative signals are all zero
        for such items, so this is how babelcart ranks a fresh catalog for a known customer."""
        self._check_fitted()
        hist = self.user_history(user_id, history)
        return self._method_scores(self.state_, user_id, hist, "profile")

    def recommend_user(self, user_id: str, k: int = 10, *, method: str = "hybrid",
                       history: Iterable[dict[str, Any] | Ev] | None = None, exclude_seen: bool | None = None
                       ) -> RecResult:
        """Top-``k`` items for ``user_id``; a user without events gets popular items (``cold_start``).

        ``exclude_seen`` defaults to ``not repeats``: with repeats on, items the user bought can come back.
        """
        plan = self._plan(user_id, k, method, history, exclude_seen)
        if isinstance(plan, RecResult):
            return plan
        return self._finish(plan, k, self._blend(plan))

    def recommend_users(self, user_ids: Sequence[str], k: int = 10, *,
                        histories: Sequence[Iterable[dict[str, Any] | Ev] | None] | None = None,
                        chunk_size: int = 32) -> list[RecResult]:
        """``recommend_user`` (hybrid) for each user, in order, with the same answers. The click model scores
        one chunk of users' pools (one thread, on a worker thread: LightGBM leaves the GIL) while the next
        chunk's candidates and features are built, so the two halves of the work share the cores."""
        histories = [None] * len(user_ids) if histories is None else list(histories)
        if len(histories) != len(user_ids):
            raise ValueError(f"{len(user_ids)} users but {len(histories)} histories")
        out: list[RecResult | None] = [None] * len(user_ids)
        step = max(1, chunk_size)
        with ThreadPoolExecutor(max_workers=1) as worker:
            running: tuple[list[tuple[int, _Plan]], Future[list[np.ndarray]]] | None = None
            for start in range(0, len(user_ids), step):
                plans = []
                for i in range(start, min(start + step, len(user_ids))):
                    plan = self._plan(user_ids[i], k, "hybrid", histories[i], None)
                    if isinstance(plan, RecResult):
                        out[i] = plan
                    else:
                        plans.append((i, plan))
                future = worker.submit(self._blend_many, [p for _, p in plans])
                if running is not None:
                    self._finish_many(out, *running, k)
                running = (plans, future)
            if running is not None:
                self._finish_many(out, *running, k)
        done = [r for r in out if r is not None]
        if len(done) != len(out):
            raise RuntimeError(f"{len(out) - len(done)} users got no recommendation")
        return done

    def _finish_many(self, out: list[RecResult | None], plans: list[tuple[int, _Plan]],
                     future: Future[list[np.ndarray]], k: int) -> None:
        for (i, plan), scores in zip(plans, future.result(), strict=True):
            out[i] = self._finish(plan, k, scores)

    def _plan(self, user_id: str, k: int, method: str, history: Iterable[dict[str, Any] | Ev] | None,
              exclude_seen: bool | None) -> RecResult | _Plan:
        """The answer when no blend is needed, else the hybrid's candidate pool and what the blend needs."""
        self._check_fitted()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
        st = self.state_
        hist = self.user_history(user_id, history)
        drop_seen = (not self.repeats) if exclude_seen is None else exclude_seen
        exclude = {self.index_[i] for i in hist.weights} if drop_seen else set()
        if method == "random":
            rng = np.random.default_rng(zlib.crc32(user_id.encode("utf-8")) + self.random_state)
            return self._result(rng.random(len(self.item_ids_)), k, exclude, "random")
        if not hist.weights and not self.n_events_:
            return RecResult([], "none", NO_EVENTS, True)
        if not hist.weights:
            return self._result(self._method_scores(st, user_id, hist, "popularity"), k, set(), "popularity",
                                f"cold start: no events for user {user_id!r}; showing popular items", True)
        if method != "hybrid":
            s = self._method_scores(st, user_id, hist, method)
            return self._result(s, k, exclude, method)
        comps = self._components(st, user_id, hist)
        cand = self._candidates(comps, exclude, hist)
        if self.click_model_ is not None:
            return _Plan(cand, exclude, self.features(st, hist, cand, comps), None)
        return _Plan(cand, exclude, None, _rrf(list(comps.values()))[cand])

    def _blend(self, plan: _Plan) -> np.ndarray:
        """The pool's scores: the click model's, or rank fusion's without one."""
        if plan.features is None:
            assert plan.fused is not None
            return plan.fused
        assert self.click_model_ is not None
        return self.click_model_.score(plan.features)

    def _blend_many(self, plans: list[_Plan]) -> list[np.ndarray]:
        """``_blend`` for many pools in one call of the click model (one thread)."""
        feats = [p.features for p in plans if p.features is not None]
        if not feats:
            return [self._blend(p) for p in plans]
        assert self.click_model_ is not None
        stacked = self.click_model_.score(np.concatenate(feats), threads=1)
        scores = iter(np.split(stacked, np.cumsum([len(f) for f in feats])[:-1]))
        return [next(scores) if p.features is not None else self._blend(p) for p in plans]

    def _finish(self, plan: _Plan, k: int, pool_scores: np.ndarray) -> RecResult:
        scores = np.full(len(self.item_ids_), -np.inf)
        scores[plan.cand] = pool_scores
        strategy = "hybrid+click_model" if plan.features is not None else "hybrid+rrf"
        return self._result(scores, k, plan.exclude, strategy)

    def recommend_item(self, item_id: str, k: int = 10, *, method: str = "hybrid") -> RecResult:
        """Items like ``item_id``: embedding neighbours (category/price aware) fused with co-occurrence."""
        self._check_fitted()
        j = self.index_.get(item_id)
        if j is None:
            return RecResult([], "none", f"unknown item {item_id!r}")
        st = self.state_
        co = np.asarray(st.cooc.matrix_.getrow(j).todense()).ravel()
        if method not in ("hybrid", "cooc", "similar"):
            raise ValueError("item recommendations use method hybrid, cooc or similar")
        sim = self.sim_.rescore(np.asarray([j]))[0] if self.sim_ is not None else None
        if method == "cooc" or (sim is None and method == "hybrid"):
            if not co.any():
                s = st.popularity.copy()
                return self._result(s, k, {j}, "popularity", f"no co-occurrence data for {item_id!r}")
            return self._result(co, k, {j}, "cooc")
        assert sim is not None
        if method == "similar" or not co.any():
            return self._result(sim, k, {j}, "similar")
        sim_f = np.where(np.isinf(sim), -1e9, sim)
        return self._result(_rrf([sim_f, co + 1e-12 * sim_f]), k, {j}, "similar+cooc")

    # ---- persistence
    def save(self, path: str | Path) -> None:
        """Write a model folder atomically: config.json, users.json, click_model.json and npz/npy arrays
        (factors, co-occurrence, item statistics, vectors), never pickle."""
        self._check_fitted()
        st = self.state_
        with atomic_dir(path) as tmp:
            cfg = {"format_version": FORMAT_VERSION, "task": "recommend", "params": self.get_params(),
                   "item_ids": self.item_ids_, "titles": self.titles_, "categories": self.categories_,
                   "prices": self.prices_, "now": st.now, "n_events": self.n_events_,
                   "n_sessions": st.cooc.n_sessions_, "has_vectors": self.vectors_ is not None,
                   "has_click_model": self.click_model_ is not None,
                   "mf": None if st.mf is None else {"params": st.mf.params(), "users": sorted(st.user_rows,
                                                                                            key=st.user_rows.__getitem__)}}
            (tmp / "config.json").write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
            m = st.cooc.matrix_.tocsr()
            np.savez(tmp / "cooc.npz", data=m.data, indices=m.indices, indptr=m.indptr,
                     shape=np.asarray(m.shape), item_counts=st.cooc.item_counts_)
            np.savez(tmp / "items.npz", popularity=st.popularity, recent_popularity=st.recent_popularity,
                     repeat_rate=st.repeat_rate, last_ts=st.last_ts, first_ts=st.first_ts)
            if self.vectors_ is not None:
                np.save(tmp / "vectors.npy", self.vectors_)
            if st.mf is not None:
                np.savez(tmp / "mf.npz", user_factors=st.mf.user_factors_, item_factors=st.mf.item_factors_)
            users = {u: {"weights": h.weights, "item_times": h.item_times, "order_times": h.order_times}
                     for u, h in st.users.items()}
            (tmp / "users.json").write_text(json.dumps({"now": st.now, "users": users}, ensure_ascii=False),
                                            encoding="utf-8")
            if self.click_model_ is not None:
                self.click_model_.save(tmp / "click_model.json")

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Read a folder written by ``save``; checks the version and the files."""
        path = recover_dir(path)
        cfg_path = path / "config.json"
        if not cfg_path.exists():
            raise FileNotFoundError(f"not a recommender folder (no config.json): {path}")
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        if cfg.get("task") != "recommend" or cfg.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: not a babelcart recommender of format {FORMAT_VERSION} "
                             f"(task={cfg.get('task')!r}, format_version={cfg.get('format_version')!r}); "
                             "train it again with `babelcart recommend train`")
        needed = ["cooc.npz", "items.npz", "users.json"]
        needed += ["vectors.npy"] if cfg["has_vectors"] else []
        needed += ["click_model.json"] if cfg["has_click_model"] else []
        needed += ["mf.npz"] if cfg["mf"] else []
        missing = [f for f in needed if not (path / f).exists()]
        if missing:
            raise FileNotFoundError(f"{path}: recommender folder is missing {', '.join(missing)}")
        rec = cls(**cfg["params"])
        rec.item_ids_ = list(cfg["item_ids"])
        rec.index_ = {iid: j for j, iid in enumerate(rec.item_ids_)}
        rec.titles_, rec.categories_, rec.prices_ = cfg["titles"], cfg["categories"], cfg["prices"]
        rec.vectors_ = np.load(path / "vectors.npy", allow_pickle=False) if cfg["has_vectors"] else None
        rec._fit_static()
        rec.click_model_ = ClickModel.load(path / "click_model.json") if cfg["has_click_model"] else None
        with np.load(path / "cooc.npz", allow_pickle=False) as z:
            cooc = CoOccurrence(gap_s=rec.session_gap_s, measure=rec.cooc_measure)
            cooc.item_ids_, cooc.index_ = rec.item_ids_, rec.index_
            cooc.matrix_ = sparse.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            cooc.item_counts_ = z["item_counts"]
        cooc.n_sessions_ = int(cfg["n_sessions"])
        raw = json.loads((path / "users.json").read_text(encoding="utf-8"))
        users = {u: UserHistory(dict(h["weights"]), {i: [float(t) for t in ts] for i, ts in h["item_times"].items()},
                                [float(t) for t in h["order_times"]])
                 for u, h in raw["users"].items()}
        profiles = UserProfiles(half_life_days=rec.half_life_days, type_weights=rec.type_weights)
        profiles.now_, profiles.weights_ = float(raw["now"]), {u: h.weights for u, h in users.items()}
        mf, rows = None, {}
        if cfg["mf"]:
            mf = ImplicitMF.from_arrays(cfg["mf"]["params"], path / "mf.npz")
            rows = {u: r for r, u in enumerate(cfg["mf"]["users"])}
        with np.load(path / "items.npz", allow_pickle=False) as z:
            rec.state_ = _State(cooc, profiles, z["popularity"], z["recent_popularity"], z["repeat_rate"],
                                z["last_ts"], z["first_ts"], float(cfg["now"]), users, mf, rows)
        rec.n_events_ = int(cfg["n_events"])
        rec.n_unknown_item_events_ = 0
        return rec


# ------------------------------------------------------------------------------------------------ batch
def batch_recommendations(rec: Recommender, lines: Iterable[str], *, k: int = 10,
                          history_of: Callable[[str], list[dict[str, Any]]] | None = None, chunk_lines: int = 256
                          ) -> Iterator[dict[str, Any]]:
    """One ``{"user_id", "results": [{"id", "score"}], "note"?}`` per input line, in order.

    A line is a user id, or a JSON object with ``user_id``. A user the model does not know is looked up with
    ``history_of`` (e.g. the store's events that arrived after training); without any events it gets popular
    items and a ``note``. An empty or unreadable line comes back with ``"error"`` and no results. Users are
    recommended ``chunk_lines`` at a time with :meth:`Recommender.recommend_users`.
    """
    pending: list[tuple[dict[str, Any], str, Any]] = []  # (row, user, history) waiting for recommend_users
    for n, raw in enumerate(lines, start=1):
        text = raw.strip()
        user: Any = text
        if not text:
            pending.append(({**blank_line(n), "user_id": None, "results": []}, "", None))
            continue
        if text.startswith("{"):
            try:
                user = json.loads(text).get("user_id")
            except (json.JSONDecodeError, AttributeError):
                pending.append(({**error_record(f"line {n} is not valid JSON", n), "user_id": None, "results": []},
                                "", None))
                continue
        if user in (None, "") or isinstance(user, dict | list | bool):
            pending.append(({**error_record("no user id on this line", n), "user_id": None, "results": []}, "", None))
            continue
        user = str(user)
        row: dict[str, Any] = {"line": n, "user_id": user}
        history = None
        if user not in rec.state_.users and history_of is not None:
            history = history_of(user) or None
            if history:
                row["note"] = f"user not in the model; used {len(history)} events from the database"
        pending.append((row, user, history))
        if len(pending) >= chunk_lines:
            yield from _recommend_rows(rec, pending, k)
            pending = []
    yield from _recommend_rows(rec, pending, k)


def _recommend_rows(rec: Recommender, pending: list[tuple[dict[str, Any], str, Any]], k: int
                    ) -> Iterator[dict[str, Any]]:
    """Fill the rows of ``batch_recommendations`` (error rows pass through); a user whose recommendation
    fails gets an ``error`` on their own line and the others are kept."""
    asks = [(row, user, history) for row, user, history in pending if "error" not in row]
    results: list[RecResult | Exception]
    try:
        results = list(rec.recommend_users([u for _, u, _ in asks], k, histories=[h for _, _, h in asks]))
    except Exception:  # noqa: BLE001 - one bad user must not sink the batch: redo them one by one
        logger.warning("batch recommendation failed; retrying user by user", exc_info=True)
        results = []
        for _, user, history in asks:
            try:
                results.append(rec.recommend_user(user, k, history=history))
            except Exception as exc:  # noqa: BLE001
                results.append(exc)
    answers = iter(results)
    for row, _, _ in pending:
        if "error" in row:
            yield row
            continue
        res = next(answers)
        if isinstance(res, Exception):
            yield {**row, "results": [], "error": f"recommendation failed: {res}"}
            continue
        out = {"user_id": row["user_id"], "results": [{"id": it["id"], "score": it["score"]} for it in res.items]}
        note = row.get("note") or res.message
        if note:
            out["note"] = note
        yield out


# ------------------------------------------------------------------------------------------- embeddings
def product_text(p: dict[str, Any]) -> str:
    """The text embedded for a product: title | category | start of the description."""
    parts = [str(p.get("title") or ""), str(p.get("category") or ""), str(p.get("description") or "")[:300]]
    return " | ".join(x for x in parts if x.strip())


def embed_products(products: Sequence[dict[str, Any]], encoder: Any, *, batch_size: int = 64,
                   show_progress: bool | None = None) -> np.ndarray:
    """Passage embeddings of ``product_text`` for each product (unit rows)."""
    return np.asarray(encoder.encode([product_text(p) for p in products], role="passage",
                                     batch_size=batch_size, show_progress=show_progress), dtype=np.float32)


# ------------------------------------------------------------------------------------------- evaluation
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
