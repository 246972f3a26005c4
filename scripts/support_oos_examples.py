"""Copy a few xSID utterances into the bundled support intents as out-of-scope ("other") examples.

Deterministic: from the ``dev_pool`` part of ``benchmarks/_xsid_split.py`` only (never a text that also occurs
in the rows the benchmark tunes or tests on), the families weather, alarm and reminder (the requests a shop
bot confuses with delivery times and cancellations), in the bot's languages that xSID has (en, de, zh, ja,
id), at most ``--per-lang`` each, picked by a hash of the text. French and Spanish get none on purpose: they, and xSID's 14 other
language codes, measure how the hand-over works in languages without out-of-scope examples. Replaces the
previously copied xSID examples (the hand-written ones stay first) and keeps the attribution in ``about``.

    PYTHONPATH=src .venv/bin/python scripts/support_oos_examples.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _xsid_split import xsid_rows  # noqa: E402

FAMILIES = ("weather", "alarm", "reminder")
LANGS = ("en", "de", "zh", "ja", "id")
ATTRIBUTION = (" The 'other' intent's examples after the hand-written ones are {n} xSID utterances (weather, alarm,"
               " reminder requests in en, de, zh, ja, id; CC BY-SA 4.0, van der Goot et al. 2021, 'From Masked"
               " Language Modeling to Translation: Non-English Auxiliary Tasks Improve Zero-shot Spoken Language"
               " Understanding', github mainlp/xsid), copied by scripts/support_oos_examples.py; those examples"
               " are under CC BY-SA 4.0.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-lang", type=int, default=40)
    ap.add_argument("--path", default=str(ROOT / "src/babelcart/apps/support_data/intents.json"))
    args = ap.parse_args()
    rows = xsid_rows()
    if not rows:
        raise SystemExit("error: ../shared/data/intents/xsid_valid.jsonl not found")
    path = Path(args.path)
    data = json.loads(path.read_text(encoding="utf-8"))
    xsid_texts = {r["text"] for r in rows}
    other = data["intents"]["other"]
    by_lang: dict[str, list[str]] = {lg: [e for e in ex if e not in xsid_texts]
                                     for lg, ex in other["examples"].items()}
    elsewhere = {r["text"] for r in rows if r["part"] != "dev_pool"}  # one translation may serve two sentences
    n = 0
    for lang in LANGS:
        pool = sorted({r["text"] for r in rows if r["part"] == "dev_pool" and r["lang"] == lang
                       and r["family"] in FAMILIES and r["text"] not in elsewhere},
                      key=lambda t: hashlib.sha1(t.encode()).hexdigest())
        new = [t for t in pool[: args.per_lang] if t not in by_lang.get(lang, [])]
        by_lang.setdefault(lang, []).extend(new)
        n += len(new)
    other["examples"] = by_lang
    data["about"] = data["about"].split(" The 'other' intent's examples after")[0] + ATTRIBUTION.format(n=n)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    print(f"{path}: {n} xSID out-of-scope examples")


if __name__ == "__main__":
    main()
