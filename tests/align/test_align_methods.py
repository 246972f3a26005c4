"""Centering, Procrustes and CSLS on synthetic vectors where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

import babelcart.align as align_pkg
from babelcart.align import (
    Aligner,
    LanguageCentering,
    ProcrustesMaps,
    csls_scores,
    orthogonal_procrustes,
    retrieve,
)
from babelcart.encoders.base import l2_normalize


def _two_language_task(seed: int = 0, offset_scale: float = 3.0):
    """Two classes along axis 0; each language adds its own large offset."""
    rng = np.random.default_rng(seed)
    d = 16
    y = rng.integers(0, 2, size=400)
    base = rng.normal(size=(400, d)) * 0.3
    base[:, 0] += np.where(y == 1, 1.0, -1.0)
    langs = np.array(["en"] * 200 + ["de"] * 200, dtype=object)
    offset = np.zeros(d)
    offset[0] = offset_scale  # the German offset lies along the class direction: raw transfer fails
    offset[1] = offset_scale
    X = base + np.where(langs == "de", 1, 0)[:, None] * offset
    return X.astype(np.float32), y, langs


def test_public_api_imports() -> None:
    for name in align_pkg.__all__:
        assert getattr(align_pkg, name) is not None


def test_centering_removes_language_offset_and_restores_transfer() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y, langs = _two_language_task()
    c = LanguageCentering().fit(X, langs)
    Z = c.transform(X, langs, normalize=False)
    for lang in ("en", "de"):
        assert np.abs(Z[langs == lang].mean(axis=0)).max() < 1e-5
    en, de = langs == "en", langs == "de"
    raw_acc = LogisticRegression().fit(X[en], y[en]).score(X[de], y[de])
    cen = c.transform(X, langs)
    cen_acc = LogisticRegression().fit(cen[en], y[en]).score(cen[de], y[de])
    assert raw_acc < 0.7
    assert cen_acc > 0.9


def test_centering_fallbacks_batch_and_global() -> None:
    X, _, langs = _two_language_task()
    c = LanguageCentering(min_count=5).fit(X[langs == "en"], ["en"] * int((langs == "en").sum()))
    de = X[langs == "de"]
    # enough rows of an unknown language: its mean comes from the batch itself
    out = c.transform(de, ["de"] * len(de), normalize=False)
    assert np.abs(out.mean(axis=0)).max() < 1e-5
    # a single row: the average stored mean is used (here the English one)
    one = c.transform(de[:1], ["de"], normalize=False)
    assert np.allclose(one[0], de[0] - c.means_["en"], atol=1e-5)


def test_centering_rejects_too_little_text() -> None:
    with pytest.raises(ValueError, match="at least"):
        LanguageCentering(min_count=5).fit(np.ones((3, 4)), ["en"] * 3)
    with pytest.raises(ValueError, match="languages"):
        LanguageCentering().fit(np.ones((3, 4)), ["en"] * 2)


def test_whitening_equalizes_variance() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 8)) * np.array([5, 1, 1, 1, 1, 1, 1, 0.2])
    c = LanguageCentering(whiten=True, shrinkage=0.0).fit(X, ["xx"] * 500)
    Z = c.transform(X, ["xx"] * 500, normalize=False)
    var = Z.var(axis=0)
    assert var.max() / var.min() < 1.5 < X.var(axis=0).max() / X.var(axis=0).min()


def test_procrustes_recovers_a_known_rotation() -> None:
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(200, 12))
    Q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    X = Y @ Q.T + rng.normal(size=Y.shape) * 0.01  # language xx = rotated English + noise
    W = orthogonal_procrustes(X, Y)
    assert np.allclose(W @ W.T, np.eye(12), atol=1e-5)
    assert np.abs(W - Q).max() < 0.05
    maps = ProcrustesMaps(target_lang="en", prior=0.0).fit_language("xx", X, Y)
    mapped = maps.transform(X, ["xx"] * len(X), normalize=False)
    assert np.abs(mapped - Y).mean() < 0.02
    # English rows pass through untouched
    assert np.allclose(maps.transform(Y[:3], ["en"] * 3, normalize=False), Y[:3])


def test_procrustes_bad_input() -> None:
    with pytest.raises(ValueError, match="same shape"):
        orthogonal_procrustes(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="at least"):
        ProcrustesMaps(min_pairs=20).fit_language("de", np.ones((5, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="target language"):
        ProcrustesMaps(target_lang="en").fit_language("en", np.ones((30, 3)), np.ones((30, 3)))


def test_csls_fixes_a_hub() -> None:
    rng = np.random.default_rng(0)
    n, d = 40, 32
    D = l2_normalize(rng.normal(size=(n, d)))
    Q = l2_normalize(D + rng.normal(size=(n, d)) * 0.6)  # query i translates document i
    hub = l2_normalize(Q.mean(axis=0, keepdims=True))  # close to every query
    D_hub = np.vstack([D, hub])
    cos_best = retrieve(Q, D_hub, method="cosine")
    csls_best = retrieve(Q, D_hub, method="csls", k=5)
    truth = np.arange(n)
    assert (cos_best == n).sum() > (csls_best == n).sum()
    assert (csls_best == truth).mean() > (cos_best == truth).mean()
    S = csls_scores(Q, D_hub, k=5)
    assert S.shape == (n, n + 1)
    with pytest.raises(ValueError, match="dimension"):
        csls_scores(Q, D[:, :5])
    with pytest.raises(ValueError, match="method"):
        retrieve(Q, D, method="dot")


def test_aligner_round_trip_through_arrays() -> None:
    X, _, langs = _two_language_task()
    rng = np.random.default_rng(2)
    a = Aligner(mode="procrustes", whiten=True).fit_centering(X, langs)
    a.fit_procrustes("en", {"de": (rng.normal(size=(30, 16)), rng.normal(size=(30, 16)))})
    arrays, meta = a.to_arrays()
    b = Aligner.from_arrays(arrays, meta)
    assert np.allclose(a.transform(X, langs), b.transform(X, langs), atol=1e-6)
    assert b.summary()["procrustes_pairs"] == {"de": 30}
    with pytest.raises(ValueError, match="align mode"):
        Aligner(mode="rotate")


def test_procrustes_prior_keeps_unconstrained_directions() -> None:
    rng = np.random.default_rng(0)
    d, n = 20, 8  # fewer pairs than dimensions: the pairs span a 4-d subspace
    B, _ = np.linalg.qr(rng.normal(size=(d, d)))
    B = B.T  # rows: an orthonormal basis; the first 4 span the data
    Y = rng.normal(size=(n, 4)) @ B[:4]
    R4, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    block = np.eye(d)
    block[:4, :4] = R4
    Q = B.T @ block @ B
    X = Y @ Q.T
    free = orthogonal_procrustes(X, Y)
    kept = orthogonal_procrustes(X, Y, prior=1e-3)
    assert np.allclose(X @ kept, Y, atol=1e-3)  # the pairs are still mapped
    rest = B[4:]
    assert np.allclose(rest @ kept, rest, atol=1e-3)  # directions the pairs do not span stay put
    assert not np.allclose(rest @ free, rest, atol=1e-2)
