"""Label shift on synthetic data: bounded prior estimation, prior-following pseudo-labels, collapse detection."""

from __future__ import annotations

import numpy as np
import pytest

from babelcart.learn.label_shift import (
    adjust_to_prior,
    assign_to_prior,
    collapsed,
    estimate_prior,
    prior_bounds,
    project_to_bounds,
    select_pseudo_labels,
)

SHOP_SKEW = np.array([0.10, 0.06, 0.09, 0.20, 0.55])  # stars 1..5 as a real shop's reviews


def _noisy_classifier(prior: np.ndarray, n: int, *, seed: int, scale: float = 1.6) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from ``prior`` and the exact Bayes posteriors under a uniform prior (what a calibrated,
    class-balanced head outputs): features ``x ~ N(scale · e_y, I)`` give ``p(c|x) = softmax(scale · x)``."""
    rng = np.random.default_rng(seed)
    k = len(prior)
    y = rng.choice(k, size=n, p=prior)
    logits = scale * (scale * np.eye(k)[y] + rng.normal(0.0, 1.0, (n, k)))
    P = np.exp(logits)
    return y, P / P.sum(axis=1, keepdims=True)


def test_prior_estimation_recovers_a_known_skew() -> None:
    y, P = _noisy_classifier(SHOP_SKEW, 4000, seed=0)
    est = estimate_prior(P)
    assert est.converged
    np.testing.assert_allclose(est.prior, np.bincount(y) / len(y), atol=0.03)
    # the plain mean of the probabilities (what the balanced centering used) is much further off
    truth = np.bincount(y) / len(y)
    assert np.abs(P.mean(axis=0) - truth).max() > 3 * np.abs(est.prior - truth).max()
    # a balanced target is recognized as balanced
    yb, Pb = _noisy_classifier(np.full(5, 0.2), 4000, seed=1)
    np.testing.assert_allclose(estimate_prior(Pb).prior, np.bincount(yb) / len(yb), atol=0.03)


def test_prior_estimate_stays_within_bounds_on_an_overconfident_teacher() -> None:
    P = np.tile([0.96, 0.01, 0.01, 0.01, 0.01], (500, 1))  # says class 0 for everything
    est = estimate_prior(P)
    lo, hi = prior_bounds(5)
    assert est.prior.min() >= lo - 1e-12 and est.prior.max() <= hi + 1e-12
    assert est.prior.sum() == pytest.approx(1.0)
    assert 0 in est.at_bound and est.prior[0] == pytest.approx(hi)


def test_projection_to_bounds() -> None:
    p = project_to_bounds(np.array([0.97, 0.01, 0.01, 0.01]), 0.05, 0.85)
    assert p.sum() == pytest.approx(1.0) and p.min() >= 0.05 - 1e-12 and p.max() <= 0.85 + 1e-12
    inside = np.array([0.4, 0.3, 0.2, 0.1])
    np.testing.assert_allclose(project_to_bounds(inside, 0.05, 0.85), inside)
    with pytest.raises(ValueError):
        prior_bounds(1)


def test_adjust_to_prior_is_bayes_rule() -> None:
    P = np.array([[0.5, 0.5], [0.8, 0.2]])
    np.testing.assert_allclose(adjust_to_prior(P, np.array([0.5, 0.5])), P)
    Q = adjust_to_prior(P, np.array([0.9, 0.1]))
    assert Q[0, 0] == pytest.approx(0.9)
    np.testing.assert_allclose(Q.sum(axis=1), 1.0)


def test_pseudo_labels_follow_each_languages_own_mix() -> None:
    y_a, P_a = _noisy_classifier(SHOP_SKEW, 2000, seed=2)          # a 5-star-heavy shop
    y_b, P_b = _noisy_classifier(SHOP_SKEW[::-1], 2000, seed=3)    # a complaints channel
    P = np.vstack([P_a, P_b])
    y = np.concatenate([y_a, y_b])
    langs = ["de"] * 2000 + ["ja"] * 2000
    picked = select_pseudo_labels(P, langs, fraction=0.3)
    assert not picked.collapsed
    for lang, skew in (("de", SHOP_SKEW), ("ja", SHOP_SKEW[::-1])):
        counts = np.array([picked.counts[lang].get(str(c), 0) for c in range(5)], dtype=float)
        np.testing.assert_allclose(counts / counts.sum(), skew, atol=0.06)
        np.testing.assert_allclose(picked.priors[lang], skew, atol=0.05)
    # the picks are the confident ones: far more accurate than the classifier overall
    assert np.mean(picked.labels == y[picked.indices]) > np.mean(P.argmax(axis=1) == y) + 0.1
    assert picked.probs.shape == (len(picked.indices), 5)
    np.testing.assert_allclose(picked.probs.sum(axis=1), 1.0)
    with pytest.raises(ValueError):
        select_pseudo_labels(P, langs, fraction=0)


def test_a_pseudo_label_collapse_is_caught() -> None:
    _, P_ok = _noisy_classifier(np.full(5, 0.2), 500, seed=4)
    P_bad = np.tile([0.02, 0.02, 0.02, 0.02, 0.92], (500, 1))  # a teacher that says 5 stars for everything
    P_bad[:, :4] += np.random.default_rng(5).uniform(0, 0.01, (500, 4))
    P = np.vstack([P_ok, P_bad / P_bad.sum(axis=1, keepdims=True)])
    langs = ["id"] * 500 + ["zh"] * 500
    picked = select_pseudo_labels(P, langs, fraction=0.5)
    assert picked.collapsed == ["zh"]
    # the collapsed language's labels follow the source prior (uniform here), not the teacher's one class
    assert picked.priors["zh"] == [0.2] * 5
    zh_counts = [picked.counts["zh"].get(str(c), 0) for c in range(5)]
    assert max(zh_counts) - min(zh_counts) <= 1 and sum(zh_counts) == 250
    assert "id" not in picked.collapsed and len(picked.counts["id"]) == 5
    assert collapsed(estimate_prior(P_bad), 5) == 4
    assert collapsed(estimate_prior(P_ok), 5) is None


def test_assignment_follows_the_prior_and_the_evidence() -> None:
    Q = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])  # argmax says class 0 for all
    labels = assign_to_prior(Q, np.array([0.5, 0.5]))
    assert labels.tolist() == [0, 0, 1, 1]  # half each; the least class-0-like rows become class 1
    assert assign_to_prior(Q, np.array([0.75, 0.25])).tolist() == [0, 0, 0, 1]
