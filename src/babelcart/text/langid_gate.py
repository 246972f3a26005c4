"""When fastText's answer may stand without lingua: a calibrated gate for language ID.

lingua is the slow half of :mod:`babelcart.text.langid`. It is asked when fastText's top probability is below
the threshold for the text's length (``FASTTEXT_SURE``); on most of those texts it does not change fastText's
answer, and where it does it is sometimes wrong. The gate is a logistic model of **P(lingua changes fastText's
answer)** from fastText's own output (its top three probabilities within the allowed languages, the margin,
the text's length in words and characters, and which languages are first and second). Below the gate's
threshold for the text's length, fastText's answer stands and lingua is not asked (nor loaded). The gate
only speaks for what it was measured on: when fastText's first or second language is not among ``measured``
(the dev texts' languages and the 43 tested languages they were scored against; not the extended languages of
the default set, which only lingua names reliably), lingua is asked as before.

The model is fit by ``benchmarks/langid_gate.py`` on the dev half of ``benchmarks/langid.py``'s data (the
thresholds by cross-validation on that half: the largest one at which the answers lingua would have fixed
are no more than those it would have broken) and reported on the test half; its numbers live in
``langid_gate.json`` beside this module.

>>> gate = default_gate()
>>> gate is not None and 0.0 <= gate.p_change([("en", 0.6), ("de", 0.2)], n_words=8, n_chars=40) <= 1.0
True
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The bundled gate (written by ``benchmarks/langid_gate.py``).
GATE_FILE = Path(__file__).with_name("langid_gate.json")
#: Names of the numeric features, in order (the file records them; a mismatch refuses the file).
FEATURES: tuple[str, ...] = ("p1", "p2", "margin", "p3", "log_words", "log_chars", "short", "p1_log_words")
#: Texts of at most this many words use the gate's "short" threshold (the same cut as langid's SHORT_WORDS).
SHORT_WORDS = 3


def features(top: Sequence[tuple[str, float]], n_words: int, n_chars: int) -> list[float]:
    """The numeric features of one text from fastText's best (language, probability) pairs, best first."""
    p = [prob for _, prob in top[:3]] + [0.0] * (3 - min(3, len(top)))
    log_words = math.log1p(n_words)
    return [p[0], p[1], p[0] - p[1], p[2], log_words, math.log1p(n_chars), float(n_words <= SHORT_WORDS),
            p[0] * log_words]


@dataclass(frozen=True)
class LinguaGate:
    """A logistic model of P(lingua changes fastText's answer) and the thresholds below which it is not asked.

    ``weights`` go with :data:`FEATURES`; ``first`` and ``second`` are per-language terms for fastText's first
    and second language (a language not listed adds nothing); ``skip_below`` maps ``"short"`` (1-3 words) and
    ``"long"`` to the probability under which fastText's answer stands; ``measured`` are the languages of the
    texts the gate was fit on (empty: any).
    """

    weights: tuple[float, ...]
    bias: float
    measured: frozenset[str] = frozenset()
    first: dict[str, float] = field(default_factory=dict)
    second: dict[str, float] = field(default_factory=dict)
    skip_below: dict[str, float] = field(default_factory=lambda: {"short": 0.0, "long": 0.0})
    meta: dict[str, Any] = field(default_factory=dict)

    def p_change(self, top: Sequence[tuple[str, float]], n_words: int, n_chars: int) -> float:
        """Probability that lingua would change fastText's answer (``top``: best first, within the set)."""
        z = self.bias + sum(w * x for w, x in zip(self.weights, features(top, n_words, n_chars), strict=True))
        if top:
            z += self.first.get(top[0][0], 0.0)
        if len(top) > 1:
            z += self.second.get(top[1][0], 0.0)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def lingua_needed(self, top: Sequence[tuple[str, float]], n_words: int, n_chars: int) -> bool:
        """Whether lingua should weigh in on a text fastText is not sure of."""
        if not top:
            return True  # fastText saw nothing it knows: only lingua can tell
        if self.measured and any(lang not in self.measured for lang, _ in top[:2]):
            return True  # never measured on texts of these languages
        limit = self.skip_below["short" if n_words <= SHORT_WORDS else "long"]
        return limit <= 0.0 or self.p_change(top, n_words, n_chars) >= limit

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "weights": list(self.weights), "bias": self.bias,
                "measured": sorted(self.measured),
                "first": self.first, "second": self.second, "skip_below": self.skip_below, "meta": self.meta}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinguaGate:
        if tuple(data.get("features", ())) != FEATURES:
            raise ValueError(f"gate file features {data.get('features')} != {list(FEATURES)}: refit it "
                             "(benchmarks/langid_gate.py)")
        return cls(weights=tuple(float(w) for w in data["weights"]), bias=float(data["bias"]),
                   measured=frozenset(data.get("measured", ())),
                   first={k: float(v) for k, v in data.get("first", {}).items()},
                   second={k: float(v) for k, v in data.get("second", {}).items()},
                   skip_below={"short": float(data["skip_below"]["short"]),
                               "long": float(data["skip_below"]["long"])},
                   meta=dict(data.get("meta", {})))

    def save(self, path: Path) -> None:
        """Write the gate as JSON, atomically (temp file + rename)."""
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)


@functools.lru_cache(maxsize=1)
def default_gate() -> LinguaGate | None:
    """The bundled gate, or ``None`` when the file is missing (lingua is then asked below every threshold)."""
    if not GATE_FILE.exists():
        return None
    return LinguaGate.from_dict(json.loads(GATE_FILE.read_text(encoding="utf-8")))
