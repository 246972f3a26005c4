"""Per-language evaluation: n, accuracy, macro-F1, MAE (ratings), and the gap to the source language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _row(y_true: list[Any], y_pred: list[Any], task: str) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    yt = [str(v) for v in y_true]
    yp = [str(v) for v in y_pred]
    row: dict[str, Any] = {
        "n": len(yt),
        "accuracy": float(np.mean([a == b for a, b in zip(yt, yp, strict=True)])) if yt else float("nan"),
        "macro_f1": float(f1_score(yt, yp, average="macro", zero_division=0)) if yt else float("nan"),
    }
    if task == "rating":
        row["mae"] = float(np.mean(np.abs(np.array(y_true, float) - np.array(y_pred, float)))) if yt else float("nan")
    return row


def per_language_report(y_true: Sequence[Any], y_pred: Sequence[Any], langs: Sequence[str], *, task: str,
                        source_lang: str | None = None) -> dict[str, Any]:
    """``{"languages": {lang: row}, "all": row, "source_lang": ..., "gap": {lang: source_acc - acc}}``.

    For ratings the gap is also given in MAE (``mae - source_mae``).
    """
    langs = list(langs)
    y_true, y_pred = list(y_true), list(y_pred)
    out: dict[str, Any] = {"languages": {}, "all": _row(y_true, y_pred, task), "source_lang": source_lang}
    for lang in sorted(set(langs)):
        idx = [i for i, g in enumerate(langs) if g == lang]
        out["languages"][lang] = _row([y_true[i] for i in idx], [y_pred[i] for i in idx], task)
    if source_lang and source_lang in out["languages"]:
        src = out["languages"][source_lang]
        gap: dict[str, Any] = {}
        for lang, row in out["languages"].items():
            if lang == source_lang:
                continue
            g = {"accuracy": src["accuracy"] - row["accuracy"], "macro_f1": src["macro_f1"] - row["macro_f1"]}
            if task == "rating":
                g["mae"] = row["mae"] - src["mae"]
            gap[lang] = g
        out["gap"] = gap
    return out


def format_report(report: dict[str, Any], *, task: str) -> str:
    """A plain-text table of a :func:`per_language_report`."""
    cols = ["lang", "n", "accuracy", "macro_f1"] + (["mae"] if task == "rating" else []) + ["gap_acc"]
    lines = ["  ".join(f"{c:>9}" for c in cols)]
    gap = report.get("gap", {})
    for lang, row in [*report["languages"].items(), ("ALL", report["all"])]:
        cells = [f"{lang:>9}", f"{row['n']:>9d}", f"{row['accuracy']:>9.3f}", f"{row['macro_f1']:>9.3f}"]
        if task == "rating":
            cells.append(f"{row['mae']:>9.3f}")
        cells.append(f"{gap[lang]['accuracy']:>9.3f}" if lang in gap else f"{'-':>9}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: str, *, task: str, title: str = "") -> None:
    """Bar chart of accuracy (and MAE for ratings) per language, source language highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = list(report["languages"])
    metrics = ["accuracy", "macro_f1"] + (["mae"] if task == "rating" else [])
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(6, 0.5 * len(langs) + 2) * len(metrics) / 1.5, 4))
    axes = np.atleast_1d(axes)
    src = report.get("source_lang")
    for ax, m in zip(axes, metrics, strict=True):
        vals = [report["languages"][g][m] for g in langs]
        colors = ["tab:orange" if g == src else "tab:blue" for g in langs]
        ax.bar(langs, vals, color=colors)
        ax.set_title(m)
        ax.tick_params(axis="x", rotation=60)
    fig.suptitle(title or "per-language evaluation (orange: source language)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
