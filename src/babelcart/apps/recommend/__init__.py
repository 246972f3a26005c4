"""Recommendation: repeat purchases, implicit ALS/BPR, session co-occurrence, multilingual similar items,
time-decayed user histories, blended by a click model learned on a time split of the log.

Modules (each piece usable alone):

- ``events``: ``Ev``, ``to_events`` (validation), ``decay``, ``sessionize``.
- ``history``: ``UserProfiles`` / ``UserHistory``: per-user item weights Σ type_weight · (1 + ln quantity) ·
  0.5^(age / half_life), distinct order times per item, the last time of each item.
- ``signals``: ``CoOccurrence`` (sessions → normalized item co-counts) and ``SimilarItems`` (cross-lingual
  embedding neighbours re-scored by category and price).
- ``factorization``: ``ImplicitMF``, ``implicit`` ALS or BPR factors with a fold-in for new users.
- ``features`` and ``click_model``: the ranking features (``FEATURES``) and the learned blend (``ClickModel``).
- ``recommender``: ``Recommender``, which fits all of the above plus popularity and blends them.
- ``persistence``: the model folder (JSON and npz, never pickle).
- ``batch``, ``embeddings``, ``evaluation``: a file of users, the catalog's embeddings, ``time_split`` and
  ``evaluate`` (capped Recall@k, nDCG@k, coverage) against the single signals.

>>> rec = Recommender(click_model=False).fit(events, products, vectors)   # doctest: +SKIP
>>> rec.recommend_user("u1", k=5).items                                 # doctest: +SKIP
"""

from __future__ import annotations

from babelcart.apps.recommend.batch import batch_recommendations
from babelcart.apps.recommend.click_model import ClickModel
from babelcart.apps.recommend.embeddings import embed_products, product_text
from babelcart.apps.recommend.evaluation import evaluate, time_split
from babelcart.apps.recommend.events import DAY, EVENT_WEIGHTS, Ev, decay, sessionize, to_events
from babelcart.apps.recommend.factorization import ImplicitMF
from babelcart.apps.recommend.features import FEATURES, REPEAT_FEATURES, USER_FEATURES
from babelcart.apps.recommend.history import UserHistory, UserProfiles, user_histories
from babelcart.apps.recommend.persistence import FORMAT_VERSION
from babelcart.apps.recommend.recommender import METHODS, NO_EVENTS, Recommender, RecResult
from babelcart.apps.recommend.signals import CoOccurrence, SimilarItems, top_indices

__all__ = [
    "DAY", "EVENT_WEIGHTS", "FEATURES", "FORMAT_VERSION", "METHODS", "NO_EVENTS", "REPEAT_FEATURES",
    "USER_FEATURES", "ClickModel", "CoOccurrence", "Ev", "ImplicitMF", "RecResult", "Recommender", "SimilarItems",
    "UserHistory", "UserProfiles", "batch_recommendations", "decay", "embed_products", "evaluate",
    "product_text", "sessionize", "time_split", "to_events", "top_indices", "user_histories",
]
