"""Per-language evaluation: n, accuracy, macro-F1, MAE (ratings), calibration error, and the gap to the source
language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Equal-width confidence bins of :func:`expected_calibration_error`.
ECE_BINS = 10


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], *,
                               bins: int = ECE_BINS) -> float:
    """How far the stated confidence of the predicted label is from how often it is right: the mean over
    equal-width confidence bins of ``|accuracy - mean confidence|``, weighted by each bin's share of rows (0 is
    perfectly calibrated; a model that says 0.99 and is right 80% of the time scores about 0.19)."""
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    hit = np.asarray(correct, dtype=np.float64)
    if not len(conf):
        return float("nan")
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(which):
        m = which == b
        total += m.sum() * abs(hit[m].mean() - conf[m].mean())
    return float(total / len(conf))


def _row(y_true: list[Any], y_pred: list[Any], task: str, confidence: list[float] | None = None) -> dict[str, Any]:
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
    if confidence is not None:
        row["ece"] = expected_calibration_error(confidence, [a == b for a, b in zip(yt, yp, strict=True)])
        row["confidence"] = float(np.mean(confidence)) if yt else float("nan")
    return row


def per_language_report(y_true: Sequence[Any], y_pred: Sequence[Any], langs: Sequence[str], *, task: str,
                        source_lang: str | None = None, min_n: int = 1,
                        source_reference: Mapping[str, Any] | None = None,
                        confidence: Sequence[float] | None = None) -> dict[str, Any]:
    """``{"languages": {lang: row}, "all": row, "source_lang": ..., "gap": {lang: source_acc - acc}}``.

    For ratings the gap is also given in MAE (``mae - source_mae``). Language rows with fewer than ``min_n``
    lines (never the largest) are folded into one ``"other"`` row, their counts listed under ``"folded"``:
    a handful of misdetected lines measures nothing. The gap is taken against the ``source_lang`` row of
    these data when it has ``min_n`` lines, else against ``source_reference`` (``{"row": row, "from": where}``,
    e.g. the model's own dev metrics); ``"gap_reference"`` says which. With ``confidence`` (the probability the
    model gave its predicted label, per line) every row also has ``ece`` (:func:`expected_calibration_error`) and
    the mean ``confidence``.
    """
    langs = list(langs)
    y_true, y_pred = list(y_true), list(y_pred)
    conf = list(confidence) if confidence is not None else None

    def rows_of(idx: list[int]) -> dict[str, Any]:
        return _row([y_true[i] for i in idx], [y_pred[i] for i in idx], task,
                    [conf[i] for i in idx] if conf is not None else None)

    out: dict[str, Any] = {"languages": {}, "all": rows_of(list(range(len(y_true)))), "source_lang": source_lang}
    index: dict[str, list[int]] = {}
    for i, g in enumerate(langs):
        index.setdefault(g, []).append(i)
    largest = max(index, key=lambda g: len(index[g])) if index else None
    small = sorted(g for g, idx in index.items() if len(idx) < min_n and g != largest)
    for lang in sorted(set(index) - set(small)):
        idx = index[lang]
        out["languages"][lang] = rows_of(idx)
    if small:
        idx = sorted(i for g in small for i in index[g])
        out["folded"] = {g: len(index[g]) for g in small}
        out["min_n"] = min_n
        out["other"] = rows_of(idx)
    src: dict[str, Any] | None = None
    if source_lang and source_lang in out["languages"]:
        src = out["languages"][source_lang]
        out["gap_reference"] = {"lang": source_lang, "from": "these data", "n": src["n"]}
    elif source_lang and source_reference is not None:
        src = dict(source_reference["row"])
        out["gap_reference"] = {"lang": source_lang, "from": source_reference["from"], "n": src.get("n")}
    if src is not None:
        gap: dict[str, Any] = {}
        for lang, row in out["languages"].items():
            if lang == source_lang and out["gap_reference"]["from"] == "these data":
                continue
            lang_gap = {"accuracy": src["accuracy"] - row["accuracy"], "macro_f1": src["macro_f1"] - row["macro_f1"]}
            if task == "rating":
                lang_gap["mae"] = row["mae"] - src["mae"]
            gap[lang] = lang_gap
        out["gap"] = gap
    return out


def format_report(report: dict[str, Any], *, task: str) -> str:
    """A plain-text table of a :func:`per_language_report`, with what the gap and the folded rows mean."""
    has_ece = "ece" in report["all"]
    cols = (["lang", "n", "accuracy", "macro_f1"] + (["mae"] if task == "rating" else []) + (["ece"] if has_ece else [])
            + ["gap_acc"])
    lines = ["  ".join(f"{c:>9}" for c in cols)]
    gap = report.get("gap", {})
    rows = [*report["languages"].items(), *([("other", report["other"])] if "other" in report else []),
            ("ALL", report["all"])]
    for lang, row in rows:
        cells = [f"{lang:>9}", f"{row['n']:>9d}", f"{row['accuracy']:>9.3f}", f"{row['macro_f1']:>9.3f}"]
        if task == "rating":
            cells.append(f"{row['mae']:>9.3f}")
        if has_ece:
            cells.append(f"{row['ece']:>9.3f}")
        cells.append(f"{gap[lang]['accuracy']:>9.3f}" if lang in gap else f"{'-':>9}")
        lines.append("  ".join(cells))
    if has_ece:
        lines.append("ece: expected calibration error of the predicted label's probability (10 bins; 0 = the "
                     "probabilities mean what they say)")
    ref = report.get("gap_reference")
    src = report.get("source_lang")
    if ref:
        n = f", n={ref['n']}" if ref.get("n") is not None else ""
        lines.append(f"gap_acc: source-language ({ref['lang']}) accuracy minus the row's, source measured on "
                     f"{ref['from']}{n}")
    elif src:
        lines.append(f"gap_acc: none, the source language {src} is neither in these data nor in the model's metrics")
    if report.get("folded"):
        folded = ", ".join(f"{g} ({n})" for g, n in report["folded"].items())
        lines.append(f"other: {folded}, folded: fewer than {report['min_n']} lines each, too few to report "
                     "(often misdetected lines; --min-n, or a 'lang' field, or a shop profile)")
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
