"""The click model's features for one user's candidate pool (``FEATURES``, one column each).

Columns, in order: the candidate signals (profile z-score, similar items, co-occurrence, factors), the item's own
statistics (popularity, recency, age, repeat rate, price), the user's fit to the item (category affinity, price
fit, seen before, history weight), the user's order times of the item (``REPEAT_FEATURES``) and the user's
ordering habits (``USER_FEATURES``).
"""

from __future__ import annotations

import itertools

import numpy as np

from babelcart.apps.recommend.events import DAY
from babelcart.apps.recommend.history import UserHistory
from babelcart.apps.recommend.state import FitState

LAST_ORDERS = (1, 3, 10)  # rep_lastK: share of the user's last K orders that held the item
REPEAT_HALF_LIVES_DAYS = (14.0, 120.0)  # rep_decay_Nd: the item's orders, each decayed with this half-life
REPEAT_FEATURES = ["rep_orders", "rep_share", "rep_days", *(f"rep_last{k}" for k in LAST_ORDERS),
                   *(f"rep_decay_{int(h)}d" for h in REPEAT_HALF_LIVES_DAYS), "rep_gap", "rep_due", "rep_tenure"]
USER_FEATURES = ["u_orders", "u_days_since", "u_gap", "u_basket", "u_distinct", "u_repeat_share"]
FEATURES = ["profile_sim", "similar", "cooc", "mf", "log_pop", "recent_pop", "recency", "item_age", "repeat_rate",
            "log_price", "price_missing", "cat_affinity", "price_fit", "seen", "rep_weight",
            *REPEAT_FEATURES, *USER_FEATURES]


def feature_matrix(st: FitState, hist: UserHistory, cand: np.ndarray, comps: dict[str, np.ndarray], *,
                   index: dict[str, int], cat_codes: np.ndarray, n_categories: int, log_price: np.ndarray,
                   price_missing: np.ndarray) -> np.ndarray:
    """Feature matrix ``[len(cand), len(FEATURES)]`` for one user's candidate item indices ``cand``.

    ``comps`` are the candidate signals' scores over the whole catalog; ``index``, ``cat_codes`` (-1: none),
    ``log_price`` and ``price_missing`` describe the catalog's items."""
    n = len(index)
    zero = np.zeros(n)
    weights = hist.weights
    tot = sum(weights.values()) or 1.0
    cat_w = np.zeros(n_categories + 1)
    rep_w = np.zeros(n)
    for i, w in weights.items():
        j = index.get(i)
        if j is not None:
            cat_w[cat_codes[j]] += w
            rep_w[j] = w
    priced = (rep_w > 0) & (price_missing == 0)
    # every column but the profile z-score is elementwise, so it is computed on the candidates only
    codes, missing, log_price_c, w_c = cat_codes[cand], price_missing[cand], log_price[cand], rep_w[cand]
    if priced.any():
        ref = float(np.average(log_price[priced], weights=rep_w[priced]))
        price_fit = np.where(missing > 0, 0.0, -np.abs(log_price_c - ref))
    else:
        price_fit = np.zeros(len(cand))
    component_cols = [_zscore(comps.get("profile", zero))[cand], comps.get("similar", zero)[cand],
                      np.log1p(np.maximum(comps["cooc"][cand], 0)), comps.get("mf", zero)[cand]]
    user_cols = [np.where(codes >= 0, cat_w[codes] / tot, 0.0), price_fit, (w_c > 0).astype(np.float64),
                 np.log1p(w_c)]
    return np.concatenate([np.stack(component_cols, axis=1),
                           item_features(st, log_price=log_price, price_missing=price_missing)[cand],
                           np.stack(user_cols, axis=1), repeat_features(st.now, hist, cand, index=index)], axis=1)


def item_features(st: FitState, *, log_price: np.ndarray, price_missing: np.ndarray) -> np.ndarray:
    """The user-independent feature columns ``[n_items, 7]`` of a state (popularity ... price missing),
    built once per state."""
    if st.item_features is None:
        item_age = np.where(np.isnan(st.first_ts), 0.0,
                            np.maximum(st.now - np.nan_to_num(st.first_ts), 0) / DAY)
        st.item_features = np.stack([np.log1p(st.popularity), np.log1p(st.recent_popularity),
                                     st.item_recency(), np.log1p(item_age), st.repeat_rate, log_price,
                                     price_missing], axis=1)
    return st.item_features


def repeat_features(now: float, hist: UserHistory, cand: np.ndarray, *, index: dict[str, int]) -> np.ndarray:
    """``REPEAT_FEATURES`` then ``USER_FEATURES`` for the candidates, from the user's order times."""
    m = len(cand)
    out = np.zeros((m, len(REPEAT_FEATURES) + len(USER_FEATURES)))
    ot = np.asarray(hist.order_times, dtype=np.float64)
    if not len(ot):
        return out
    pos = np.full(len(index), -1)
    pos[cand] = np.arange(m)
    items = np.fromiter((index.get(i, -1) for i in hist.item_times), dtype=np.int64,
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


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9) if len(x) else x
