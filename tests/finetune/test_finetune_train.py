"""Full fine-tuning on tiny models: learning, early stopping, seeds, rating head, save/load, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from toy_data import rating_records, toy_records  # noqa: E402

from babelcart.learn.finetune import FinetuneRun, train_finetune  # noqa: E402
from babelcart.learn.finetune_data import joint_weights  # noqa: E402
from babelcart.models.finetuned import load_finetuned  # noqa: E402
from babelcart.models.folder import ModelLoadError  # noqa: E402
from babelcart.models.ordinal import logits_to_probs  # noqa: E402

pytestmark = pytest.mark.torch

TRAIN = toy_records(48, seed=1)
DEV = toy_records(24, seed=2)
FAST: dict[str, Any] = {"batch_size": 4, "lr": 5e-3, "head_lr": 5e-2}


def _fit(tiny_bert: Path, *, seed: int = 0, epochs: int = 4, **kw) -> FinetuneRun:
    fit_kw = {**FAST, **{k: v for k, v in kw.items() if k not in ("task", "labels", "lora")}}
    # the tiny model's token embeddings are random, not pretrained: they must train here
    run = FinetuneRun(task=kw.get("task", "classify"), labels=kw.get("labels"), encoder_spec=f"hf:{tiny_bert}",
                      seed=seed, lora=kw.get("lora", False), max_length=32, freeze_embeddings=False)
    return run.fit(fit_kw.pop("train", TRAIN), fit_kw.pop("dev", DEV), epochs=epochs, **fit_kw)


@pytest.fixture(scope="module")
def trained(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[FinetuneRun, Path]:
    run = _fit(tiny_bert, epochs=4, patience=4, tensorboard_dir=tmp_path_factory.mktemp("tb"))
    live = run.logits([r["text"] for r in DEV])
    path = run.save(tmp_path_factory.mktemp("ft") / "model")
    run.live_logits = live  # type: ignore[attr-defined]
    return run, path


def test_learns_a_separable_task(tiny_bert: Path, trained: tuple[FinetuneRun, Path]) -> None:
    untrained = _fit(tiny_bert, epochs=1, lr=1e-12, head_lr=1e-12)
    chance = untrained.history_[0]["dev"]["accuracy"]
    run, _ = trained
    best = max(h["dev"]["accuracy"] for h in run.history_)
    assert chance <= 0.5  # 4 balanced classes: chance is 0.25
    assert best >= 0.9
    assert run.history_[-1]["loss"] < run.history_[0]["loss"]


def test_linear_probe_fits_the_head_before_the_encoder_moves(tiny_bert: Path) -> None:
    """LP-FT: with learning rates too small to move anything, only the probe can make the model better than chance."""
    frozen = {"epochs": 1, "lr": 1e-12, "head_lr": 1e-12}
    plain = _fit(tiny_bert, **frozen)
    probed = _fit(tiny_bert, **frozen, linear_probe=True)
    assert plain.history_[0]["dev"]["accuracy"] <= 0.5
    assert probed.history_[0]["dev"]["accuracy"] >= 0.8
    assert probed.train_info_["linear_probe"]["l2"] > 0 and plain.train_info_["linear_probe"] is None


def test_save_load_roundtrip(trained: tuple[FinetuneRun, Path]) -> None:
    run, path = trained
    assert {p.name for p in path.iterdir()} >= {"config.json", "model.safetensors", "encoder", "tokenizer",
                                                 "metrics.json", "README.md"}
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["method"] == "finetune" and cfg["task"] == "classify"
    assert cfg["labels"] == sorted({r["label"] for r in TRAIN})
    assert cfg["train"]["n_train"] == len(TRAIN) and cfg["metrics"]["dev"]["accuracy"] >= 0.9
    clf = load_finetuned(path)
    assert clf.labels == cfg["labels"] and clf.task == "classify" and clf.encoder_spec == cfg["encoder_spec"]
    texts = [r["text"] for r in DEV]
    preds = clf.predict(texts, langs=[r["lang"] for r in DEV])
    scores = np.array([[p["scores"][lab] for lab in clf.labels] for p in preds])
    t = cfg["head"]["calibration"]["temperature"]
    live = logits_to_probs("linear", run.live_logits / t)  # type: ignore[attr-defined]
    np.testing.assert_allclose(scores, live, atol=1e-5)  # the saved head is the live one, temperature-scaled
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert [p["pred"] for p in preds] == [clf.labels[i] for i in scores.argmax(axis=1)]
    assert [p["lang"] for p in preds] == [r["lang"] for r in DEV]
    assert "expected" not in preds[0]
    vecs = clf.encode(texts[:3])
    assert vecs.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_the_saved_head_is_calibrated_on_dev_and_predicts_the_same_labels(trained: tuple[FinetuneRun, Path]) -> None:
    run, path = trained
    cal = json.loads((path / "config.json").read_text())["head"]["calibration"]
    assert cal["on"] == f"dev ({len(DEV)} rows)" and cal["temperature"] != 1.0
    assert "calibration: temperature" in (path / "README.md").read_text()
    y = np.array([run.labels_.index(r["label"]) for r in DEV])
    raw = run.live_logits.astype(np.float64)  # type: ignore[attr-defined]

    def nll(t: float) -> float:
        return float(-np.mean(np.log(logits_to_probs("linear", raw / t)[np.arange(len(y)), y])))

    assert nll(cal["temperature"]) <= nll(1.0)
    assert (logits_to_probs("linear", raw / cal["temperature"]).argmax(1) == raw.argmax(1)).all()


def test_without_dev_labels_the_head_is_left_as_trained(tiny_bert: Path, tmp_path: Path) -> None:
    run = _fit(tiny_bert, epochs=1, dev=None)
    cfg = json.loads((run.save(tmp_path / "m") / "config.json").read_text())
    assert cfg["head"]["calibration"]["temperature"] == 1.0 and "give --dev" in cfg["head"]["calibration"]["on"]


def test_saved_encoder_is_a_plain_hf_folder(trained: tuple[FinetuneRun, Path]) -> None:
    from transformers import AutoModel, AutoTokenizer

    from babelcart.encoders import get_encoder

    _, path = trained
    AutoModel.from_pretrained(path / "encoder")
    AutoTokenizer.from_pretrained(path / "tokenizer")
    texts = [r["text"] for r in DEV[:4]]
    enc = get_encoder(f"hf:{path / 'encoder'}")
    np.testing.assert_allclose(enc.encode(texts), load_finetuned(path).encode(texts), atol=1e-5)


def test_load_model_dispatches_to_the_finetuned_loader(trained: tuple[FinetuneRun, Path]) -> None:
    from babelcart.models import load_model

    _, path = trained
    clf = load_model(path)
    assert clf.predict(["shipping order very"], langs=["en"])[0]["pred"] in clf.labels


def test_tensorboard_logs(trained: tuple[FinetuneRun, Path], tmp_path: Path, tiny_bert: Path) -> None:
    run = _fit(tiny_bert, epochs=1, tensorboard_dir=tmp_path / "tb")
    assert run.history_
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_early_stopping_stops(tiny_bert: Path) -> None:
    run = _fit(tiny_bert, epochs=12, patience=1)
    assert run.stopped_early_
    assert len(run.history_) < 12
    assert len(run.history_) == run.best_epoch_ + 1  # stopped one (= patience) epoch after the best
    best = run.history_[run.best_epoch_ - 1]["dev"]["accuracy"]
    assert best == max(h["dev"]["accuracy"] for h in run.history_)
    # the restored model is the best epoch's
    assert run.evaluate_records(DEV)["accuracy"] == pytest.approx(best)


def test_seeds_make_runs_reproducible(tiny_bert: Path) -> None:
    texts = [r["text"] for r in DEV]
    a = _fit(tiny_bert, seed=3, epochs=1).scores(texts)
    b = _fit(tiny_bert, seed=3, epochs=1).scores(texts)
    c = _fit(tiny_bert, seed=4, epochs=1).scores(texts)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(a, c, atol=1e-4)


@pytest.mark.parametrize(("rating_head", "rating_decode", "rule"),
                         [("coral", "auto", "median"), ("softmax", "auto", "mode"), ("softmax", "median", "median")])
def test_rating_head(tiny_bert: Path, tmp_path: Path, rating_head: str, rating_decode: str, rule: str) -> None:
    train, dev = rating_records(60, seed=1), rating_records(30, seed=2)
    path = train_finetune(train, task="rating", labels=[1, 2, 3, 4, 5], dev_records=dev,
                          encoder_spec=f"hf:{tiny_bert}", out_dir=tmp_path / "rating", epochs=6,
                          batch_size=10, lr=2e-3, head_lr=2e-2, max_length=32, patience=6, freeze_embeddings=False,
                          rating_head=rating_head, rating_decode=rating_decode)
    clf = load_finetuned(path)
    assert clf.task == "rating" and clf.labels == [1, 2, 3, 4, 5]
    preds = clf.predict([r["text"] for r in dev], langs=["en"] * len(dev))
    truth = np.array([r["label"] for r in dev])
    mae = np.mean(np.abs(np.array([p["pred"] for p in preds]) - truth))
    assert mae < np.mean(np.abs(3 - truth))  # beats the best constant (the median)
    for p in preds:
        assert set(p["scores"]) == {"1", "2", "3", "4", "5"}
        assert sum(p["scores"].values()) == pytest.approx(1.0, abs=1e-6)
        assert 1.0 <= p["expected"] <= 5.0
        assert p["expected"] == pytest.approx(sum(int(k) * v for k, v in p["scores"].items()), abs=1e-6)
        probs = [p["scores"][str(k)] for k in range(1, 6)]
        median, mode = int(np.argmax(np.cumsum(probs) >= 0.5)) + 1, int(np.argmax(probs)) + 1
        assert p["pred"] == (median if rule == "median" else mode)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["head"]["type"] == rating_head and cfg["head"]["decode"] == rule and "mae" in cfg["metrics"]["dev"]
    # a higher share of "good" words must not predict a lower rating (ordinal head is monotone here)
    exp = [p["expected"] for p in clf.predict(["bad bad bad bad", "good good good good"], langs=["en", "en"])]
    assert exp[0] < exp[1]


@pytest.mark.parametrize(("rounds", "head"), [(0, "softmax"), (1, "coral")])
def test_default_rating_head_follows_self_training(tiny_bert: Path, tmp_path: Path, rounds: int, head: str) -> None:
    """Without a rating_head the plain fine-tune gets softmax, a self-trained one CORAL (docs/finetune.md)."""
    unlabeled = [{"text": r["text"], "lang": "de"} for r in rating_records(20, seed=5)]
    path = train_finetune(rating_records(30, seed=1), task="rating", labels=[1, 2, 3, 4, 5],
                          encoder_spec=f"hf:{tiny_bert}", out_dir=tmp_path / "m", epochs=1, batch_size=10,
                          max_length=32, unlabeled_records=unlabeled, self_train_rounds=rounds)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["head"]["type"] == head and len(cfg["train"]["self_training"]) == rounds


def test_joint_lambda_weights() -> None:
    w = joint_weights(["de", "de", "en", "en", "en", "en"], ["de"], 0.5)
    # target mean + 0.5 * rest mean: sum(w)/n = 1 + 0.5
    assert w.sum() / len(w) == pytest.approx(1.5)
    assert w[0] == pytest.approx(3.0) and w[2] == pytest.approx(0.75)
    assert np.all(joint_weights(["de", "en"], None, 0.5) == 1.0)
    assert np.all(joint_weights(["de", "en"], ["de"], 0.0)[1:] == 0.0)
    with pytest.raises(ValueError, match="nothing to learn"):
        joint_weights(["en", "en"], ["de"], 0.0)
    with pytest.raises(ValueError, match=">= 0"):
        joint_weights(["en"], ["de"], -1.0)


def test_joint_lambda_changes_training(tiny_bert: Path) -> None:
    texts = [r["text"] for r in DEV]
    plain = _fit(tiny_bert, epochs=1).scores(texts)
    joint = _fit(tiny_bert, epochs=1, target_langs=["de"], joint_lambda=0.1).scores(texts)
    assert not np.allclose(plain, joint, atol=1e-4)


def test_bad_input_is_rejected_clearly(tiny_bert: Path, tmp_path: Path) -> None:
    spec = f"hf:{tiny_bert}"
    out = tmp_path / "m"
    kw: dict[str, Any] = {"task": "classify", "labels": None, "encoder_spec": spec, "out_dir": out, "epochs": 1}
    with pytest.raises(ValueError, match="no training records"):
        train_finetune([], **kw)
    with pytest.raises(ValueError, match="at least 2 labels"):
        train_finetune([{"text": "a", "label": "x"}, {"text": "b", "label": "x"}], **kw)
    with pytest.raises(ValueError, match="record 1 has no text"):
        train_finetune([{"text": "a", "label": "x"}, {"label": "y"}], **kw)
    with pytest.raises(ValueError, match="record 2 has no label"):
        train_finetune(TRAIN[:2] + [{"text": "c"}], **kw)
    with pytest.raises(ValueError, match="bad input line"):
        train_finetune(TRAIN[:2] + [{"_line": 3, "error": "bad JSON", "raw": "{"}], **kw)
    with pytest.raises(ValueError, match="not one of"):
        train_finetune(TRAIN[:4], **{**kw, "labels": ["fit", "quality"]})
    with pytest.raises(ValueError, match="rating labels must be integers"):
        train_finetune([{"text": "a", "label": "good"}, {"text": "b", "label": 2}], **{**kw, "task": "rating"})
    with pytest.raises(ValueError, match="task must be"):
        train_finetune(TRAIN, **{**kw, "task": "regress"})
    with pytest.raises(ValueError, match="cannot be trained"):
        train_finetune(TRAIN, **{**kw, "encoder_spec": "hash:64"})
    with pytest.raises(ValueError, match="parallel_pairs"):
        train_finetune(TRAIN, **{**kw, "contrastive_weight": 1.0})
    with pytest.raises(ValueError, match="parallel pair 0"):
        train_finetune(TRAIN, **{**kw, "parallel_pairs": [("only one",)], "contrastive_weight": 1.0})
    assert not out.exists()  # nothing half-written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.")]


def test_corrupted_or_incomplete_folders(trained: tuple[FinetuneRun, Path], tmp_path: Path) -> None:
    import shutil

    _, path = trained
    bad = tmp_path / "bad"
    shutil.copytree(path, bad)
    (bad / "model.safetensors").write_bytes(b"\x00garbage, not safetensors")
    with pytest.raises(ModelLoadError, match="corrupted"):
        load_finetuned(bad)
    shutil.copy(path / "model.safetensors", bad / "model.safetensors")
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ModelLoadError, match="corrupted"):
        load_finetuned(bad)
    shutil.copy(path / "model.safetensors", bad / "model.safetensors")
    (bad / "encoder" / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot load the encoder"):
        load_finetuned(bad)
    shutil.rmtree(bad / "encoder")
    with pytest.raises(ModelLoadError, match="encoder/config.json is missing"):
        load_finetuned(bad)
    cfg = json.loads((path / "config.json").read_text())
    shutil.copytree(path, tmp_path / "future")
    (tmp_path / "future" / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(ValueError, match="upgrade babelcart"):
        load_finetuned(tmp_path / "future")
    (tmp_path / "future" / "config.json").write_text(json.dumps({**cfg, "labels": cfg["labels"][:2]}))
    with pytest.raises(ValueError, match="head.weight of shape"):
        load_finetuned(tmp_path / "future")
    (tmp_path / "future" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_finetuned(tmp_path / "future")
    with pytest.raises(ModelLoadError, match="config.json is missing"):
        load_finetuned(tmp_path / "nowhere")


def test_predict_input_checks(trained: tuple[FinetuneRun, Path]) -> None:
    clf = load_finetuned(trained[1])
    with pytest.raises(TypeError):
        clf.predict("one string")
    with pytest.raises(ValueError, match="langs"):
        clf.predict(["a", "b"], langs=["en"])
    with pytest.raises(TypeError, match="text 1"):
        clf.predict(["a", None], langs=["en", "en"])  # type: ignore[list-item]
    assert clf.predict([], langs=[]) == []
    long = clf.predict(["shipping " * 2000, ""], langs=["en", "en"])
    assert len(long) == 2 and all(np.isfinite(list(p["scores"].values())).all() for p in long)


def test_freeze_embeddings(tiny_bert: Path) -> None:
    frozen = FinetuneRun(task="classify", labels=None, encoder_spec=f"hf:{tiny_bert}", max_length=32,
                         freeze_embeddings=True)
    frozen.fit(TRAIN, None, epochs=1, **FAST)
    emb = frozen.model_.get_input_embeddings().weight
    assert not emb.requires_grad
    from safetensors.numpy import load_file

    base = load_file(str(tiny_bert / "model.safetensors"))
    key = next(k for k in base if k.endswith("word_embeddings.weight"))
    np.testing.assert_array_equal(emb.detach().numpy(), base[key])
    layer = next(p for n, p in frozen.model_.named_parameters() if "attention.self.query.weight" in n)
    qkey = next(k for k in base if k.endswith("layer.0.attention.self.query.weight"))
    assert layer.requires_grad and not np.allclose(layer.detach().numpy(), base[qkey])


def test_cli_train_and_predict_with_finetune(tiny_bert: Path, tmp_path: Path) -> None:
    typer_testing = pytest.importorskip("typer.testing")
    from babelcart.cli import app
    from babelcart.datasets.records import read_records, write_records

    write_records(TRAIN, str(tmp_path / "train.jsonl"))
    write_records(DEV[:5] + [{"text": ""}, {"label": "fit"}], str(tmp_path / "dev.jsonl"))
    runner = typer_testing.CliRunner()
    res = runner.invoke(app, ["train", "--task", "classify", "--train", str(tmp_path / "train.jsonl"),
                              "--method", "finetune", "--encoder", f"hf:{tiny_bert}", "--epochs", "1",
                              "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["method"] == "head" and cfg["encoder"]["bundled"] == "finetune"  # the head refitted on its encoder
    res = runner.invoke(app, ["predict", str(tmp_path / "m"), str(tmp_path / "dev.jsonl"),
                              "--out", str(tmp_path / "pred.jsonl")])
    assert res.exit_code == 0, res.output
    out = list(read_records(str(tmp_path / "pred.jsonl")))
    assert len(out) == 7
    assert all(o["pred"] in {r["label"] for r in TRAIN} for o in out[:5])
    assert [o["text"] for o in out[:5]] == [r["text"] for r in DEV[:5]]  # order kept
    assert "error" in out[5] and "error" in out[6]
