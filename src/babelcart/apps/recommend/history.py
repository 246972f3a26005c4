"""Users' pasts: time-decayed item weights (``UserProfiles``) and order times (``UserHistory``).

A user's weight of an item is Σ type_weight · (1 + ln quantity) · 0.5^(age / half_life) over their events,
with view < click < cart < purchase (``EVENT_WEIGHTS``); an order is one distinct event time (one invoice).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from babelcart.apps.recommend.events import DAY, EVENT_WEIGHTS, Ev, decay


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


#: The past of a user without events.
EMPTY_HISTORY = UserHistory({}, {}, [])
