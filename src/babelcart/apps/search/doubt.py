"""Search relevance as a probability: each hit's ``score`` is the calibrated chance that it is relevant.

Per hit, features that do not grow or shrink with the catalog's size (no z-scores over the result list, whose
composition depends on how many products there are):

- dense side: ``cos`` (the hit's cosine to the query; the last listed cosine when the hit is not in the dense
  list, ``in_dense`` 0), ``bg`` (the query's mean cosine to a fixed reference set of product titles, stored with
  the calibration: how close this query sits to any product at all), ``gap`` (the best cosine minus the hit's), ``top_margin`` (best minus second best),
  ``dense_first`` (the hit is the dense top hit);
- against a fixed reference (stored with the calibration, int8: ~500 product titles in passage role, ~500 short
  multilingual utterances in query role): ``qref`` (the query's mean cosine to its ``k`` nearest reference titles:
  how close this query sits to products in general), ``hub`` (the hit's mean cosine to its ``k`` nearest
  reference queries: a "hub" product near every query scores high), ``dens`` (the hit's mean cosine to its ``k``
  nearest reference titles), and the hit's true cosine relative to them: ``tq`` = cos - qref, ``th`` = cos - hub,
  ``csls`` = 2 cos - qref - hub (cross-domain similarity local scaling); all 0 without vectors;
- lexical side: ``cov`` (the share of the query's IDF mass the hit matches, 0 to 1), ``cov_top`` (the best BM25
  hit's), ``bm25_first``; ``agree``: BM25 and dense put the same product first;
- the hit and the query: ``first``, ``log_rank`` (fused rank), ``xling`` (query and hit languages differ),
  ``cjk`` (a query in a script written without spaces), ``qwords``/``qchars`` (log query length).

``P(relevant) = sigmoid(b + sum w_t * term_t)`` per search mode (``hybrid``, ``dense``, ``bm25``), where a term
is a feature or a product of two (``"cos*xling"``). The score shown is that probability capped by the hits
above it (so it never rises down the list); ``relevance`` is the top hit's and ``no_good_match`` is
``relevance < threshold``. Terms, coefficients and threshold live in ``search_data/doubt_calibration.json``
with the encoder build they were fitted on (``benchmarks/search_calibration.py --write``, real judged queries
at catalog sizes 100 to 20,000); re-fit it after changing the default encoder.

>>> hits = index.search("zapatillas running")   # doctest: +SKIP
>>> hits.relevance, hits.no_good_match, hits[0]["score"]           # doctest: +SKIP
(0.04, True, 0.04)
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from babelcart.apps.search.fusion import Candidates

FEATURES = ("cos", "bg", "in_dense", "gap", "top_margin", "dense_first", "cov", "cov_top", "bm25_first", "agree",
            "first", "log_rank", "xling", "cjk", "qwords", "qchars", "qref", "hub", "dens", "tq", "th", "csls")
_REFERENCE_FEATURES = ("qref", "hub", "dens", "tq", "th", "csls")
CALIBRATION_FILE = "doubt_calibration.json"
_NO_SPACES = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class Hits(list):  # type: ignore[type-arg]
    """A ranked result list (a plain ``list`` of hit dicts) that also says how much to trust it.

    ``relevance``: calibrated probability that the top hit is relevant (``None``: no hits or no calibration);
    ``no_good_match``: ``relevance`` below the calibrated threshold; ``doubt``: the top hit's features;
    ``features``: every hit's features (what the calibration is fitted on).
    """

    relevance: float | None = None
    no_good_match: bool | None = None
    doubt: dict[str, float] | None = None
    features: list[dict[str, float]] | None = None

    def summary(self) -> dict[str, Any]:
        """``{"relevance", "no_good_match"}`` for a response body."""
        return {"relevance": self.relevance, "no_good_match": self.no_good_match}


def _first_key(keys: np.ndarray) -> int | None:
    return int(keys[0]) if len(keys) else None


def _int8_rows(m: np.ndarray) -> dict[str, Any]:
    scale = np.maximum(np.abs(m).max(1), 1e-12) / 127.0
    q = np.round(m / scale[:, None]).astype(np.int8)
    return {"rows": int(m.shape[0]), "dim": int(m.shape[1]), "scale": [float(f"{x:.6g}") for x in scale],
            "int8": base64.b64encode(q.tobytes()).decode("ascii")}


def _from_int8_rows(d: dict[str, Any]) -> np.ndarray:
    q = np.frombuffer(base64.b64decode(d["int8"]), dtype=np.int8).reshape(int(d["rows"]), int(d["dim"]))
    return q.astype(np.float32) * np.asarray(d["scale"], dtype=np.float32)[:, None]


@dataclass(frozen=True)
class Reference:
    """Fixed reference vectors of the encoder build the calibration was fitted on (stored as int8 rows with a
    scale each, base64 in the JSON): ``queries`` (query role) and ``passages`` (passage role), and ``k``."""

    queries: dict[str, Any]
    passages: dict[str, Any]
    k: int = 10

    @classmethod
    def from_vectors(cls, queries: np.ndarray, passages: np.ndarray, k: int = 10) -> Reference:
        return cls(_int8_rows(np.asarray(queries, np.float32)), _int8_rows(np.asarray(passages, np.float32)), k)

    @cached_property
    def query_matrix(self) -> np.ndarray:
        return _from_int8_rows(self.queries)

    @cached_property
    def passage_matrix(self) -> np.ndarray:
        return _from_int8_rows(self.passages)

    @property
    def dim(self) -> int:
        return int(self.queries["dim"])

    def _top_mean(self, sims: np.ndarray) -> np.ndarray:
        k = min(self.k, sims.shape[-1])
        return np.asarray(-np.partition(-sims, k - 1, axis=-1)[..., :k], dtype=np.float64).mean(-1)

    def levels(self, qvec: np.ndarray, hit_vecs: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """``qref`` of the query and ``hub``, ``dens`` of each hit (rows of ``hit_vecs``). One BLAS thread: these
        products take 0.1 ms, and BLAS threads waking beside the encoder's made a quiet search 1.9x slower
        (``benchmarks/search_doubt_latency.py``)."""
        with _blas_controller().limit(limits=1, user_api="blas"):
            qref = float(self._top_mean(self.passage_matrix @ qvec))
            return (qref, self._top_mean(hit_vecs @ self.query_matrix.T),
                    self._top_mean(hit_vecs @ self.passage_matrix.T))


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries (inspected once: a limit then costs about 40 µs)."""
    return ThreadpoolController()


