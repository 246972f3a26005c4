"""The fine-tuning transfer path on a tiny model built in code: frozen embeddings, length-bucketed batches,
gradient accumulation, soft-target losses, shift-robust self-training, and the CLI/evaluate round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from toy_data import toy_records  # noqa: E402

from babelcart.learn.finetune import FinetuneRun  # noqa: E402
from babelcart.learn.finetune_data import length_batches, padding_waste  # noqa: E402

pytestmark = pytest.mark.torch

TRAIN = [dict(r, lang="en") for r in toy_records(48, seed=1)]
FAST = {"batch_size": 4, "lr": 5e-3, "head_lr": 5e-2}


def _run(tiny_bert: Path, **kw) -> FinetuneRun:
    return FinetuneRun(task=kw.pop("task", "classify"), labels=None, encoder_spec=f"hf:{tiny_bert}", max_length=32,
                       freeze_embeddings=kw.pop("freeze_embeddings", True), seed=0)


def test_frozen_embeddings_really_stay_frozen(tiny_bert: Path) -> None:
    from transformers import AutoModel

    base = AutoModel.from_pretrained(tiny_bert)
    run = _run(tiny_bert).fit(TRAIN, epochs=2, **FAST)  # frozen is the default
    emb_before = base.get_input_embeddings().weight.detach()
    emb_after = run.model_.get_input_embeddings().weight.detach()
    assert np.array_equal(emb_before.numpy(), emb_after.numpy())
    moved = [n for n, p in run.model_.named_parameters()
             if "embeddings.word_embeddings" not in n and not np.allclose(p.detach().numpy(),
                                                                          base.state_dict()[n].numpy())]
    assert any("encoder.layer" in n for n in moved)  # the transformer layers did learn
    trainable, total = run.trainable_parameters()
    assert trainable == total - emb_after.numel()


def test_length_batches_cover_every_row_once_with_less_padding() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(4, 128, size=1000).tolist()
    batches = length_batches(lengths, 16, np.random.default_rng(1))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    assert max(len(b) for b in batches) == 16
    random_batches = [np.arange(1000)[s:s + 16] for s in range(0, 1000, 16)]
    assert padding_waste(lengths, batches) < padding_waste(lengths, random_batches) / 4
    # still random: two seeds give different batch orders
    assert not np.array_equal(flat, np.concatenate(length_batches(lengths, 16, np.random.default_rng(2))))


def test_gradient_accumulation_takes_fewer_optimizer_steps(tiny_bert: Path) -> None:
    one = _run(tiny_bert).fit(TRAIN, epochs=1, **FAST)
    four = _run(tiny_bert).fit(TRAIN, epochs=1, grad_accum=4, **FAST)
    assert one.step_ == 12 and four.step_ == 3  # 48 rows / batch 4 = 12 batches
    assert four.train_info_["grad_accum"] == 4


def test_soft_target_loss_matches_the_hard_losses(tiny_bert: Path) -> None:
    import torch
    import torch.nn.functional as F

    logits = torch.randn(6, 4)
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    run = _run(tiny_bert)
    run.task = "classify"
    np.testing.assert_allclose(run._loss(logits, F.one_hot(y, 4).float()).numpy(),
                               F.cross_entropy(logits, y, reduction="none").numpy(), rtol=1e-5)
    run.task, run.head_type = "rating", "coral"  # CORAL: BCE over the K-1 thresholds P(y > k)
    coral = logits[:, :3]
    hard = (y.unsqueeze(1) > torch.arange(3)).float()
    want = F.binary_cross_entropy_with_logits(coral, hard, reduction="none").sum(dim=1)
    np.testing.assert_allclose(run._loss(coral, F.one_hot(y, 4).float()).numpy(), want.numpy(), rtol=1e-5)
    run.head_type = "softmax"  # a softmax rating head: cross-entropy over the K stars
    np.testing.assert_allclose(run._loss(logits, F.one_hot(y, 4).float()).numpy(),
                               F.cross_entropy(logits, y, reduction="none").numpy(), rtol=1e-5)


def test_self_training_follows_the_target_mix_and_reports_it(tiny_bert: Path, tmp_path: Path) -> None:
    # unlabeled "target" rows: 3 of every 4 are 'shipping' (a skewed mix)
    pool = toy_records(160, seed=7)
    skewed = [r for r in pool if r["label"] == "shipping"] + [r for r in pool if r["label"] != "shipping"][:13]
    unlabeled = [{"text": r["text"], "lang": "de"} for r in skewed]
    run = _run(tiny_bert, freeze_embeddings=False).fit(TRAIN, unlabeled_records=unlabeled, epochs=4,
                                                      self_train_rounds=1, self_train_fraction=0.5, **FAST)
    report = run.self_training_[0]
    assert report["n_pseudo"] > 10 and not report["collapsed"]
    labels = run.labels_
    prior = dict(zip(labels, report["priors"]["de"], strict=True))
    assert prior["shipping"] == max(prior.values()) and prior["shipping"] > 0.45  # the skew is seen
    assert [h["stage"] for h in run.history_] == ["supervised"] * 4 + ["self-train 1"]
    path = run.save(tmp_path / "m")
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["train"]["self_training"][0]["n_pseudo"] == report["n_pseudo"]
    assert cfg["freeze_embeddings"] is False and cfg["source_lang"] == "en"
    # one teacher, another unlabeled set: restore the snapshot taken before and self-train again
    snap_at = report["history_at"]
    teacher = _run(tiny_bert, freeze_embeddings=False).fit(TRAIN, epochs=4, **FAST)
    snap = teacher.snapshot()
    before = teacher.scores([r["text"] for r in skewed])
    teacher.self_train(unlabeled, rounds=1)
    assert len(teacher.history_) == snap_at + 1 and len(teacher.self_training_) == 1
    teacher.restore(snap)
    assert len(teacher.history_) == snap_at and teacher.self_training_ == []
    np.testing.assert_allclose(teacher.scores([r["text"] for r in skewed]), before, atol=1e-6)


def test_self_training_needs_unlabeled_text(tiny_bert: Path) -> None:
    with pytest.raises(ValueError, match="unlabeled"):
        _run(tiny_bert).fit(TRAIN, self_train_rounds=1, **FAST)
    with pytest.raises(ValueError, match="grad_accum"):
        _run(tiny_bert).fit(TRAIN, grad_accum=0, **FAST)


def test_bf16_autocast_runs_on_request(tiny_bert: Path) -> None:
    run = FinetuneRun(task="classify", labels=None, encoder_spec=f"hf:{tiny_bert}", max_length=32,
                      precision="bf16").fit(TRAIN, epochs=1, **FAST)
    assert run.autocast_ and run.train_info_["bf16_autocast"]
    assert np.isfinite(run.history_[0]["loss"])
    np.testing.assert_allclose(run.scores(["shipping order"]).sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="precision"):
        FinetuneRun(task="classify", labels=None, encoder_spec=f"hf:{tiny_bert}", precision="fp8")


def test_cli_finetune_trains_predicts_and_evaluates(tiny_bert: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from babelcart.cli import app

    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps({"text": r["text"], "intent": r["label"], "lang": "en"}) for r in TRAIN),
                    encoding="utf-8")
    unl = tmp_path / "unl.jsonl"
    unl.write_text("\n".join(json.dumps({"text": r["text"], "lang": "de"}) for r in toy_records(40, seed=9)),
                   encoding="utf-8")
    out = tmp_path / "model"
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--method", "finetune", "--encoder", f"hf:{tiny_bert}", "--train", str(data),
                              "--label-field", "intent", "--unlabeled", str(unl), "--self-train-rounds", "1",
                              "--epochs", "3", "--batch-size", "4", "--lr", "5e-3", "--train-embeddings",
                              "--max-length", "32", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["method"] == "head" and cfg["encoder"]["bundled"] == "finetune"  # classify: the frozen head refitted
    ft = json.loads((out / "finetune" / "config.json").read_text())
    assert ft["label_field"] == "intent" and ft["train"]["self_training"]
    assert ft["train"]["linear_probe"]["l2"] > 0  # a small set: the head was fitted on frozen features first
    test = tmp_path / "test.jsonl"
    test.write_text("\n".join(json.dumps({"text": r["text"], "intent": r["label"], "lang": "de"})
                              for r in toy_records(24, seed=3)), encoding="utf-8")
    res = runner.invoke(app, ["evaluate", str(out), str(test), "--json", str(tmp_path / "rep.json")])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["task"] == "classify" and rep["all"]["n"] == 24 and rep["all"]["accuracy"] > 0.25
