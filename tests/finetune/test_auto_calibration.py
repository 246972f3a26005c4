"""auto's cross-fitted temperature for a fine-tuned model it keeps: fitted on held-out probabilities, applied to the
saved head in one atomic rewrite; the predicted labels stay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.export.helpers_export import SENTENCES, build_finetuned  # noqa: E402

from babelcart.learn.auto import Outcome, _calibrate_finetune  # noqa: E402
from babelcart.models.finetuned import load_finetuned, rescale_finetuned_head  # noqa: E402


def _probs(folder: Path) -> np.ndarray:
    clf = load_finetuned(folder)
    return clf.predict_proba(SENTENCES)


def test_rescaling_flattens_the_probabilities_and_keeps_the_labels(tmp_path: Path) -> None:
    folder = build_finetuned(tmp_path / "ft")
    before = _probs(folder)
    encoder_weights = (folder / "encoder" / "model.safetensors").read_bytes()
    rescale_finetuned_head(folder, 4.0, on="a test")
    after = _probs(folder)
    assert (after.argmax(1) == before.argmax(1)).all()
    assert (after.max(1) < before.max(1)).all()  # softmax(z / 4) is flatter than softmax(z)
    np.testing.assert_allclose(after, np.exp(np.log(before) / 4) / np.exp(np.log(before) / 4).sum(1, keepdims=True),
                               atol=1e-5)
    cal = json.loads((folder / "config.json").read_text())["head"]["calibration"]
    assert cal == {"temperature": 4.0, "on": "a test"}
    assert "- calibration: temperature 4.000 fitted on a test" in (folder / "README.md").read_text()
    assert (folder / "encoder" / "model.safetensors").read_bytes() == encoder_weights


def test_auto_fits_the_temperature_on_the_held_out_rows_it_scored(tmp_path: Path) -> None:
    folder = build_finetuned(tmp_path / "ft")
    labels = json.loads((folder / "config.json").read_text())["labels"]
    rng = np.random.default_rng(0)
    n = 60
    y = rng.integers(0, len(labels), n)
    # an overconfident candidate: 0.98 on its answer, right only 60% of the time
    pred = np.where(rng.random(n) < 0.6, y, (y + 1) % len(labels))
    P = np.full((n, len(labels)), 0.01)
    P[np.arange(n), pred] = 0.98
    held = [{"text": "x", "label": labels[i], "lang": "en"} for i in y]
    ft = Outcome("finetune", "finetune", probs=P / P.sum(1, keepdims=True))
    note = _calibrate_finetune(ft, folder, held, None, labels, "label")
    t = json.loads((folder / "config.json").read_text())["head"]["calibration"]["temperature"]
    assert t > 1.5 and "calibrated on 60 held-out rows" in note
    few = build_finetuned(tmp_path / "few")
    assert _calibrate_finetune(Outcome("finetune", "finetune", probs=P[:5]), few, held[:5], None, labels, "label") == ""
