"""Symmetric InfoNCE and contrastive alignment on parallel pairs (tiny model built in code)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from babelcart.models.ordinal import coral_decode, coral_probs

ZH = list("质量很好物流快满意差坏了")
EN = ["great", "product", "fast", "shipping", "quality", "bad", "broke", "love", "hate", "dress", "shoes", "order"]


def _pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Synthetic 'translations': each pair shares a hidden meaning id drawn into two disjoint vocabularies."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ids = rng.sample(range(len(EN)), 3)
        out.append(("".join(ZH[i] for i in ids), " ".join(EN[i] for i in ids)))
    return out


def _gap(vecs_a: np.ndarray, vecs_b: np.ndarray) -> float:
    sims = vecs_a @ vecs_b.T
    off = sims[~np.eye(len(sims), dtype=bool)]
    return float(np.diag(sims).mean() - off.mean())


@pytest.mark.torch
def test_info_nce_prefers_aligned_pairs() -> None:
    torch = pytest.importorskip("torch")
    from babelcart.learn.contrastive import info_nce

    g = torch.Generator().manual_seed(0)
    a = torch.randn(8, 16, generator=g)
    aligned = info_nce(a, a + 0.01 * torch.randn(8, 16, generator=g))
    shuffled = info_nce(a, a[torch.randperm(8, generator=g)])
    assert float(aligned) < 0.01 < float(shuffled)
    # symmetric
    b = torch.randn(8, 16, generator=g)
    assert float(info_nce(a, b)) == pytest.approx(float(info_nce(b, a)), rel=1e-5)
    with pytest.raises(ValueError):
        info_nce(a, b[:4])
    with pytest.raises(ValueError):
        info_nce(a, b, temperature=0)


@pytest.mark.torch
def test_contrastive_training_pulls_pairs_together(tiny_bert: Path, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from babelcart.encoders import get_encoder
    from babelcart.learn.contrastive import train_contrastive

    pairs = _pairs(32, seed=0)
    out = train_contrastive(pairs, encoder_spec=f"hf:{tiny_bert}", out_dir=tmp_path / "aligned", epochs=6,
                            freeze_embeddings=False,  # the tiny model's embeddings are random, not pretrained
                            batch_size=16, lr=3e-3, temperature=0.1, max_length=32)
    info = json.loads((out / "babelcart_prefixes.json").read_text())
    losses = info["epoch_losses"]
    assert losses[-1] < losses[0] * 0.8
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    before = get_encoder(f"hf:{tiny_bert}")
    after = get_encoder(f"hf:{out}")
    gap_before = _gap(before.encode(xs), before.encode(ys))
    gap_after = _gap(after.encode(xs), after.encode(ys))
    assert gap_after > gap_before + 0.05
    with pytest.raises(ValueError, match="at least 2"):
        train_contrastive(pairs[:1], encoder_spec=f"hf:{tiny_bert}", out_dir=tmp_path / "x")


@pytest.mark.torch
def test_finetune_with_contrastive_term(tiny_bert: Path) -> None:
    pytest.importorskip("transformers")
    from toy_data import toy_records

    from babelcart.learn.finetune import FinetuneRun

    run = FinetuneRun(task="classify", labels=None, encoder_spec=f"hf:{tiny_bert}", max_length=32)
    run.fit(toy_records(32, seed=1), None, parallel_pairs=_pairs(16, seed=1), contrastive_weight=None,
            epochs=3, batch_size=8, lr=3e-3, temperature=0.1)
    c = [h["contrastive_loss"] for h in run.history_]
    assert len(c) == 3 and c[-1] < c[0]
    assert run.joint_["contrastive_weight"] == 1.0  # auto-on with pairs


def test_coral_probs_and_median_decoding() -> None:
    # P(y > k) for 5 classes, one row deliberately non-monotone
    logits = np.array([[2.0, 1.0, -1.0, -3.0], [0.0, 1.0, 0.0, -1.0]])
    probs = coral_probs(logits)
    assert probs.shape == (2, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs >= 0).all()
    bimodal = np.array([[0.4, 0.05, 0.05, 0.1, 0.4]])
    idx, expected = coral_decode(bimodal, [1, 2, 3, 4, 5])
    assert idx[0] == 2 and expected[0] == pytest.approx(3.05)  # the median, not a mode
    rng = np.random.default_rng(0)
    labels = np.arange(1, 6)
    for p in rng.dirichlet(np.ones(5), size=50):
        i, _ = coral_decode(p[None], labels)
        risks = [np.sum(p * np.abs(labels - k)) for k in labels]
        assert risks[i[0]] == pytest.approx(min(risks))  # minimizes the expected absolute error


@pytest.mark.torch
def test_contrastive_with_lora_writes_a_merged_plain_folder(tiny_bert: Path, tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from safetensors.numpy import load_file

    from babelcart.learn.contrastive import train_contrastive

    out = train_contrastive(_pairs(16, seed=2), encoder_spec=f"hf:{tiny_bert}", out_dir=tmp_path / "lora",
                            epochs=2, batch_size=8, lr=1e-2, lora=True, lora_r=2, max_length=32)
    saved = load_file(str(out / "model.safetensors"))
    base = load_file(str(tiny_bert / "model.safetensors"))
    assert not any("lora" in k for k in saved)
    key = next(k for k in saved if k.endswith("layer.0.attention.self.query.weight"))
    assert not np.allclose(saved[key], base[key])  # the adapters were merged in
