"""Every rating model decodes ``pred`` as the median of its class distribution and ``expected`` as the mean; a
fine-tuned model (and its ONNX export) whose config says ``head.decode: mode`` gives the most probable star.

The distribution ``[0.40, 0, 0, 0.25, 0.35]`` over stars 1..5 separates the three decoders: argmax 1 star,
mean 3.15 stars, median 4 stars (cumulative 0.40, 0.40, 0.40, 0.65).
"""

from __future__ import annotations

import numpy as np
import pytest

from babelcart.align import Aligner
from babelcart.models.heads import LogisticHead, MLPHead
from babelcart.models.multitask import HeadState, TransferModel
from babelcart.models.ordinal import coral_decode, logits_to_probs, median_decode

STARS = [1, 2, 3, 4, 5]
SPLIT = np.array([0.40, 0.0, 0.0, 0.25, 0.35])


def test_the_three_decoders_differ_on_the_fixture() -> None:
    assert int(SPLIT.argmax()) + 1 == 1
    assert float(SPLIT @ STARS) == pytest.approx(3.15)
    assert int(median_decode(SPLIT[None])[0]) + 1 == 4


def test_median_minimizes_expected_absolute_error() -> None:
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.full(5, 0.3), size=200)
    med = median_decode(P)
    risk = np.abs(np.arange(5)[None, :, None] - np.arange(5)[None, None, :])  # [1, pred, true]
    expected_abs = (P[:, None, :] * risk).sum(axis=2)                        # [n, pred]
    np.testing.assert_allclose(expected_abs[np.arange(len(P)), med], expected_abs.min(axis=1))


def test_coral_decode_gives_median_and_mean() -> None:
    idx, expected = coral_decode(np.vstack([SPLIT, [0.0, 0.0, 1.0, 0.0, 0.0]]), STARS)
    assert idx.tolist() == [3, 2]
    np.testing.assert_allclose(expected, [3.15, 3.0])
    assert coral_decode(SPLIT[None], STARS, "mode")[0].tolist() == [0]
    with pytest.raises(ValueError, match="rating decode"):
        coral_decode(SPLIT[None], STARS, "mean")


def test_softmax_head_probs_decode_by_median() -> None:
    logits = np.log(np.clip(SPLIT, 1e-12, None))[None]
    P = logits_to_probs("softmax", logits)
    np.testing.assert_allclose(P[0], SPLIT, atol=1e-9)
    assert coral_decode(P, STARS)[0].tolist() == [3]


def _constant_head(head_cls: type, p: np.ndarray, dim: int = 3) -> object:
    """A fitted head of ``head_cls`` whose distribution is ``p`` for every input."""
    head = head_cls()
    if head_cls is LogisticHead:
        head.coef_ = np.zeros((len(p), dim), dtype=np.float32)
        head.intercept_ = np.log(np.clip(p, 1e-12, None)).astype(np.float32)
    else:
        head.W1_, head.b1_ = np.zeros((dim, 4), dtype=np.float32), np.zeros(4, dtype=np.float32)
        head.W2_ = np.zeros((4, len(p)), dtype=np.float32)
        head.b2_ = np.log(np.clip(p, 1e-12, None)).astype(np.float32)
    head.n_classes_ = len(p)
    return head


@pytest.mark.parametrize("head_cls", [LogisticHead, MLPHead])
def test_frozen_rating_heads_predict_the_median(head_cls: type) -> None:
    head = _constant_head(head_cls, SPLIT)
    model = TransferModel(aligner=Aligner(mode="none"), heads=[
        HeadState(name="rating", task="rating", label_field="rating", labels=STARS, head=head)])
    row = model.outputs(np.zeros((2, 3), dtype=np.float32))[0]
    assert row["pred"] == 4
    assert row["expected"] == pytest.approx(3.15, abs=1e-3)


def test_frozen_classify_head_keeps_argmax() -> None:
    head = _constant_head(LogisticHead, SPLIT)
    model = TransferModel(aligner=Aligner(mode="none"), heads=[
        HeadState(name="label", task="classify", label_field="label", labels=STARS, head=head)])
    row = model.outputs(np.zeros((1, 3), dtype=np.float32))[0]
    assert row["pred"] == 1 and "expected" not in row


@pytest.mark.parametrize(("head", "stars"), [({"type": "coral"}, 4), ({"type": "softmax", "decode": "mode"}, 1)])
def test_onnx_classifier_decodes_as_its_source_folder(head: dict[str, str], stars: int) -> None:
    from babelcart.models.onnx import OnnxClassifier

    p_gt = 1.0 - np.cumsum(SPLIT)[:-1]
    cum_logits = np.log(np.clip(p_gt, 1e-9, None) / np.clip(1 - p_gt, 1e-9, None))[None].astype(np.float32)
    clf = object.__new__(OnnxClassifier)
    clf.labels, clf.task, clf.config = STARS, "rating", {"head": head}
    clf._outputs = lambda texts: np.repeat(cum_logits, len(texts), axis=0)
    row = clf.predict(["x"], langs=["en"])[0]
    assert row["pred"] == stars
    assert row["expected"] == pytest.approx(3.15, abs=1e-3)
