"""Products as search documents: checks (id, title, price), last-wins de-duplication, language detection.

Every backend reads products through :func:`validate_products`, so a bad product gets the same per-line error
whichever backend stores the catalog, and a document looks the same in all of them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from babelcart.apps.search.analyzers import guess_script_lang

logger = logging.getLogger(__name__)


@dataclass
class AddReport:
    """What ``add`` did: rows added, ids replaced (last wins), per-product errors."""

    added: int = 0
    replaced: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DeleteReport:
    """Ids deleted and ids that were not in the index (ignored)."""

    deleted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def detect_lang(text: str) -> str | None:
    """Language of ``text`` from ``babelcart.text.langid`` when available, else a script-only guess."""
    return detect_langs([text])[0]


def detect_langs(texts: Sequence[str], *, listings: bool = False) -> list[str | None]:
    """``detect_lang`` for many texts (one batch call to the detector); ``listings``: the texts are product
    listings, read under the shop profile in force (``babelcart.shop.detect_listings``)."""
    if not texts:
        return []
    try:
        from babelcart.shop import detect_listings
        from babelcart.text.langid import detect_batch
    except ImportError:
        return [guess_script_lang(t) for t in texts]
    try:
        if listings:
            found = detect_listings(list(texts))
        else:
            found = [getattr(g, "lang", None) for g in detect_batch(list(texts))]
    except Exception:  # noqa: BLE001 - a detector failure must not fail a search
        logger.debug("language detection failed", exc_info=True)
        found = [None] * len(texts)
    return [str(lg) if lg and lg not in ("und", "unknown", "xx") else guess_script_lang(t)
            for lg, t in zip(found, texts, strict=True)]


def fold_key(value: Any) -> str:
    """How a category or language is compared in filters (trimmed, case-folded)."""
    return str(value).strip().casefold()


def validate_products(products: Iterable[Any], report: AddReport, *, text_fields: Sequence[str],
                      detect_doc_lang: bool) -> list[dict[str, Any]]:
    """Check every product; the last one of each id wins; errors go to ``report``.

    Returns documents ``{"pos", "id", "title", "text", "lang", "category", "price"}`` (``pos``: index in
    ``products``), with the language detected for those without one when ``detect_doc_lang``.
    """
    latest: dict[str, dict[str, Any]] = {}
    for i, p in enumerate(products):
        where: dict[str, Any] = {"index": i}
        if isinstance(p, Mapping) and "error" in p and "line" in p:  # a line the reader could not parse
            where["line"] = p["line"]
        if not isinstance(p, Mapping):
            report.errors.append({**where, "error": f"product must be an object, got {type(p).__name__}"})
            continue
        if "error" in p:
            report.errors.append({**where, "error": str(p["error"])})
            continue
        pid = p.get("id")
        if pid is None or (isinstance(pid, str) and not pid.strip()) or isinstance(pid, (dict, list)):
            report.errors.append({**where, "error": "product has no 'id'"})
            continue
        pid = str(pid)
        where["id"] = pid
        title = p.get("title")
        if not isinstance(title, str) or not title.strip():
            report.errors.append({**where, "error": "product has no 'title' (a non-empty string)"})
            continue
        price = p.get("price")
        if price is not None and price != "":
            try:
                price = float(price)
                if math.isnan(price):
                    raise ValueError
            except (TypeError, ValueError):
                report.errors.append({**where, "error": f"price is not a number: {p.get('price')!r}"})
                continue
        else:
            price = None
        if pid in latest:
            report.replaced += 1
            logger.info("duplicate id %s in one batch: the last one wins", pid)
            del latest[pid]  # re-insert to keep the last occurrence's position
        texts = [str(p[f]).strip() for f in text_fields if p.get(f) not in (None, "")]
        lang = p.get("lang")
        lang = str(lang).strip() if isinstance(lang, str) and lang.strip() else None
        cat = p.get("category")
        latest[pid] = {"pos": i, "id": pid, "title": title.strip(), "text": "\n".join(texts), "lang": lang,
                       "category": str(cat) if cat not in (None, "") else None, "price": price}
    docs = list(latest.values())
    if detect_doc_lang:
        todo = [d for d in docs if d["lang"] is None]
        for d, lang in zip(todo, detect_langs([d["text"][:500] for d in todo], listings=True), strict=True):
            d["lang"] = lang
    return docs
