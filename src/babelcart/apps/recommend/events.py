"""Events, the recommender's input: validation into ``Ev`` records, time decay and sessions.

An event is ``{"user_id", "item_id", "type", "ts"}`` (``type`` one of ``EVENT_WEIGHTS``, view < click < cart
< purchase); ``weight`` is the quantity bought (default 1).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

EVENT_WEIGHTS: dict[str, float] = {"view": 1.0, "click": 2.0, "cart": 4.0, "purchase": 8.0}
DAY = 86400.0


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
