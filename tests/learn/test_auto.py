"""``--method auto`` on synthetic vectors: held-out choice, the record in config.json, the core-only path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from lookup_encoder import LookupEncoder

from babelcart.learn.auto import SMALL_DATA_ROWS, candidates, finetune_available, split_holdout
from babelcart.learn.train import (
    SMALL_DATA_EPOCHS,
    TrainConfig,
    TrainDataError,
    finetune_epochs,
    train_model,
    use_linear_probe,
    use_refit_head,
)


def _shifted(seed: int = 0, shift: float = 3.0):
    """Source ``en`` and a target ``xx`` whose vectors are the source's shifted along the class axis: a head
    without per-language centering gets ``xx`` wrong, with centering right."""
    rng = np.random.default_rng(seed)
    n_src, n_tgt = 200, 300
    y = rng.integers(0, 2, size=n_src + n_tgt)
    X = rng.normal(size=(n_src + n_tgt, 6)) * 0.5
    X[:, 0] += np.where(y == 1, 1.5, -1.5)
    X[n_src:, 0] += shift
    langs = ["en"] * n_src + ["xx"] * n_tgt
    recs = [{"text": f"v{i} t", "label": ["neg", "pos"][y[i]], "lang": langs[i]} for i in range(len(y))]
    return LookupEncoder(X, spec="lookup:auto"), recs[:n_src], recs[n_src:]


def test_auto_keeps_the_recipe_that_wins_on_held_out_target_labels(tmp_path: Path, caplog) -> None:
    enc, src, tgt = _shifted()
    unl = [{"text": r["text"], "lang": "xx"} for r in tgt[:200]]
    with caplog.at_level("INFO", logger="babelcart.learn.auto"):
        path = train_model(train=src, out=tmp_path / "m", task="classify", encoder=enc, method="auto",
                           unlabeled=[unl], target=tgt[200:240], time_budget=300)
    cfg = json.loads((path / "config.json").read_text())
    auto = cfg["auto"]
    cands = auto["candidates"]
    assert set(cands) >= {"head", "head, no alignment", "head + self-training"}
    assert cands["head, no alignment"]["per_language"]["xx"] < cands["head"]["per_language"]["xx"] - 0.2
    assert auto["chosen"] != "head, no alignment"
    assert auto["held_out"]["languages"]["xx"] == 20 and auto["held_out"]["languages"]["en"] == 40
    assert auto["chosen"] in auto["reason"] or "best held-out mean accuracy" in auto["reason"]
    second = max((k for k, c in cands.items() if k != auto["chosen"] and c.get("score") is not None),
                 key=lambda k: cands[k]["score"])
    assert f"next {second} {cands[second]['score']:.4f}" in auto["reason"]  # the runner-up and its own score
    assert cfg["method"] == "head" and cfg["training_data"]["n"] == len(src) + 20  # refitted on all labels
    assert "Recipe chosen by `--method auto`" in (path / "README.md").read_text()
    assert any("auto chose" in r.getMessage() for r in caplog.records)


def test_core_install_picks_among_frozen_recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails, as without the [train] extra
    assert not finetune_available()
    enc, src, _ = _shifted()
    path = train_model(train=src, out=tmp_path / "core", task="classify", encoder=enc, method="auto")
    auto = json.loads((path / "config.json").read_text())["auto"]
    assert all(c["kind"] == "head" for c in auto["candidates"].values())
    assert "torch/transformers not installed" in auto["reason"]


def test_candidates_follow_extras_and_data() -> None:
    from babelcart.learn.train import HeadConfig

    cfg = TrainConfig(train=[], out="x", heads=[HeadConfig(task="rating", label_field="rating")])
    names = [c.name for c in candidates(cfg, has_unlabeled=False, finetune_ok=False)]
    assert names == ["head", "head, no alignment", "head, logreg"]
    with_all = candidates(cfg, has_unlabeled=True, finetune_ok=True)
    assert [c.kind for c in with_all][-1] == "finetune" and "head + self-training" in [c.name for c in with_all]


def test_finetune_probes_the_head_first_on_small_sets_unless_told() -> None:
    """Below the rows auto needs to fine-tune, ``--method finetune`` fits the head first; a flag always wins."""
    assert use_linear_probe(None, SMALL_DATA_ROWS - 1) is True
    assert use_linear_probe(None, SMALL_DATA_ROWS) is False
    assert use_linear_probe(False, 10) is False and use_linear_probe(True, 10_000) is True


def test_finetune_small_data_defaults_unless_told() -> None:
    """Below the same threshold fine-tuning runs more epochs; classification refits the frozen head, ratings not."""
    assert finetune_epochs(None, SMALL_DATA_ROWS - 1) == SMALL_DATA_EPOCHS > finetune_epochs(None, SMALL_DATA_ROWS)
    assert finetune_epochs(2, 10) == 2
    assert use_refit_head(None, "classify") and not use_refit_head(None, "rating")
    assert use_refit_head(True, "rating") and not use_refit_head(False, "classify")


def test_time_budget_runs_the_cheapest_recipe_only(tmp_path: Path) -> None:
    enc, src, _ = _shifted()
    path = train_model(train=src, out=tmp_path / "fast", task="classify", encoder=enc, method="auto",
                       time_budget=1e-6)
    cands = json.loads((path / "config.json").read_text())["auto"]["candidates"]
    assert "score" in cands["head"]
    assert all(c.get("skipped") == "time budget spent" for n, c in cands.items() if n != "head")


def test_holdout_is_stratified_and_source_only() -> None:
    recs = [{"label": c, "text": "t"} for c in ["a"] * 50 + ["b"] * 10] + [{"label": "a", "text": "t"}] * 5
    langs = ["en"] * 60 + ["xx"] * 5
    train, held = split_holdout(recs, "label", langs, "en", seed=0)
    assert sorted(train + held) == list(range(65))
    assert [recs[i]["label"] for i in held].count("a") == 10 and [recs[i]["label"] for i in held].count("b") == 2
    assert all(langs[i] == "en" for i in held)


def test_too_few_labels_to_hold_out_is_a_clear_error(tmp_path: Path) -> None:
    enc, src, _ = _shifted()
    with pytest.raises(TrainDataError, match="hold out"):
        train_model(train=src[:8], out=tmp_path / "tiny", task="classify", encoder=enc, method="auto")
