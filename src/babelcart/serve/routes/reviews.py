"""``/v1/reviews`` (ingest, PII-masked before storing), ``/v1/reviews/summary`` and ``/v1/alerts``."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from babelcart.serve.deps import AdminKey, ReadKey, ServicesDep, SettingsDep, WriteKey
from babelcart.serve.errors import BadRequestError, NotImplementedFeature, UnavailableError
from babelcart.serve.safety import check_texts
from babelcart.serve.schemas import (
    AlertOut,
    AlertsOut,
    ErrorOut,
    LangSentiment,
    ReviewResult,
    ReviewsIn,
    ReviewsOut,
    SentimentSummaryOut,
)
from babelcart.serve.services import Services
from babelcart.store.rows import parse_ts
from babelcart.store.schema import Review
from babelcart.text.langid import detect_batch
from babelcart.text.pii import mask_pii

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["reviews"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 413, 422, 429, 501, 503)}


def sentiment_from_rating(rating: int | None) -> str | None:
    """1-2 stars negative, 3 neutral, 4-5 positive."""
    if rating is None:
        return None
    return "neg" if rating <= 2 else "neutral" if rating == 3 else "pos"


def _model_sentiment(services: Services, model: str, texts: list[str], langs: list[str | None]) -> list[str | None]:
    clf = services.registry.get(model)
    preds = clf.predict(texts, langs=langs)
    out: list[str | None] = []
    for p in preds:
        pred = p.get("pred")
        if getattr(clf, "task", None) == "rating" or isinstance(pred, int):
            out.append(sentiment_from_rating(int(round(float(p.get("expected") or pred)))))
        else:
            label = str(pred).lower()
            out.append("neg" if label.startswith("neg") else "pos" if label.startswith("pos") else "neutral")
    return out


@router.post("/reviews", response_model=ReviewsOut, responses=_ERRORS,
             summary="Ingest reviews: PII masked, language detected, stored, fed to the sentiment monitor")
def ingest_reviews(body: ReviewsIn, key: WriteKey, services: ServicesDep, settings: SettingsDep) -> ReviewsOut:
    reviews = body.reviews
    check_texts([r.text for r in reviews], settings, field="reviews")
    store = services.store
    masked = [mask_pii(r.text) for r in reviews]
    langs: list[str | None] = [r.lang for r in reviews]
    todo = [i for i, lg in enumerate(langs) if lg is None]
    for i, g in zip(todo, detect_batch([masked[i].text for i in todo]) if todo else [], strict=True):
        langs[i] = g.lang
    sentiments = [r.sentiment or sentiment_from_rating(r.rating) for r in reviews]
    todo = [i for i, s in enumerate(sentiments) if s is None]
    if todo and settings.sentiment_model:
        try:
            got = _model_sentiment(services, settings.sentiment_model, [masked[i].text for i in todo],
                                   [langs[i] for i in todo])
            for i, s in zip(todo, got, strict=True):
                sentiments[i] = s
        except (UnavailableError, NotImplementedFeature) as exc:
            logger.warning("sentiment model unavailable: %s", exc)
    now = datetime.now(timezone.utc)
    records: list[dict[str, Any]] = []
    for i, (r, m) in enumerate(zip(reviews, masked, strict=True)):
        try:
            ts = parse_ts(r.ts) if r.ts else None
        except ValueError as exc:
            raise BadRequestError(f"reviews[{i}].ts: {exc}") from None
        rid = r.id or "r-" + hashlib.sha256(f"{r.product_id}\0{m.text}".encode()).hexdigest()[:16]
        if ts is None:  # a review sent again without a time keeps the time it was first stored with
            old = store.get_review(rid)
            ts = (old or {}).get("ts") or now
        records.append({"id": rid, "product_id": r.product_id, "text": m.text, "rating": r.rating,
                        "sentiment": sentiments[i], "lang": langs[i], "ts": ts})
    result = store.upsert_reviews(records)
    services.metrics.observe_langs("reviews", [lg or "und" for lg in langs])
    status = {**{x: "inserted" for x in result.inserted}, **{x: "updated" for x in result.updated},
              **{x: "unchanged" for x in result.unchanged}}
    alerts: list[dict[str, Any]] = []
    changed = set(result.changed)
    fresh = [rec for rec in records if rec["id"] in changed]
    if fresh:
        try:
            alerts = services.observe_reviews(fresh)
        except (NotImplementedFeature, UnavailableError) as exc:
            logger.info("sentiment monitor not active: %s", exc)
    return ReviewsOut(
        results=[ReviewResult(id=rec["id"], lang=rec["lang"], sentiment=rec["sentiment"], pii=dict(m.counts),
                              status=status.get(rec["id"], "inserted"))  # type: ignore[arg-type]
                 for rec, m in zip(records, masked, strict=True)],
        alerts=alerts)


#: Fewest star-rated reviews of a language for the summary to give their average (fewer: only the count).
MIN_RATED = 5


@router.get("/reviews/summary", response_model=SentimentSummaryOut, responses=_ERRORS,
            summary="Review sentiment per language (for the dashboard)")
def reviews_summary(key: ReadKey, services: ServicesDep) -> SentimentSummaryOut:
    store = services.store
    reviews = Review.__table__
    q = (select(reviews.c.lang, reviews.c.sentiment, func.count(), func.count(reviews.c.rating),
                func.sum(reviews.c.rating))
         .group_by(reviews.c.lang, reviews.c.sentiment))
    per: dict[str, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for lang, sent, n, n_rated, rating_sum in conn.execute(q):
            d = per.setdefault(lang or "und", {"count": 0, "pos": 0, "neg": 0, "neutral": 0, "rated": 0, "_r": 0.0})
            d["count"] += n
            key_ = sent if sent in ("pos", "neg") else "neutral"
            d[key_] += n
            d["rated"] += n_rated
            d["_r"] += float(rating_sum or 0)
    langs = [LangSentiment(lang=lg, count=d["count"], pos=d["pos"], neg=d["neg"], neutral=d["neutral"],
                           rated=d["rated"],
                           avg_rating=round(d["_r"] / d["rated"], 3) if d["rated"] >= MIN_RATED else None)
             for lg, d in sorted(per.items(), key=lambda kv: -kv[1]["count"])]
    return SentimentSummaryOut(total=sum(x.count for x in langs), languages=langs)


@router.get("/alerts", response_model=AlertsOut, responses=_ERRORS, summary="Recent sentiment alerts")
def list_alerts(key: ReadKey, services: ServicesDep,
                limit: int = Query(50, ge=1, le=1000),
                delivered: bool | None = Query(None, description="Only delivered / undelivered alerts.")
                ) -> AlertsOut:
    rows = services.store.list_alerts(delivered=delivered)
    rows = rows[-limit:][::-1]  # newest first
    out = []
    for r in rows:
        ts = r.get("ts")
        out.append(AlertOut(**{**r, "ts": ts.isoformat() if hasattr(ts, "isoformat") else ts}))
    return AlertsOut(alerts=out)


@router.post("/alerts/redeliver", responses=_ERRORS, summary="Retry the webhook for undelivered alerts (admin)")
def redeliver_alerts(key: AdminKey, services: ServicesDep) -> dict[str, int]:
    monitor = services.monitor
    pending = len(services.store.list_alerts(delivered=False))
    return {"pending": pending, "delivered": int(monitor.redeliver())}
