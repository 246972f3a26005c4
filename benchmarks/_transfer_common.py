"""Shared pieces of the transfer benchmarks: run a variant through train_model, tables, plots, JSON."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import write_result

RESULTS = Path(__file__).parent / "results"


def train_and_load(encoder: Any, **kwargs: Any) -> Any:
    """Train a model folder in a temp dir with the real trainer and load it back."""
    from babelcart.learn import train_model
    from babelcart.models import load_model

    tmp = Path(tempfile.mkdtemp(prefix="bench-model-"))
    path = train_model(out=tmp / "model", encoder=encoder, **kwargs)
    return load_model(path, encoder=encoder)


def finetune_and_self_train(run: Any, train: list[dict[str, Any]], unlabeled: dict[str, list[dict[str, Any]]],
                            **fit_kw: Any) -> tuple[dict[str, Path], dict[str, Any]]:
    """Fit ``run`` (a ``FinetuneRun``: the teacher) and save it, then one self-training round per unlabeled
    mix, each from the same teacher. Returns the saved folders by row name and the cost of each stage."""
    t0 = time.time()
    run.fit(train, **fit_kw)
    cost: dict[str, Any] = {"teacher_s": time.time() - t0, "teacher_epochs": list(run.history_)}
    tmp = Path(tempfile.mkdtemp(prefix="bench-ft-"))
    models = {"finetune": run.save(tmp / "teacher")}
    snap = run.snapshot()
    for mix, rows in unlabeled.items():
        run.restore(snap)
        t0 = time.time()
        run.self_train(rows, rounds=1)
        cost[f"selftrain_{mix}_s"] = time.time() - t0
        cost[f"selftrain_{mix}"] = {"epochs": run.history_[snap[2]:], "report": run.self_training_[-1]}
        models[f"finetune+selftrain [{mix}]"] = run.save(tmp / mix)
    return models, cost


def gap_summary(gaps: dict[str, dict[str, float]], baseline: str = "raw") -> dict[str, dict[str, Any]]:
    """Per variant: mean gap over target languages, reduction vs baseline, languages that got worse."""
    out: dict[str, dict[str, Any]] = {}
    base = gaps[baseline]
    for v, g in gaps.items():
        mean = float(np.mean(list(g.values())))
        worse = [lang for lang in g if g[lang] > base[lang] + 1e-9]
        out[v] = {"mean_gap": mean, "reduction_vs_raw": 1 - mean / float(np.mean(list(base.values())))
                  if np.mean(list(base.values())) else float("nan"), "worse_than_raw": worse}
    return out


def target_verdict(summary: dict[str, dict[str, Any]], variant: str = "center+procrustes+selftrain") -> str:
    """The issue's target (zero-shot gap cut by half vs raw, no language worse) checked for ``variant``, and the
    best zero-shot variant (few-shot rows left out)."""
    zs = summary[variant]
    best = min((v for v in summary if "few-shot" not in v), key=lambda v: summary[v]["mean_gap"])
    met = zs["reduction_vs_raw"] >= 0.5 and not zs["worse_than_raw"]
    return (f"target (zero-shot gap cut by >= 50% vs raw, no language worse) with {variant}: gap reduction "
            f"{zs['reduction_vs_raw']:.1%}, languages worse than raw: {zs['worse_than_raw'] or 'none'} -> "
            f"{'MET' if met else 'NOT MET'}; best zero-shot variant: {best} ({summary[best]['reduction_vs_raw']:.1%})")


def write_results(name: str, payload: dict[str, Any]) -> Path:
    return write_result(name, payload)


def bar_plot(name: str, langs: list[str], values: dict[str, list[float]], ylabel: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(min(16, max(8, 0.8 * len(langs))), 5))
    width = 0.8 / len(values)
    for i, (v, vals) in enumerate(values.items()):
        ax.bar(np.arange(len(langs)) + i * width, vals, width, label=v)
    ax.set_xticks(np.arange(len(langs)) + 0.4 - width / 2, langs, rotation=45)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    ax.set_title(title)
    fig.tight_layout()
    RESULTS.mkdir(exist_ok=True)
    fig.savefig(RESULTS / f"{name}.png", dpi=100)
    plt.close(fig)