def hit_features(c: Candidates, keys: Sequence[int], text: str, qlang: str | None,
                 hit_langs: Sequence[str | None], qvec: np.ndarray | None = None,
                 background: np.ndarray | None = None, hit_vecs: np.ndarray | None = None,
                 reference: Reference | None = None) -> list[dict[str, float]]:
    """The :data:`FEATURES` of each hit ``keys`` (fused order) given the query's candidate lists ``c`` (both
    lists, also in dense mode), its text, language and vector, the hits' languages, the reference mean
    passage vector ``background`` (``bg`` is 0 without a vector or a background), the hits' stored vectors
    ``hit_vecs`` and the :class:`Reference` (the reference features are 0 without them)."""
    dense = {int(k): float(s) for k, s in zip(c.de_keys.tolist(), c.de_scores.tolist(), strict=True)}
    lexical = {int(k): float(v) for k, v in zip(c.bm_keys.tolist(), c.bm_cov.tolist(), strict=True)}
    d = c.de_scores
    best = float(d[0]) if len(d) else 0.0
    floor = float(d[-1]) if len(d) else 0.0
    margin = float(d[0] - d[1]) if len(d) > 1 else 0.0
    de_first, bm_first = _first_key(c.de_keys), _first_key(c.bm_keys)
    agree = float(de_first is not None and de_first == bm_first and c.coverage > 0)
    known = qvec is not None and background is not None and qvec.shape[-1] == background.shape[-1]
    bg = float(np.dot(qvec, background)) if known else 0.0  # type: ignore[arg-type]
    q = {"bg": bg, "cov_top": c.coverage, "top_margin": margin, "agree": agree,
         "cjk": float(bool(_NO_SPACES.search(text))), "qwords": math.log1p(len(text.split())),
         "qchars": math.log1p(len(text))}
    ref = {f: [0.0] * len(keys) for f in _REFERENCE_FEATURES}
    if (qvec is not None and hit_vecs is not None and reference is not None and len(hit_vecs) == len(keys)
            and qvec.shape[-1] == reference.dim == hit_vecs.shape[-1]):
        qref, hub, dens = reference.levels(qvec, hit_vecs)
        tcos = (hit_vecs @ qvec).astype(np.float64)
        ref = {"qref": [qref] * len(keys), "hub": hub.tolist(), "dens": dens.tolist(),
               "tq": (tcos - qref).tolist(), "th": (tcos - hub).tolist(), "csls": (2 * tcos - qref - hub).tolist()}
    out = []
    for rank, (key, lang) in enumerate(zip(keys, hit_langs, strict=True), start=1):
        cos = dense.get(int(key))
        cov = lexical.get(int(key), 0.0)
        out.append({
            "cos": floor if cos is None else cos, "in_dense": float(cos is not None),
            "gap": best - (floor if cos is None else cos), **q, "dense_first": float(key == de_first),
            "cov": cov, "bm25_first": float(key == bm_first and cov > 0), "first": float(rank == 1),
            "log_rank": math.log(rank),
            "xling": float(bool(qlang and lang and qlang.split("-")[0] != str(lang).split("-")[0])),
            **{f: float(v[rank - 1]) for f, v in ref.items()},
        })
    return out


