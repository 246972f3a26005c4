"""Recommendations for a file of users: one answer line per input line, bad lines marked, never dropped."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from babelcart.apps.recommend.recommender import Recommender, RecResult
from babelcart.datasets.records import blank_line, error_record

logger = logging.getLogger(__name__)


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
        row: dict[str, Any] = {"line": n, "user_id": user}  # the line is dropped from a good answer
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
