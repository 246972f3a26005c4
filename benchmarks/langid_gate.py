"""Fit the language-ID lingua gate on the dev half and report it on the test half (``langid_gate.json``).

The gate (``babelcart.text.langid_gate``) says when fastText's answer may stand on a text it is not sure of,
so that lingua, the slow half of language ID, is asked less. This script:

1. runs the detector **with the gate off** on the dev half of ``benchmarks/langid.py``'s data (whole texts and
   1-3 word snippets; the 43 tested languages and the default 80-language set), recording for every text
   that reaches lingua fastText's top three, the text's length, fastText's answer and the final answer;
2. keeps the texts whose fastText first and second languages are among the 43 tested languages (every dev
   text was scored against them; for the extended languages of the default set, which only lingua names
   reliably, the gate always asks lingua) and fits a logistic model of "lingua changes fastText's answer" on those records;
3. picks each length group's threshold (1-3 words, longer) from 5-fold out-of-fold probabilities on dev: the
   one at which dev accuracy is highest (lingua's breaks avoided minus its fixes lost among the skipped texts;
   on a tie the larger threshold, which asks lingua less);
4. writes ``src/babelcart/text/langid_gate.json`` and then, on the **test half** (never used above), compares
   gate on / gate off: accuracy and lingua calls, per field and language set.

    nice -n 5 .venv/bin/python benchmarks/langid_gate.py            # ~5-10 minutes on 2 shared cores
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from _common import load_note, markdown_table, write_result
from babelcart.text.langid import CORE_LANGUAGES, LanguageDetector
from babelcart.text.langid_gate import FEATURES, GATE_FILE, SHORT_WORDS, LinguaGate, features
from langid import load_items

GRID = [round(0.01 * i, 2) for i in range(0, 51)]
#: A language gets its own first / second term only when it is fastText's first or second this often on dev
#: (a rare one would learn a weight from a handful of texts); the others share the model's plain terms.
MIN_LANG_COUNT = 30
#: Inverse L2 strength of the logistic model.
C = 0.5
SETS: dict[str, tuple[str, ...] | None] = {"core (43)": CORE_LANGUAGES, "default (80)": None}


class RecordingGate(LinguaGate):
    """Always asks lingua, remembering what the gate would have been shown."""

    def __init__(self) -> None:
        super().__init__(weights=(0.0,) * len(FEATURES), bias=0.0)
        object.__setattr__(self, "seen", [])

    def lingua_needed(self, top: Sequence[tuple[str, float]], n_words: int, n_chars: int) -> bool:
        self.seen.append((list(top), n_words, n_chars))  # type: ignore[attr-defined]
        return True


def records(items: list[dict[str, Any]], languages: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """One record per text (whole and snippet) that the gate would be asked about."""
    gate = RecordingGate()
    det = LanguageDetector(languages=languages, gate=gate)
    out = []
    for field in ("whole", "short"):
        for it in items:
            gate.seen.clear()  # type: ignore[attr-defined]
            guess = det.detect(it[field])
            if gate.seen and gate.seen[0][0]:  # type: ignore[attr-defined]
                top, n_words, n_chars = gate.seen[0]  # type: ignore[attr-defined]
                out.append({"top": top, "n_words": n_words, "n_chars": n_chars, "ft": top[0][0],
                            "final": guess.lang, "gold": it["gold"], "field": field})
    return out


def design(recs: list[dict[str, Any]], langs: list[str]) -> np.ndarray:
    index = {lang: i for i, lang in enumerate(langs)}
    x = np.zeros((len(recs), len(FEATURES) + 2 * len(langs)))
    for r, rec in enumerate(recs):
        x[r, :len(FEATURES)] = features(rec["top"], rec["n_words"], rec["n_chars"])
        top = rec["top"]
        if top[0][0] in index:
            x[r, len(FEATURES) + index[top[0][0]]] = 1.0
        if len(top) > 1 and top[1][0] in index:
            x[r, len(FEATURES) + len(langs) + index[top[1][0]]] = 1.0
    return x


def fit(recs: list[dict[str, Any]], seed: int) -> tuple[LinguaGate, np.ndarray]:
    """The model on all records, and 5-fold out-of-fold probabilities for choosing the thresholds."""
    counts = Counter(lang for r in recs for lang, _ in r["top"][:2])
    langs = sorted(lang for lang, n in counts.items() if n >= MIN_LANG_COUNT)
    x = design(recs, langs)
    y = np.array([r["final"] != r["ft"] for r in recs])
    oof = np.zeros(len(recs))
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y):
        oof[te] = LogisticRegression(C=C, max_iter=3000).fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]
    model = LogisticRegression(C=C, max_iter=3000).fit(x, y)
    coef = model.coef_[0]
    n = len(FEATURES)
    gate = LinguaGate(weights=tuple(round(float(w), 6) for w in coef[:n]), bias=round(float(model.intercept_[0]), 6),
                      first={lang: round(float(coef[n + i]), 6) for i, lang in enumerate(langs)},
                      second={lang: round(float(coef[n + len(langs) + i]), 6) for i, lang in enumerate(langs)})
    return gate, oof


def skip_effect(recs: list[dict[str, Any]], p: np.ndarray, group: str, tau: float) -> tuple[int, int, int, int]:
    """(texts in the group, skipped, lingua's fixes lost, lingua's breaks avoided) at threshold ``tau``."""
    idx = [i for i, r in enumerate(recs) if (r["n_words"] <= SHORT_WORDS) == (group == "short")]
    skipped = [i for i in idx if p[i] < tau]
    lost = sum(recs[i]["final"] == recs[i]["gold"] != recs[i]["ft"] for i in skipped)
    avoided = sum(recs[i]["ft"] == recs[i]["gold"] != recs[i]["final"] for i in skipped)
    return len(idx), len(skipped), lost, avoided


def choose(recs: list[dict[str, Any]], oof: np.ndarray) -> tuple[dict[str, float], list[list[Any]]]:
    limits: dict[str, float] = {}
    rows = []
    for group in ("short", "long"):
        best, best_net = 0.0, 0
        for tau in GRID[1:]:
            n, skipped, lost, avoided = skip_effect(recs, oof, group, tau)
            if avoided - lost >= best_net:
                best, best_net = tau, avoided - lost
            if tau in (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5):
                rows.append([group, tau, n, skipped, lost, avoided])
        limits[group] = best
    return limits, rows


def evaluate(items: list[dict[str, Any]], languages: tuple[str, ...] | None, gate: LinguaGate) -> list[list[Any]]:
    rows = []
    for field in ("whole", "short"):
        texts = [it[field] for it in items]
        res = {}
        for name, g in (("off", False), ("on", gate)):
            det = LanguageDetector(languages=languages, gate=g)
            guesses = det.detect_batch(texts)
            acc = sum(x.lang == it["gold"] for x, it in zip(guesses, items, strict=True)) / len(items)
            lingua = sum(x.method in ("ensemble", "lingua") for x in guesses)
            res[name] = (acc, lingua)
        rows.append([field, len(texts), f"{res['off'][0]:.4f}", f"{res['on'][0]:.4f}",
                     f"{res['on'][0] - res['off'][0]:+.4f}",
                     res["off"][1], res["on"][1], f"{1 - res['on'][1] / max(1, res['off'][1]):.0%}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-lang", type=int, default=400, help="dev texts per data:lang row (most rows have fewer)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true", help="report only; leave the bundled gate file alone")
    ap.add_argument("--records", type=Path, default=None,
                    help="a JSON file for the dev records: read when it exists, else written (quicker refits)")
    args = ap.parse_args()

    recs: list[dict[str, Any]] = []
    if args.records is not None and args.records.exists():
        recs = json.loads(args.records.read_text(encoding="utf-8"))
    else:
        dev = load_items(args.per_lang, args.seed, "dev")
        for name, langs in SETS.items():
            got = records(dev, langs)
            print(f"dev {name}: {len(got)} texts reach the gate", file=sys.stderr)
            recs += got
        if args.records is not None:
            args.records.write_text(json.dumps(recs, ensure_ascii=False), encoding="utf-8")
    # the dev texts' own languages and every language they were scored against (the 43 tested ones)
    measured = frozenset(r["gold"] for r in recs) | frozenset(CORE_LANGUAGES)
    recs = [r for r in recs if all(lang in measured for lang, _ in r["top"][:2])]  # the gate's own scope
    gate, oof = fit(recs, args.seed)
    limits, curve = choose(recs, oof)
    gate = LinguaGate(weights=gate.weights, bias=gate.bias, measured=measured, first=gate.first, second=gate.second, skip_below=limits,
                      meta={"fit_on": f"benchmarks/langid.py dev half, --per-lang {args.per_lang} --seed {args.seed}",
                            "records": len(recs), "sets": list(SETS), "C": C, "min_lang_count": MIN_LANG_COUNT})
    curve_table = markdown_table(["group", "threshold", "texts", "skipped", "lingua fixes lost", "lingua breaks avoided"],
                                 curve)
    print("\n## dev, 5-fold out-of-fold\n\n" + curve_table + f"\n\nchosen: {limits}")
    if not args.no_write:
        gate.save(GATE_FILE)
        print(f"wrote {GATE_FILE}", file=sys.stderr)

    test = load_items(150, args.seed, "test")
    header = ["field", "texts", "acc gate off", "acc gate on", "diff", "lingua calls off", "on", "saved"]
    tables = {}
    for name, langs in SETS.items():
        tables[name] = evaluate(test, langs, gate)
        print(f"\n## test half, {name}\n\n" + markdown_table(header, tables[name]))
    print(load_note())
    write_result("langid_gate", {"args": {k: str(v) for k, v in vars(args).items()}, "thresholds": limits, "dev_curve": curve,
                                 "test": {k: [dict(zip(header, r, strict=True)) for r in v] for k, v in tables.items()}})


if __name__ == "__main__":
    main()
