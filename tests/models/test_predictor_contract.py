"""The contract every predictor keeps (the scikit-learn ``check_estimator`` pattern), run on each kind of model
folder built in code: frozen heads, an ensemble, a fine-tuned model and its ONNX export.

- a text alone and in a batch gets the same answer;
- save (copy the folder) -> load -> the same predictions;
- every record comes back, in order; a bad one gets an ``error`` field, the others their prediction;
- the load instruction in the folder's model card (README.md) loads it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import babelcart
from babelcart.models.ensemble import save_ensemble

TEXTS = ["great product, fast shipping", "terrible quality, broke after a day", "good good great",
         "bad awful worst", "okay"]
ROWS = [{"text": f"{'great lovely perfect good' if i % 2 else 'awful broken bad worst'} thing {i}",
         "label": "pos" if i % 2 else "neg", "lang": "en"} for i in range(40)]
KINDS = ["head", "ensemble", "finetuned", "onnx"]


def _head(tmp: Path, name: str, **options: object) -> Path:
    return babelcart.train(ROWS, out=tmp / name, encoder="hash:64", method="head", **options)


def _finetuned(tmp: Path) -> Path:
    pytest.importorskip("torch")
    from tests.finetune.tiny_models import build_tiny_bert

    from babelcart.learn.finetune import train_finetune

    bert = build_tiny_bert(tmp / "bert")
    return train_finetune(ROWS, task="classify", labels=None, encoder_spec=f"hf:{bert}", out_dir=tmp / "ft",
                          epochs=1, batch_size=8, max_length=32)


@pytest.fixture(scope="module", params=KINDS)
def model_folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "head":
        return _head(tmp, "head")
    if request.param == "ensemble":
        return save_ensemble(tmp / "ens", {"a": _head(tmp, "a"), "b": _head(tmp, "b", align="none")})
    if request.param == "finetuned":
        return _finetuned(tmp)
    pytest.importorskip("onnxruntime")
    from babelcart.export import export_model

    return export_model(_finetuned(tmp), tmp / "onnx", int8=False)


def _same(a: list[dict], b: list[dict]) -> None:
    assert [r["pred"] for r in a] == [r["pred"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert ra["scores"].keys() == rb["scores"].keys()
        assert all(abs(ra["scores"][k] - rb["scores"][k]) < 1e-5 for k in ra["scores"])


def test_alone_and_in_a_batch_the_same(model_folder: Path) -> None:
    model = babelcart.load(model_folder)
    batch = model.predict(TEXTS, ["en"] * len(TEXTS))
    alone = [model.predict([t], ["en"])[0] for t in TEXTS]
    _same(batch, alone)
    assert set(batch[0]["scores"]) == {str(x) for x in model.labels}
    assert all(abs(sum(r["scores"].values()) - 1) < 1e-4 for r in batch)


def test_saved_and_loaded_again_the_same(model_folder: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(model_folder, tmp_path / "copy"))
    _same(babelcart.load(model_folder).predict(TEXTS, ["en"] * 5), babelcart.load(copy).predict(TEXTS, ["en"] * 5))


def test_every_record_back_in_order_bad_ones_marked(model_folder: Path) -> None:
    model = babelcart.load(model_folder)
    records = [{"text": TEXTS[0], "id": 1}, {"id": 2}, {"text": "   ", "id": 3}, {"text": {"nested": "x"}, "id": 4},
               {"text": TEXTS[1], "id": 5}, {"error": "bad JSON", "line": 6}]
    out = model.predict_records(records)
    assert [r.get("id") for r in out] == [1, 2, 3, 4, 5, None] and out[5]["line"] == 6
    assert [("error" in r) for r in out] == [False, True, True, True, False, True]
    assert "pred" in out[0] and "pred" in out[4] and not any("pred" in r for r in out[1:4])


def test_the_model_cards_load_instruction_loads(model_folder: Path) -> None:
    cards = [model_folder / "README.md", model_folder / "SOURCE_README.md"]
    card = next(c for c in cards if c.is_file()).read_text(encoding="utf-8")
    calls = re.findall(r"babelcart\.load\((?:'THIS_FOLDER'|path)\)", card)
    assert calls, "the model card names no babelcart.load(...) instruction"
    loaded = eval(calls[0].replace("'THIS_FOLDER'", "folder").replace("(path)", "(folder)"),  # noqa: S307
                  {"babelcart": babelcart, "folder": model_folder})
    assert loaded.predict([TEXTS[0]])[0]["pred"] in loaded.labels