def term_value(features: dict[str, float], term: str) -> float:
    """A feature, or the product of two (``"a*b"``)."""
    a, _, b = term.partition("*")
    return features[a] * features[b] if b else features[a]


@dataclass(frozen=True)
class DoubtModel:
    """Per-mode logistic terms and coefficients, and the ``no_good_match`` threshold."""

    terms: dict[str, tuple[str, ...]]
    weights: dict[str, tuple[float, ...]]
    bias: dict[str, float]
    threshold: float
    fitted_on: dict[str, Any]
    #: Mean unit passage vector of the reference product titles (for ``bg``), of the encoder build fitted on.
    background: tuple[float, ...] | None = None
    #: Reference vectors for ``qref``, ``hub``, ``dens`` and the features relative to them.
    reference: Reference | None = None

    @property
    def background_vector(self) -> np.ndarray | None:
        return None if self.background is None else np.asarray(self.background, dtype=np.float32)

    def __post_init__(self) -> None:
        for mode, terms in self.terms.items():
            unknown = {p for t in terms for p in t.split("*")} - set(FEATURES)
            if unknown or len(terms) != len(self.weights[mode]):
                raise ValueError(f"doubt calibration for {mode!r}: unknown features {sorted(unknown)} or "
                                 f"{len(terms)} terms for {len(self.weights[mode])} weights")

    def probability(self, features: dict[str, float], mode: str) -> float | None:
        """Probability that the hit with ``features`` is relevant (``None``: no model for ``mode``)."""
        return self._probability(features, mode) if mode in self.weights else None

    def _probability(self, features: dict[str, float], mode: str) -> float:
        z = self.bias[mode] + sum(w * term_value(features, t)
                                  for w, t in zip(self.weights[mode], self.terms[mode], strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def judge(self, hits: Hits, features: list[dict[str, float]], mode: str) -> Hits:
        """Each hit's ``score`` becomes its probability (capped by the hits above it), ``relevance`` and
        ``no_good_match`` the top hit's; returns ``hits`` (scores untouched without a model for ``mode``)."""
        hits.features = features
        hits.doubt = {k: round(v, 4) for k, v in features[0].items()} if features else None
        if not hits or mode not in self.weights:
            return hits
        probs = [self._probability(f, mode) for f in features]
        cap = 1.0
        for hit, p in zip(hits, probs, strict=True):
            cap = min(cap, p)
            hit["score"] = round(cap, 4)
        hits.relevance = hits[0]["score"]
        hits.no_good_match = bool(probs[0] < self.threshold)
        return hits

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "fitted_on": self.fitted_on,
                "modes": {m: {"terms": list(self.terms[m]), "weights": list(self.weights[m]), "bias": self.bias[m]}
                          for m in self.weights},
                "background": None if self.background is None else [round(x, 6) for x in self.background],
                "reference": None if self.reference is None else {"k": self.reference.k,
                                                                  "queries": self.reference.queries,
                                                                  "passages": self.reference.passages}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DoubtModel:
        modes = data["modes"]
        return cls(terms={m: tuple(str(t) for t in v["terms"]) for m, v in modes.items()},
                   weights={m: tuple(float(w) for w in v["weights"]) for m, v in modes.items()},
                   bias={m: float(v["bias"]) for m, v in modes.items()}, threshold=float(data["threshold"]),
                   fitted_on=dict(data.get("fitted_on", {})),
                   background=None if data.get("background") is None else tuple(map(float, data["background"])),
                   reference=None if data.get("reference") is None else Reference(
                       queries=data["reference"]["queries"], passages=data["reference"]["passages"],
                       k=int(data["reference"]["k"])))


@lru_cache(maxsize=1)
def default_doubt_model() -> DoubtModel:
    """The calibration shipped with babelcart (``search_data/doubt_calibration.json``)."""
    ref = resources.files("babelcart.apps") / "search_data" / CALIBRATION_FILE
    return DoubtModel.from_dict(json.loads(ref.read_text(encoding="utf-8")))
