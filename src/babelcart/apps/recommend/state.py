"""What a recommender learns from one event log: item statistics, user histories, co-occurrence, factors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from babelcart.apps.recommend.events import DAY, decay
from babelcart.apps.recommend.factorization import ImplicitMF
from babelcart.apps.recommend.history import UserHistory, UserProfiles
from babelcart.apps.recommend.signals import CoOccurrence


@dataclass
class FitState:
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
