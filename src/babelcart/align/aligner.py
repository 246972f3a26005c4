"""The alignment pipeline applied before every head: per-language centering, then optional Procrustes maps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from babelcart.align import ALIGN_MODES
from babelcart.align.centering import LanguageCentering
from babelcart.align.procrustes import ProcrustesMaps
from babelcart.encoders.base import l2_normalize


class Aligner:
    """The alignment pipeline applied before every head: ``none``, ``center`` or ``center`` + ``procrustes``."""

    def __init__(self, *, mode: str = "center", whiten: bool = False) -> None:
        if mode not in ALIGN_MODES:
            raise ValueError(f"align mode must be one of {', '.join(ALIGN_MODES)}, not {mode!r}")
        self.mode = mode
        self.whiten = whiten
        self.centering_: LanguageCentering | None = None
        self.procrustes_: ProcrustesMaps | None = None

    def fit_centering(self, X: np.ndarray, langs: Sequence[str], *,
                      sample_weight: np.ndarray | None = None) -> Aligner:
        if self.mode != "none":
            self.centering_ = LanguageCentering(whiten=self.whiten).fit(X, langs, sample_weight=sample_weight)
        return self

    def fit_procrustes(self, target_lang: str, pairs: dict[str, tuple[np.ndarray, np.ndarray]], *,
                       prior: float = 1.0) -> Aligner:
        """Fit one map per language from ``{lang: (X_lang, X_target)}`` paired rows.

        Each side is centered with its own mean over the parallel corpus first, so the map learns the
        rotation between languages and not the difference between the parallel corpus and the task data.
        """
        if self.mode != "procrustes":
            return self
        maps = ProcrustesMaps(target_lang=target_lang, prior=prior)
        for lang, (Xs, Xt) in sorted(pairs.items()):
            maps.fit_language(lang, _center_rows(Xs), _center_rows(Xt))
        self.procrustes_ = maps
        return self

    def transform(self, X: np.ndarray, langs: Sequence[str]) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if self.centering_ is not None:
            X = self.centering_.transform(X, langs)
        if self.procrustes_ is not None:
            X = self.procrustes_.transform(X, langs)
        return X

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"mode": self.mode, "whiten": self.whiten}
        if self.centering_ is not None:
            out["centering_counts"] = dict(self.centering_.counts_)
        if self.procrustes_ is not None:
            out["procrustes_pairs"] = dict(self.procrustes_.pairs_)
        return out

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, object]]:
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, object] = {"mode": self.mode, "whiten": self.whiten}
        if self.centering_ is not None:
            a, m = self.centering_.to_arrays("align.center")
            arrays.update(a)
            meta["centering"] = m
        if self.procrustes_ is not None:
            a, m = self.procrustes_.to_arrays("align.procrustes")
            arrays.update(a)
            meta["procrustes"] = m
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> Aligner:
        obj = cls(mode=str(meta.get("mode", "none")), whiten=bool(meta.get("whiten", False)))
        if "centering" in meta:
            obj.centering_ = LanguageCentering.from_arrays(arrays, meta["centering"], "align.center")
        if "procrustes" in meta:
            obj.procrustes_ = ProcrustesMaps.from_arrays(arrays, meta["procrustes"], "align.procrustes")
        return obj


def _center_rows(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return l2_normalize(X - X.mean(axis=0, keepdims=True))
