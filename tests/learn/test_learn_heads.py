"""Heads, ordinal decoding, calibration, weighting and label checks on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from babelcart.learn.labels import parse_label
from babelcart.learn.weighting import (
    GROUP_OTHER,
    GROUP_PSEUDO,
    GROUP_TARGET,
    group_totals,
    sample_weights,
)
from babelcart.models.heads import LogisticHead, MLPHead, balanced_class_weights, fit_temperature
from babelcart.models.ordinal import OrdinalHead, expected_value, median_decode


def _blobs(n: int = 300, k: int = 3, d: int = 10, seed: int = 0, noise: float = 1.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 2
    y = rng.integers(0, k, size=n)
    return (centers[y] + rng.normal(size=(n, d)) * noise).astype(np.float32), y


def _ordinal_data(n: int, seed: int):
    """A 1-D latent score cut into 5 ordered levels, observed through a random projection plus noise."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n) * 1.5
    y = np.digitize(z + rng.normal(size=n) * 0.7, [-1.5, -0.5, 0.5, 1.5])
    direction = rng.normal(size=20)
    X = np.outer(z, direction / np.linalg.norm(direction)) + rng.normal(size=(n, 20)) * 0.5
    return X.astype(np.float32), y


@pytest.mark.parametrize("cls", [LogisticHead, MLPHead])
def test_heads_learn_and_round_trip(cls) -> None:
    X, y = _blobs()
    head = cls().fit(X[:200], y[:200], n_classes=4)  # class 3 never seen: gets ~zero probability
    assert (head.predict(X[200:]) == y[200:]).mean() > 0.9
    P = head.predict_proba(X[200:])
    assert P.shape == (100, 4) and np.allclose(P.sum(axis=1), 1, atol=1e-5)
    assert P[:, 3].max() < 1e-6
    arrays = head.to_arrays("h")
    again = cls.from_arrays(arrays, "h", head.meta())
    assert np.allclose(again.predict_proba(X), head.predict_proba(X), atol=1e-6)


def test_heads_need_two_classes() -> None:
    X, _ = _blobs(n=20)
    with pytest.raises(ValueError, match="two classes"):
        LogisticHead().fit(X, np.zeros(20, dtype=int), n_classes=2)


def test_binary_logistic_head_matches_sklearn() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = _blobs(k=2)
    ours = LogisticHead(C=1.0).fit(X, y, n_classes=2).predict_proba(X)[:, 1]
    ref = LogisticRegression(C=1.0, max_iter=1000).fit(X, y).predict_proba(X)[:, 1]
    assert np.allclose(ours, ref, atol=1e-4)


def test_sample_weight_moves_the_head() -> None:
    X, y = _blobs(k=2, noise=3.0)
    w = np.where(y == 1, 10.0, 1.0)
    plain = LogisticHead().fit(X, y, n_classes=2).predict(X)
    weighted = LogisticHead().fit(X, y, n_classes=2, sample_weight=w).predict(X)
    assert (weighted == 1).sum() > (plain == 1).sum()


def test_temperature_scaling_reduces_overconfidence() -> None:
    X, y = _blobs(n=600, k=3, noise=2.5, seed=3)
    head = LogisticHead(C=1e4).fit(X[:150], y[:150], n_classes=3)  # overfit: overconfident

    def nll(T: float) -> float:
        p = head.proba_at(X[150:], T)
        return float(-np.mean(np.log(p[np.arange(450), y[150:]] + 1e-12)))

    T = fit_temperature(head, X[150:], y[150:])
    assert T > 1.0
    assert nll(T) < nll(1.0)


def test_median_decoding_minimizes_expected_absolute_error() -> None:
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(5) * 0.5, size=500)
    ks = np.arange(5)
    risk = np.abs(ks[None, :, None] - ks[None, None, :])  # [1, pred, true]
    expected_err = (risk * P[:, None, :]).sum(axis=2)  # [n, pred]
    med = median_decode(P)
    assert np.allclose(expected_err[np.arange(500), med], expected_err.min(axis=1))
    # argmax is worse on some rows, never better
    am = P.argmax(axis=1)
    assert (expected_err[np.arange(500), am] >= expected_err[np.arange(500), med] - 1e-12).all()
    assert (expected_err[np.arange(500), am] > expected_err[np.arange(500), med] + 1e-9).any()
    assert np.allclose(expected_value(P, ks + 1), (P * (ks + 1)).sum(axis=1))


def test_ordinal_head_beats_multinomial_on_mae() -> None:
    X, y = _ordinal_data(2000, seed=0)
    Xtr, ytr, Xte, yte = X[:150], y[:150], X[150:], y[150:]
    ordinal = OrdinalHead(C=1.0).fit(Xtr, ytr, n_classes=5)
    multi = LogisticHead(C=1.0).fit(Xtr, ytr, n_classes=5)
    mae_ord = np.abs(ordinal.predict(Xte) - yte).mean()
    mae_multi_argmax = np.abs(multi.predict(Xte) - yte).mean()
    mae_multi_median = np.abs(median_decode(multi.predict_proba(Xte)) - yte).mean()
    assert mae_ord < mae_multi_argmax
    assert mae_ord <= mae_multi_median + 0.02
    assert np.all(np.diff(ordinal.thresholds_) >= 0)
    again = OrdinalHead.from_arrays(ordinal.to_arrays("o"), "o", ordinal.meta())
    assert np.allclose(again.predict_proba(Xte), ordinal.predict_proba(Xte))


def test_balanced_class_weights() -> None:
    w = balanced_class_weights(np.array([0, 0, 0, 1]), 3)
    assert np.allclose(w, [4 / 6, 2.0, 0.0])


def test_joint_lambda_sets_group_weights() -> None:
    y = np.array([0, 1] * 50 + [0, 1] * 5)
    groups = np.array([GROUP_OTHER] * 100 + [GROUP_TARGET] * 10)
    for lam in (0.1, 1.0, 5.0):
        w = sample_weights(y, 2, groups, group_totals(groups, joint_lambda=lam, pseudo_weight=1.0))
        ratio = w[groups == GROUP_OTHER].sum() / w[groups == GROUP_TARGET].sum()
        assert ratio == pytest.approx(lam)
        assert w.mean() == pytest.approx(1.0)
    # without lambda every labelled example weighs the same
    w = sample_weights(y, 2, groups, group_totals(groups, joint_lambda=None, pseudo_weight=1.0))
    assert np.allclose(w, 1.0)
    # pseudo-labels together weigh pseudo_weight x the labelled total
    g2 = np.concatenate([groups, [GROUP_PSEUDO] * 20])
    y2 = np.concatenate([y, [0, 1] * 10])
    w2 = sample_weights(y2, 2, g2, group_totals(g2, joint_lambda=None, pseudo_weight=0.5))
    assert w2[g2 == GROUP_PSEUDO].sum() / w2[g2 != GROUP_PSEUDO].sum() == pytest.approx(0.5)


@pytest.mark.parametrize("value,expected", [(4, 4), ("5", 5), (3.0, 3)])
def test_rating_labels_accepted(value, expected) -> None:
    assert parse_label(value, "rating") == expected


@pytest.mark.parametrize("value", [0, 6, 3.5, "good", True, None, [1]])
def test_rating_labels_rejected(value) -> None:
    with pytest.raises(ValueError):
        parse_label(value, "rating")


def test_class_labels() -> None:
    assert parse_label("pos", "classify") == "pos"
    assert parse_label(7, "classify") == 7
    for bad in ("", " ", True, {"a": 1}, 2.5):
        with pytest.raises(ValueError):
            parse_label(bad, "classify")
