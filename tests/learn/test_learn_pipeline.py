"""train_model -> model folder -> load_model, on synthetic vectors served by a lookup encoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lookup_encoder import LookupEncoder

import babelcart.learn as learn_pkg
from babelcart.apps.evaluation import evaluate_classifier
from babelcart.encoders import get_encoder
from babelcart.learn.data import TrainDataError
from babelcart.learn.train import train_model
from babelcart.models import load_model
from babelcart.models.folder import ModelLoadError


def _shifted_task(seed: int = 0, shift: float = 1.6):
    """Two classes along axis 0. Target language 'xx' = source shifted along that axis (no centering used)."""
    rng = np.random.default_rng(seed)
    d = 8
    n_src, n_tgt = 200, 400
    y = rng.integers(0, 2, size=n_src + n_tgt)
    X = rng.normal(size=(n_src + n_tgt, d)) * 0.6
    X[:, 0] += np.where(y == 1, 2.0, -2.0)
    X[n_src:, 0] += shift
    langs = ["en"] * n_src + ["xx"] * n_tgt
    recs = [{"text": f"v{i} text", "label": ["neg", "pos"][y[i]], "lang": langs[i]} for i in range(len(y))]
    return X, recs[:n_src], recs[n_src:]


def test_public_api_imports() -> None:
    for name in learn_pkg.__all__:
        assert getattr(learn_pkg, name) is not None


@pytest.mark.slow
def test_self_training_improves_a_shifted_task(tmp_path: Path) -> None:
    X, src, tgt = _shifted_task()
    enc = LookupEncoder(X)
    unl = [{"text": r["text"], "lang": "xx"} for r in tgt[:200]]
    test = tgt[200:]
    accs = {}
    for rounds in (0, 3):
        path = train_model(train=src, out=tmp_path / f"m{rounds}", task="classify", encoder=enc, align="none",
                           unlabeled=[unl] if rounds else [], self_train_rounds=rounds, method="head")
        rep = evaluate_classifier(load_model(path, encoder=enc), test)  # type: ignore[arg-type]
        accs[rounds] = rep["languages"]["xx"]["accuracy"]
    assert accs[0] < 0.9
    assert accs[3] > accs[0] + 0.03
    cfg = json.loads((tmp_path / "m3" / "config.json").read_text())
    rounds_info = cfg["model"]["heads"][0]["info"]["self_training"]
    assert [r["round"] for r in rounds_info] == [0, 1, 2, 3]
    assert sum(rounds_info[1]["pseudo"]["xx"].values()) > 0


def test_centering_in_the_pipeline_fixes_the_shift(tmp_path: Path) -> None:
    X, src, tgt = _shifted_task(shift=3.0)
    enc = LookupEncoder(X)
    unl = [{"text": r["text"], "lang": "xx"} for r in tgt[:200]]
    accs = {}
    for mode in ("none", "center"):
        path = train_model(train=src, out=tmp_path / mode, task="classify", encoder=enc, align=mode,
                           unlabeled=[unl], method="head")
        accs[mode] = evaluate_classifier(load_model(path, encoder=enc), tgt[200:])["languages"]["xx"]["accuracy"]  # type: ignore[arg-type]
    assert accs["none"] < 0.75 < 0.9 < accs["center"]


def test_few_shot_and_joint_lambda(tmp_path: Path) -> None:
    X, src, tgt = _shifted_task(shift=2.5)
    enc = LookupEncoder(X)
    coefs = {}
    for lam in (0.05, 20.0):
        path = train_model(train=src, out=tmp_path / f"j{lam}", task="classify", encoder=enc, align="none",
                           few_shot=4, target=tgt, joint_lambda=lam, method="head")
        cfg = json.loads((path / "config.json").read_text())
        assert cfg["training_data"]["few_shot"] == {"xx": {"neg": 4, "pos": 4}}
        metrics = json.loads((path / "metrics.json").read_text())
        assert metrics["heads"]["label"]["dev"]["languages"]["xx"]["n"] == len(tgt) - 8  # the rest is dev
        from safetensors.numpy import load_file

        coefs[lam] = load_file(str(path / "head.safetensors"))["head.label.coef"]
    assert not np.allclose(coefs[0.05], coefs[20.0], atol=1e-3)


def test_target_labels_weigh_as_much_as_the_source_by_default(tmp_path: Path) -> None:
    """``--target`` without ``--joint-lambda``: lambda 1 (both languages' losses weigh the same), recorded in
    config.json; the head then differs from counting every example the same (lambda = n_source / n_target)."""
    X, src, tgt = _shifted_task(shift=2.5)
    enc = LookupEncoder(X)
    target = tgt[:16]
    paths = {lam: train_model(train=src, out=tmp_path / f"t{lam}", task="classify", encoder=enc, align="none",
                              target=target, **({} if lam is None else {"joint_lambda": lam}))
             for lam in (None, len(src) / len(target))}
    cfg = json.loads((paths[None] / "config.json").read_text())
    assert cfg["options"]["joint_lambda"] == 1.0
    from safetensors.numpy import load_file

    coefs = [load_file(str(p / "head.safetensors"))["head.label.coef"] for p in paths.values()]
    assert not np.allclose(coefs[0], coefs[1], atol=1e-3)


def test_multitask_outputs_and_ordinal_rating(tmp_path: Path, hash_encoder) -> None:
    words = {1: "awful broken terrible", 2: "bad poor", 3: "okay average fine", 4: "good nice", 5: "great perfect love"}
    recs = []
    for i in range(150):
        r = i % 5 + 1
        recs.append({"text": f"{words[r]} item number {i}", "stars": r, "kind": "dress" if i % 2 else "shoe",
                     "lang": "en"})
    path = train_model(train=recs, out=tmp_path / "mt", task=["rating", "classify"],
                       label_field=["stars", "kind"], encoder=hash_encoder, method="head")
    clf = load_model(path, encoder=hash_encoder)
    assert clf.task == "rating" and clf.labels == [1, 2, 3, 4, 5] and clf.encoder_spec == "hash:256"
    out = clf.predict(["great perfect love it", "awful broken terrible thing"], langs=["en", "en"])
    assert out[0]["pred"] > out[1]["pred"]
    assert set(out[0]) >= {"pred", "scores", "expected", "lang", "kind_pred", "kind_scores"}
    assert abs(sum(out[0]["scores"].values()) - 1) < 1e-3
    assert 1 <= out[1]["expected"] <= 5
    rep = evaluate_classifier(clf, recs)  # type: ignore[arg-type]
    assert rep["languages"]["en"]["mae"] < 0.5


def test_bad_training_input_is_rejected_without_a_partial_folder(tmp_path: Path, hash_encoder) -> None:
    out = tmp_path / "model"
    good = [{"text": f"t{i}", "label": "a" if i % 2 else "b"} for i in range(20)]
    cases: list[tuple[list[dict[str, Any]], str]] = [
        ([], "empty"),
        ([{"text": f"t{i}", "label": "a"} for i in range(10)], "one class"),
        ([{"text": "x"}, *good], "no label"),
        ([{"text": "x", "label": 6}, *good], "bad training line"),
        ([{"label": "a"}, *good], "missing field 'text'"),
        ([{"_line": 3, "error": "line 3 is not valid JSON"}, *good], "not valid JSON"),
    ]
    for recs, msg in cases:
        task = "rating" if any(r.get("label") == 6 for r in recs) else "classify"
        with pytest.raises(TrainDataError, match=msg):
            train_model(train=recs, out=out, task=task, encoder=hash_encoder, method="head")
        assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temp folders left behind
    with pytest.raises(TrainDataError, match="no usable text"):
        train_model(train=good, out=out, encoder=hash_encoder, unlabeled=[[{"text": "  "}]], method="head")
    with pytest.raises(ValueError, match="--unlabeled"):
        train_model(train=good, out=out, encoder=hash_encoder, self_train_rounds=1, method="head")
    with pytest.raises(ValueError, match="--parallel"):
        train_model(train=good, out=out, encoder=hash_encoder, align="procrustes", method="head")
    with pytest.raises(TrainDataError, match="not found"):
        train_model(train=tmp_path / "nope.jsonl", out=out, encoder=hash_encoder, method="head")
    # --skip-bad drops bad lines, counts them, and trains
    path = train_model(train=[{"text": "x"}, *good], out=out, encoder=hash_encoder, skip_bad=True, method="head")
    assert json.loads((path / "config.json").read_text())["training_data"]["skipped_bad_lines"] == 1


@pytest.fixture()
def small_model(tmp_path: Path, hash_encoder) -> Path:
    recs = [{"text": f"{'good nice' if i % 2 else 'bad poor'} {i}", "label": "pos" if i % 2 else "neg", "lang": "en"}
            for i in range(40)]
    return train_model(train=recs, out=tmp_path / "m", encoder=hash_encoder, method="head")


def test_model_folder_checks(small_model: Path, hash_encoder) -> None:
    assert {p.name for p in small_model.iterdir()} == {"config.json", "head.safetensors", "metrics.json",
                                                       "README.md"}
    load_model(small_model, encoder=hash_encoder)
    with pytest.raises(ModelLoadError, match="trained with encoder"):
        load_model(small_model, encoder=get_encoder("hash:128"))
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(small_model.parent / "missing")
    head = small_model / "head.safetensors"
    data = bytearray(head.read_bytes())
    data[-5] ^= 0xFF
    head.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="corrupted"):
        load_model(small_model, encoder=hash_encoder)
    cfg_path = small_model / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(ModelLoadError, match="version"):
        load_model(small_model, encoder=hash_encoder)
    cfg_path.write_text("{not json")
    with pytest.raises(ModelLoadError, match="corrupted"):
        load_model(small_model, encoder=hash_encoder)


def test_head_dimension_mismatch_is_caught(small_model: Path, hash_encoder) -> None:
    cfg_path = small_model / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["encoder"] = {**cfg["encoder"], "spec": "hash:128", "dim": 128}
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="128-d"):
        load_model(small_model, encoder=get_encoder("hash:128"))


def test_a_finetune_folder_without_its_weights_is_a_clear_error(small_model: Path) -> None:
    """``load_model`` sends a ``method: finetune`` folder to the fine-tuned loader, which names what is missing."""
    pytest.importorskip("torch")
    cfg_path = small_model / "config.json"
    cfg_path.write_text(json.dumps({**json.loads(cfg_path.read_text()), "method": "finetune"}))
    with pytest.raises(ModelLoadError, match="model.safetensors is missing"):
        load_model(small_model)


def test_unknown_label_at_evaluation(small_model: Path, hash_encoder) -> None:
    clf = load_model(small_model, encoder=hash_encoder)
    with pytest.raises(ValueError, match="not known to the model.*'meh'"):
        evaluate_classifier(clf, [{"text": "good", "label": "pos"}, {"text": "so so", "label": "meh"}])  # type: ignore[arg-type]
    rep = evaluate_classifier(clf, [{"text": "good nice", "label": "pos", "lang": "en"}, {"text": "x"}])  # type: ignore[arg-type]
    assert rep["skipped"] == 1 and rep["all"]["n"] == 1


def test_predict_records_marks_bad_lines(small_model: Path, hash_encoder) -> None:
    clf = load_model(small_model, encoder=hash_encoder)
    recs = [{"text": "good nice", "id": 1}, {"id": 2}, {"text": "", "id": 3}, {"text": "bad poor", "id": 4, "lang": "en"}]
    out = clf.predict_records(recs)  # type: ignore[attr-defined]
    assert [r["id"] for r in out] == [1, 2, 3, 4]
    assert "error" in out[1] and "error" in out[2]
    assert out[0]["pred"] == "pos" and out[3]["pred"] == "neg" and out[3]["lang"] == "en"
