"""Thin adapters between the routes and the app modules (support answers, recommendations)."""

from __future__ import annotations

from babelcart.serve.errors import NotFoundError
from babelcart.serve.services import Services


# ------------------------------------------------------------------ support
def support_answer(services: Services, message: str, *, lang: str | None, params: dict[str, str]) -> dict:
    bot = services.support
    out = bot.answer([message], langs=[lang], slots=[params])[0]
    return {k: v for k, v in out.items() if v is not None or k in ("answer", "intent")}


# ------------------------------------------------------------------ recommend
def recommend(services: Services, kind: str, item_or_user: str, k: int) -> tuple[list[dict], str | None]:
    """``(items, note)``; an unknown item is a 404, an unknown user gets popular items (cold start)."""
    rec = services.recommender
    if kind == "item":
        res = rec.recommend_item(item_or_user, k=k)
        if res.strategy == "none":
            raise NotFoundError(res.message or f"unknown item {item_or_user!r}")
    else:
        res = rec.recommend_user(item_or_user, k=k)
    note = res.message or None
    note = f"{res.strategy}: {note}" if note else res.strategy
    items = [{key: (v.item() if hasattr(v, "item") else v) for key, v in it.items()} for it in res.items]
    for it in items:
        it["id"] = str(it["id"])
    return items, note
