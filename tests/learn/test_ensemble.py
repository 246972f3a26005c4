"""Ensemble folders: members' probabilities averaged, decoded like any model (median for ratings)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lookup_encoder import LookupEncoder

from babelcart.learn.train import train_model
from babelcart.models import load_model
from babelcart.models.ensemble import save_ensemble
from babelcart.models.folder import ModelLoadError
from babelcart.models.ordinal import median_decode


def test_ensemble_averages_members_and_decodes_the_median(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(1, 6, size=200)
    X = rng.normal(size=(200, 5)) * 0.7
    X[:, 0] += y
    enc = LookupEncoder(X, spec="lookup:ens")
    train = [{"text": f"v{i} r", "rating": int(y[i]), "lang": "en"} for i in range(150)]
    a = train_model(train=train, out=tmp_path / "a", task="rating", label_field="rating", encoder=enc, method="head")
    b = train_model(train=train, out=tmp_path / "b", task="rating", label_field="rating", encoder=enc, method="head",
                    head="logreg")
    path = save_ensemble(tmp_path / "ens", {"head": a, "other": b})
    assert json.loads((path / "config.json").read_text())["method"] == "ensemble"
    texts = [f"v{i} r" for i in range(150, 200)]
    ens = load_model(path, encoder=enc)
    got = ens.predict(texts, ["en"] * len(texts))
    pa = load_model(a, encoder=enc).predict(texts, ["en"] * len(texts))
    pb = load_model(b, encoder=enc).predict(texts, ["en"] * len(texts))
    P = np.array([[(x["scores"][k] + z["scores"][k]) / 2 for k in "12345"] for x, z in zip(pa, pb, strict=True)])
    np.testing.assert_allclose([[g["scores"][k] for k in "12345"] for g in got], P, atol=1e-5)
    assert [g["pred"] for g in got] == (median_decode(P) + 1).tolist()
    assert [g["expected"] for g in got] == pytest.approx((P @ np.arange(1, 6)).tolist(), abs=1e-3)
    assert all(g["lang"] == "en" for g in got)
    recs = ens.predict_records([{"text": texts[0]}, {"text": ""}])
    assert "pred" in recs[0] and "error" in recs[1]


def test_ensemble_members_must_agree_and_exist(tmp_path: Path) -> None:
    enc = LookupEncoder(np.eye(4), spec="lookup:ens")
    rows = [{"text": f"v{i % 4} t", "label": "ab"[i % 2], "rating": 1 + i % 2 * 4, "lang": "en"} for i in range(20)]
    a = train_model(train=rows, out=tmp_path / "a", task="classify", encoder=enc, method="head")
    b = train_model(train=rows, out=tmp_path / "b", task="rating", label_field="rating", encoder=enc, method="head")
    with pytest.raises(ValueError, match="share the task"):
        save_ensemble(tmp_path / "bad", {"a": a, "b": b})
    with pytest.raises(ValueError, match="two"):
        save_ensemble(tmp_path / "one", {"a": a})
    path = save_ensemble(tmp_path / "ok", {"a": a, "a2": a})
    import shutil

    shutil.rmtree(path / "members" / "a2")
    with pytest.raises(ModelLoadError, match="missing"):
        load_model(path, encoder=enc)
