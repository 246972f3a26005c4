"""``babelcart serve --demo``: a ready folder (search index, review database, a sentiment model, a recommender,
keys) from the bundled sample.

The bundled sample (``babelcart/datasets/demo``, real licensed data, see its NOTICE) gives 120 products
(Open Food Facts / PRDECT-ID, several languages) and 250 reviews (en, zh, id). Reviews are PII-masked,
language-tagged, given sentiment from their rating/label and spread over the last 30 days. The folder is
reused on later runs; a fresh read key (and a write key) is made at every start and printed once.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from babelcart.config import Settings
from babelcart.serve.auth import KeyStore

logger = logging.getLogger(__name__)


def _bundled(name: str) -> list[dict[str, Any]]:
    text = resources.files("babelcart.datasets").joinpath("demo", name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def demo_reviews(now: datetime | None = None) -> list[dict[str, Any]]:
    """The bundled reviews, PII-masked, with language, sentiment and a timestamp (newest last)."""
    from babelcart.shop import DEMO, read_profile
    from babelcart.text.pii import mask_pii

    now = now or datetime.now(timezone.utc)
    rows = _bundled("reviews.jsonl")
    masked = [mask_pii(str(r.get("text", ""))).text for r in rows]
    langs = read_profile(DEMO).detector().detect_batch(masked)  # the demo shop's profile, as `babelcart demo`
    out = []
    for i, (r, text, g) in enumerate(zip(rows, masked, langs, strict=True)):
        if not text.strip():
            continue
        rating = r.get("rating")
        sent = r.get("sentiment")
        if sent is None and rating is not None:
            rating = int(rating)
            sent = "neg" if rating <= 2 else "neutral" if rating == 3 else "pos"
        ts = now - timedelta(minutes=(len(rows) - i) * 30 * 24 * 60 / max(len(rows), 1))
        out.append({"id": str(r.get("id", f"demo-{i}")), "product_id": r.get("product_id"), "text": text,
                    "rating": rating, "sentiment": sent, "lang": r.get("lang") or g.lang, "ts": ts})
    return out


def prepare_demo(settings: Settings, demo_dir: str | Path = ".cache/demo") -> tuple[Settings, dict[str, str]]:
    """Build (or reuse) the demo folder; returns settings pointing at it and fresh ``{"read", "write"}`` keys."""
    from babelcart.apps.search import SearchIndex
    from babelcart.store.repo import Store

    root = Path(demo_dir)
    root.mkdir(parents=True, exist_ok=True)
    index_dir = root / "index"
    if not (index_dir / "manifest.json").exists():
        logger.info("building the demo search index (%s) ...", settings.encoder)
        index = SearchIndex.build(_bundled("products.jsonl"), encoder_spec=settings.encoder,
                                  cache_dir=settings.cache_dir)
        index.save(index_dir)
    db_url = f"sqlite:///{(root / 'demo.db').resolve()}"
    store = Store(db_url)
    try:
        if store.counts().get("reviews", 0) == 0:
            store.upsert_reviews(demo_reviews())
    finally:
        store.close()
    models_dir = settings.models_dir if Path(settings.models_dir).is_dir() else root / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    if models_dir == root / "models" and not (models_dir / "sentiment" / "config.json").exists():
        _train_sentiment(settings, models_dir / "sentiment")
    recommender_dir = root / "recommender"
    if not (recommender_dir / "config.json").exists():
        _fit_recommender(settings, recommender_dir)
    keys_file = root / "keys.json"
    keys = KeyStore(keys_file)
    read_key, _ = keys.create(scope="read", name="demo-read")
    write_key, _ = keys.create(scope="write", name="demo-write")
    new = settings.model_copy(update={"index_dir": index_dir, "db_url": db_url, "keys_file": keys_file,
                                      "models_dir": models_dir, "recommender_dir": recommender_dir, "demo": True})
    return new, {"read": read_key, "write": write_key}


def _train_sentiment(settings: Settings, out: Path) -> None:
    """/v1/classify/sentiment: a head on the demo encoder trained on the bundled reviews' pos/neutral/neg."""
    from babelcart.learn.train import train_model

    logger.info("training the demo sentiment model (%s) ...", settings.encoder)
    rows = [{"text": r["text"], "label": r["sentiment"], "lang": r["lang"]} for r in demo_reviews() if r["sentiment"]]
    train_model(train=rows, out=out, encoder=settings.encoder, cache_dir=settings.cache_dir, method="head")


def _fit_recommender(settings: Settings, out: Path) -> None:
    """/v1/recommend/*: the bundled products' text side (the sample has no events: item-to-item similarity works,
    users get an empty list and a note that names `babelcart ingest events`)."""
    from babelcart.apps.recommend import Recommender, embed_products
    from babelcart.encoders import get_encoder

    logger.info("fitting the demo recommender on the bundled products (%s) ...", settings.encoder)
    products = _bundled("products.jsonl")
    kwargs = {"cache_dir": settings.cache_dir} if settings.cache_dir else {}
    vectors = embed_products(products, get_encoder(settings.encoder, **kwargs), show_progress=False)
    Recommender().fit([], products, vectors).save(out)

