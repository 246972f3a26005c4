"""The hybrid recommender: candidates from every signal, re-ranked by a click model learned on the log.

``Recommender`` fits popularity, co-occurrence, similar items, user histories and (optionally) ``implicit``
factors, takes candidates from each (and, with ``repeats=True``, the user's past items), and re-ranks them with a
``ClickModel`` (LightGBM LambdaRank) trained on ``label_windows`` windows of ``label_days`` at the end of the log
(earlier events → features, later purchases → labels; one list = the candidate pool a user would be shown), over
text, collaborative and order-time repeat features (``FEATURES``). Without a click model it fuses the candidate
lists by reciprocal rank.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from babelcart.apps.recommend.click_model import KINDS as RANKER_KINDS
from babelcart.apps.recommend.click_model import ClickModel
from babelcart.apps.recommend.events import DAY, EVENT_WEIGHTS, Ev, to_events
from babelcart.apps.recommend.factorization import KINDS as MF_KINDS
from babelcart.apps.recommend.factorization import ImplicitMF
from babelcart.apps.recommend.features import FEATURES, feature_matrix
from babelcart.apps.recommend.history import EMPTY_HISTORY, UserHistory, UserProfiles, user_histories
from babelcart.apps.recommend.persistence import SavedRecommender, read_folder, save_folder
from babelcart.apps.recommend.signals import CoOccurrence, SimilarItems, top_indices
from babelcart.apps.recommend.state import FitState
from babelcart.params import Params
from babelcart.progress import progress

logger = logging.getLogger(__name__)

METHODS = ("random", "popularity", "cooc", "similar", "profile", "repeat", "mf", "hybrid")
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
class _Plan:
    """A hybrid recommendation waiting for its blend: the candidate pool (item indices), the excluded items,
    and the click model's ``features`` for the pool, or the rank-fusion scores (``fused``) without a model."""

    cand: np.ndarray
    exclude: set[int]
    features: np.ndarray | None
    fused: np.ndarray | None


def _rrf(score_lists: list[np.ndarray], k0: float = 60.0) -> np.ndarray:
    """Reciprocal-rank fusion of full score arrays (higher is better)."""
    out = np.zeros(len(score_lists[0]))
    for s in score_lists:
        ranks = np.empty(len(s))
        ranks[np.argsort(-s, kind="stable")] = np.arange(len(s))
        out += 1.0 / (k0 + ranks + 1)
    return out


class Recommender(Params):
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
        vecs = None if vectors is None else np.asarray(vectors, dtype=np.float32)
        if vecs is not None and len(vecs) != len(ids):
            raise ValueError(f"{len(ids)} products but {len(vecs)} vectors")
        self._set_catalog(ids, [p.get("title") for p in products], [p.get("category") or None for p in products],
                          [float(p["price"]) if p.get("price") not in (None, "") else None for p in products], vecs)
        evs, _ = to_events(events)
        known = [e for e in evs if e.item_id in self.index_]
        self.n_unknown_item_events_ = len(evs) - len(known)
        if self.n_unknown_item_events_:
            logger.warning("ignored %d events for items not in the catalog", self.n_unknown_item_events_)
        self.click_model_: ClickModel | None = None
        if self.click_model:
            self.click_model_ = self._fit_click(known)
        self.state_ = self._state(known)
        self.n_events_ = len(known)
        return self

    def _set_catalog(self, item_ids: list[str], titles: list[Any], categories: list[str | None],
                     prices: list[float | None], vectors: np.ndarray | None) -> None:
        """Keep the catalog and derive what depends on it alone (price and category codes, similar items)."""
        self.item_ids_ = item_ids
        self.index_ = {iid: j for j, iid in enumerate(item_ids)}
        self.titles_, self.categories_, self.prices_, self.vectors_ = titles, categories, prices, vectors
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

    def _state(self, events: Sequence[Ev]) -> FitState:
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
        return FitState(cooc, profiles, pop, recent, repeat_rate, last, first, profiles.now_, users, mf, rows)

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

    def _mf_scores(self, st: FitState, user_id: str, hist: UserHistory) -> np.ndarray:
        n = len(self.item_ids_)
        if st.mf is None or not hist.orders:
            return np.zeros(n)
        row = st.user_rows.get(user_id)
        if row is not None and st.users.get(user_id) is hist:
            return st.mf.scores_for_user(row).astype(np.float64)
        items = np.asarray([self.index_[i] for i in hist.orders], dtype=np.int64)
        conf = np.log1p(np.asarray(list(hist.orders.values()), dtype=np.float64))
        return (st.mf.item_factors_ @ st.mf.fold_in(items, conf)).astype(np.float64)

    def _method_scores(self, st: FitState, user_id: str, hist: UserHistory, method: str) -> np.ndarray:
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

    def _components(self, st: FitState, user_id: str, hist: UserHistory) -> dict[str, np.ndarray]:
        names = ["popularity", "cooc"] + (["similar", "profile"] if self.vectors_ is not None else [])
        names += ["mf"] if st.mf is not None else []
        return {m: self._method_scores(st, user_id, hist, m) for m in names}

    def features(self, st: FitState, hist: UserHistory, cand: np.ndarray, comps: dict[str, np.ndarray]
                 ) -> np.ndarray:
        """Feature matrix ``[len(cand), len(FEATURES)]`` for one user's candidate item indices."""
        return feature_matrix(st, hist, cand, comps, index=self.index_, cat_codes=self.cat_codes_,
                              n_categories=len(self.cat_list_), log_price=self.log_price_,
                              price_missing=self.price_missing_)

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
        jobs: list[tuple[FitState, str, set[str]]] = []
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
        order = [j for j in top_indices(scores, k + len(exclude)).tolist() if j not in exclude][:k]
        items = [{"id": self.item_ids_[j], "score": round(float(scores[j]), 6) + 0.0, "title": self.titles_[j],
                  "category": self.categories_[j], "price": self.prices_[j]} for j in order]
        return RecResult(items, strategy, message, cold)

    def user_history(self, user_id: str, history: Iterable[dict[str, Any] | Ev] | None = None) -> UserHistory:
        """The user's past: from ``history`` events when given, else from the fit (empty when unknown)."""
        self._check_fitted()
        if history is None:
            return self.state_.users.get(user_id, EMPTY_HISTORY)
        evs, _ = to_events(history, on_error="skip")
        evs = [e for e in evs if e.user_id == user_id and e.item_id in self.index_]
        profiles = UserProfiles(half_life_days=self.half_life_days, type_weights=self.type_weights)
        profiles.now_ = max(self.state_.now, max((e.ts for e in evs), default=0.0))
        return user_histories(evs, profiles).get(user_id, EMPTY_HISTORY)

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
        """Write a model folder atomically (:mod:`babelcart.apps.recommend.persistence`), never pickle."""
        self._check_fitted()
        save_folder(path, SavedRecommender(self.get_params(), self.item_ids_, self.titles_, self.categories_,
                                           self.prices_, self.vectors_, self.click_model_, self.state_,
                                           self.n_events_))

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Read a folder written by ``save``; checks the version and the files."""
        saved = read_folder(path)
        rec = cls(**saved.params)
        rec._set_catalog(saved.item_ids, saved.titles, saved.categories, saved.prices, saved.vectors)
        rec.click_model_, rec.state_, rec.n_events_ = saved.click_model, saved.state, saved.n_events
        rec.n_unknown_item_events_ = 0
        return rec
