"""Our BM25 (``LexicalIndex``) against ``bm25s``'s Lucene variant on a small corpus: same ranking, same scores
up to Lucene's constant ``k1 + 1`` (Lucene 8+ drops it from the numerator; ranks are unchanged)."""

from __future__ import annotations

import numpy as np
import pytest

from babelcart.apps.search.lexical_index import LexicalIndex

bm25s = pytest.importorskip("bm25s", reason="bm25s is in the [dev] extra")

CORPUS = [
    "red cotton summer dress with red buttons".split(),
    "blue denim jacket".split(),
    "red wine glass set of six glasses".split(),
    "summer hat straw hat wide brim".split(),
    "cotton socks pack blue red".split(),
    "wireless headphones noise cancelling".split(),
    "red red red".split(),
    "glass vase blue".split(),
]
QUERIES = [["red"], ["red", "dress"], ["blue", "glass"], ["summer", "hat", "cotton"], ["headphones"]]


@pytest.mark.parametrize("query", QUERIES, ids=[" ".join(q) for q in QUERIES])
def test_scores_match_bm25s_lucene(query: list[str]) -> None:
    k1, b = 1.2, 0.75
    ours = LexicalIndex(k1=k1, b=b)
    ours.add(CORPUS)
    rows, scores, _ = ours.search([[w] for w in query], k=len(CORPUS), alive=np.ones(len(CORPUS), bool))
    mine = np.zeros(len(CORPUS))
    mine[rows] = scores
    ref = bm25s.BM25(method="lucene", k1=k1, b=b)
    ref.index([list(d) for d in CORPUS], show_progress=False)
    theirs = np.asarray(ref.get_scores(query), dtype=np.float64)
    assert (theirs > 0).sum() >= 1
    np.testing.assert_allclose(mine, theirs * (k1 + 1.0), rtol=1e-4, atol=1e-5)
    assert np.argsort(-mine, kind="stable")[:3].tolist() == np.argsort(-theirs, kind="stable")[:3].tolist()
