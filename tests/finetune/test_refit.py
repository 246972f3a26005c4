"""``train --method finetune`` refits the frozen head on the fine-tuned encoder (tiny BERT built in code)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from toy_data import toy_records  # noqa: E402

from babelcart.encoders.base import vectors_id  # noqa: E402
from babelcart.encoders.hf import HFEncoder  # noqa: E402
from babelcart.export.refitted import _default_precision  # noqa: E402
from babelcart.learn.train import train_model  # noqa: E402
from babelcart.models import load_model  # noqa: E402
from babelcart.models.folder import ModelLoadError, read_config  # noqa: E402
from babelcart.models.frozen import bundled_encoder  # noqa: E402

pytestmark = pytest.mark.torch

TRAIN = toy_records(48, seed=1)
DEV = toy_records(24, seed=2)
TEXTS = [r["text"] for r in DEV]
# the tiny model's token embeddings are random, not pretrained: they must train here
FIT = {"task": "classify", "method": "finetune", "epochs": 3, "lr": 5e-3, "batch_size": 4, "max_length": 32,
       "freeze_embeddings": False}


@pytest.fixture(scope="module")
def refitted(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_model(train=TRAIN, out=tmp_path_factory.mktemp("refit") / "m", encoder=f"hf:{tiny_bert}", **FIT)


def test_the_head_runs_on_the_bundled_fine_tuned_encoder(refitted: Path, tiny_bert: Path) -> None:
    cfg = json.loads((refitted / "config.json").read_text())
    assert cfg["method"] == "head" and cfg["encoder"]["bundled"] == "finetune"
    assert read_config(refitted / "finetune")["method"] == "finetune"
    # 16 source-language rows: too few to hold a fifth out, so every label trains (and a warning says so)
    assert cfg["finetune"]["n_train"] == len(TRAIN) and cfg["finetune"]["calibration_holdout"] == 0
    assert not list(refitted.parent.glob(".finetune-*")) and not list(refitted.parent.glob(".refit-*"))
    clf = load_model(refitted)
    tuned = load_model(refitted / "finetune").encode(TEXTS)
    np.testing.assert_allclose(clf.encoder.encode(TEXTS), tuned, atol=1e-5)
    assert not np.allclose(HFEncoder(str(tiny_bert)).encode(TEXTS), tuned, atol=1e-3)  # the encoder did move
    preds = clf.predict(TEXTS, [r["lang"] for r in DEV])
    assert np.mean([p["pred"] == r["label"] for p, r in zip(preds, DEV, strict=True)]) >= 0.9


def test_a_given_encoder_does_not_replace_the_bundled_one(refitted: Path, tiny_bert: Path) -> None:
    cfg = json.loads((refitted / "config.json").read_text())
    clf = load_model(refitted, encoder=HFEncoder(str(tiny_bert)))
    assert vectors_id(clf.encoder) == cfg["encoder"]["build"]


def test_every_fine_tune_gets_its_own_vectors_id(refitted: Path, tiny_bert: Path, tmp_path: Path) -> None:
    """A cache keyed by the vectors id must never serve one fine-tune's vectors to another."""
    again = train_model(train=TRAIN, out=tmp_path / "again", encoder=f"hf:{tiny_bert}", **FIT)
    builds = [json.loads((p / "config.json").read_text())["encoder"]["build"] for p in (refitted, again)]
    assert builds[0] != builds[1]


def test_missing_bundled_encoder_is_a_clear_error(refitted: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(refitted, broken)
    shutil.rmtree(broken / "finetune" / "encoder")
    with pytest.raises(ModelLoadError, match="fine-tuned encoder"):
        load_model(broken)


def test_held_out_labels_calibrate_the_head_and_never_train_the_encoder(tiny_bert: Path, tmp_path: Path) -> None:
    """Without --dev the head's temperature comes from source labels the fine-tune never saw (not in-sample)."""
    train = [{**r, "lang": "en"} for r in toy_records(80, seed=3)]
    path = train_model(train=train, out=tmp_path / "held", encoder=f"hf:{tiny_bert}", **FIT)
    cfg = json.loads((path / "config.json").read_text())
    held = cfg["finetune"]["calibration_holdout"]
    assert held == 16 and cfg["finetune"]["n_train"] == len(train) - held  # a stratified fifth kept out
    (head,) = cfg["model"]["heads"]
    assert head["info"]["calibration"] == "dev" and head["info"]["n_train"] == len(train) - held  # the head never saw them either
    assert read_config(path / "finetune")["head"]["calibration"]["on"] == f"held out ({held} rows)"  # its own head too


def test_no_holdout_or_a_dev_set_fine_tunes_on_every_label(tiny_bert: Path, tmp_path: Path) -> None:
    for name, extra in (("all", {"finetune_holdout": 0.0}), ("dev", {"dev": DEV})):
        path = train_model(train=TRAIN, out=tmp_path / name, encoder=f"hf:{tiny_bert}", **FIT, **extra)
        ft = json.loads((path / "config.json").read_text())["finetune"]
        assert ft["n_train"] == len(TRAIN) and ft["calibration_holdout"] == 0


def test_no_refit_writes_the_plain_fine_tuned_folder(tiny_bert: Path, tmp_path: Path) -> None:
    path = train_model(train=TRAIN, out=tmp_path / "plain", encoder=f"hf:{tiny_bert}", refit_head=False, **FIT)
    assert read_config(path)["method"] == "finetune" and not (path / "finetune").exists()


def test_pruning_a_refitted_model_points_to_the_fine_tune(refitted: Path, tmp_path: Path) -> None:
    from babelcart.export import ExportError, export_model

    with pytest.raises(ExportError, match="prune .*finetune"):
        export_model(refitted, tmp_path / "onnx", prune=0.25)


def test_onnx_export_predicts_what_the_folder_predicts(refitted: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from babelcart.export import export_model

    out = export_model(refitted, tmp_path / "onnx", int8=True)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["encoder"]["format"] == "onnx" and not (out / "finetune").exists()
    assert cfg["export"]["validation"]["fp32"]["pred_agreement"] == 1.0 and "int8" in cfg["export"]["validation"]
    langs = [r["lang"] for r in DEV]
    want = load_model(refitted).predict(TEXTS, langs)
    fp32 = load_model(out, encoder=bundled_encoder(out, cfg, precision="fp32")).predict(TEXTS, langs)
    assert [p["pred"] for p in fp32] == [p["pred"] for p in want]
    for a, b in zip(fp32, want, strict=True):
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-3)
    default = load_model(out)  # the precision the export chose, from its own gate
    assert vectors_id(default.encoder).endswith("#" + cfg["encoder"]["precision"])
    assert cfg["encoder"]["precision"] == _default_precision(cfg["export"]["validation"])


def test_int8_serves_by_default_only_when_it_passes_its_gate() -> None:
    good = {"pred_agreement": 1.0, "max_score_diff_alone_vs_batch": 1e-6}
    assert _default_precision({"fp32": good, "int8": good}) == "int8"
    assert _default_precision({"fp32": good, "int8": {**good, "pred_agreement": 0.9}}) == "fp32"
    assert _default_precision({"fp32": good, "int8": {**good, "max_score_diff_alone_vs_batch": 0.9}}) == "fp32"
    assert _default_precision({"fp32": good}) == "fp32" and _default_precision({"int8": good}) == "int8"
