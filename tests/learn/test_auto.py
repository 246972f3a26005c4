"""``--method auto`` on synthetic vectors: held-out choice, the record in config.json, the core-only path."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from lookup_encoder import LookupEncoder

from babelcart.learn import auto as auto_mod
from babelcart.learn.auto import (
    Evidence,
    Outcome,
    candidates,
    choose,
    finetune_available,
)
from babelcart.learn.config import (
    SMALL_DATA_EPOCHS,
    SMALL_DATA_ROWS,
    TrainConfig,
    finetune_epochs,
    use_linear_probe,
    use_refit_head,
)
from babelcart.learn.data import TrainDataError
from babelcart.learn.train import train_model
from babelcart.text.languages import split_lang_tag


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


def test_auto_judges_transfer_on_held_out_target_labels(tmp_path: Path, caplog) -> None:
    enc, src, tgt = _shifted()
    unl = [{"text": r["text"], "lang": "xx"} for r in tgt[:200]]
    with caplog.at_level("INFO", logger="babelcart.learn.auto"):
        path = train_model(train=src, out=tmp_path / "m", task="classify", encoder=enc, method="auto",
                           unlabeled=[unl], target=tgt[200:240], time_budget=300)
    cfg = json.loads((path / "config.json").read_text())
    auto = cfg["auto"]
    cands = auto["candidates"]
    assert set(cands) >= {"head", "head, no alignment", "head + self-training"}
    # the target rows are the evidence, the source rows a sanity check: each is scored on its own
    assert auto["evidence"] == {"kind": "target labels", "n": 20, "languages": {"xx": 20}}
    assert set(cands["head"]["per_language"]) == {"en"} and set(cands["head"]["evidence_per_language"]) == {"xx"}
    assert cands["head, no alignment"]["evidence_score"] < cands["head"]["evidence_score"] - 0.2
    assert auto["chosen"] != "head, no alignment"
    assert auto["held_out"]["languages"] == {"en": 40}
    assert "20 held-out target labels in 1 target language(s)" in auto["reason"]
    assert "Source-language check on 40 held-out labels" in auto["reason"]
    assert cfg["method"] == "head" and cfg["training_data"]["n"] == len(src) + 40  # refitted on all labels
    card = (path / "README.md").read_text()
    assert "Recipe chosen by `--method auto`" in card and "target labels (20 rows)" in card
    assert any("auto chose" in r.getMessage() for r in caplog.records)


def _outcome(name: str, kind: str, src_err: list[float], ev_err: list[float] | None = None,
             task: str = "classify") -> Outcome:
    """An outcome with per-row losses on the source rows and on the evidence (0/1 for classify)."""
    o = Outcome(name, kind, lower_is_better=task == "rating", errors=np.array(src_err, dtype=float))
    o.score, o.per_lang = auto_mod._score(o.errors, ["en"] * len(src_err), task)
    if ev_err is not None:
        o.ev_errors = np.array(ev_err, dtype=float)
        o.ev_score, o.ev_per_lang = auto_mod._score(o.ev_errors, ["xx"] * len(ev_err), task)
    return o


def _evidence(n: int) -> Evidence:
    return Evidence("target labels", ["t"] * n, ["xx"] * n, ["xx"] * n)


def test_without_target_evidence_the_transfer_prior_decides() -> None:
    """Saturated source rows (the fine-tune one sentence ahead of the head on 99) cannot overturn the prior."""
    head = _outcome("head", "head", [0.0] * 98 + [1.0])
    ft = _outcome("finetune", "finetune", [0.0] * 99)
    pick, why = choose([head, ft], "classify", None)
    assert auto_mod.TRANSFER_PRIOR["classify"] == "frozen"
    assert pick is head and "no target-language labels" in why and "transfer prior" in why
    # ratings: the prior names the fine-tuned recipes, and the source rows still pick within that family
    rating = [_outcome("head", "head", [0.0] * 20 + [1.0] * 20, task="rating"),  # best at home, within 2 SE
              _outcome("finetune", "finetune", [0.0] * 18 + [1.0] * 22, task="rating"),
              _outcome("finetune + frozen head (head)", "ensemble", [0.0] * 21 + [1.0] * 19, task="rating")]
    pick, why = choose(rating, "rating", None)
    assert pick.name == "finetune + frozen head (head)" and "finetuned recipes" in why


def test_target_evidence_overturns_the_prior_only_by_more_than_noise() -> None:
    src = [0.0] * 40
    head = _outcome("head", "head", src, [1.0] * 10 + [0.0] * 20)
    ft = _outcome("finetune", "finetune", src, [0.0] * 30)
    pick, why = choose([head, ft], "classify", _evidence(30))
    assert pick is ft and why.startswith("decided on 30 held-out target labels")
    close = _outcome("finetune", "finetune", src, [1.0] * 9 + [0.0] * 21)  # one row better: noise
    pick, why = choose([head, close], "classify", _evidence(30))
    assert pick is head and "did not separate it from finetune" in why
    few = _outcome("finetune", "finetune", src, [0.0] * 10)
    head_few = _outcome("head", "head", src, [1.0] * 5 + [0.0] * 5)
    pick, why = choose([head_few, few], "classify", _evidence(10))
    assert pick is head_few and f"(< {auto_mod.MIN_EVIDENCE_ROWS})" in why


def test_a_recipe_that_fails_the_source_check_is_never_chosen() -> None:
    head = _outcome("head", "head", [0.0] * 40, [1.0] * 15 + [0.0] * 15)
    broken = _outcome("finetune", "finetune", [1.0] * 20 + [0.0] * 20, [0.0] * 30)  # best on target, half wrong at home
    pick, _ = choose([head, broken], "classify", _evidence(30))
    assert pick is head


def test_parallel_pairs_are_held_out_as_evidence(tmp_path: Path) -> None:
    """A share of each --parallel file is held out (the rest trains), and a recipe that transfers gives both sides
    of a held-out pair the same answer."""
    cfg = TrainConfig(train=[], out="x", parallel=[[(f"a{i}", f"b{i}") for i in range(100)],
                                                     [(f"c{i}", f"d{i}") for i in range(25)],
                                                     [(f"e{i}", f"f{i}") for i in range(15)]],
                      parallel_langs=[("xx", "en"), ("yy", "en"), ("zz", "en")])
    ev, train, langs = auto_mod._pair_evidence(cfg, "en")
    assert ev is not None and ev.kind == "parallel pairs"
    assert Counter(ev.row_langs) == {"xx": 30, "yy": 5}  # 15 pairs cannot spare any beside the 20 training needs
    assert [len(p) for p in train] == [70, 20, 15] and langs == [("xx", "en"), ("yy", "en"), ("zz", "en")]
    held_a = set(ev.texts[:ev.n])
    assert not held_a & {a for a, _ in train[0]}  # held-out pairs never train
    enc, src, tgt = _shifted()
    pairs = [(t["text"], s["text"]) for t, s in zip(tgt[:120], src[:120], strict=True)]
    path = train_model(train=src, out=tmp_path / "pairs", task="classify", encoder=enc, method="auto",
                       unlabeled=[[{"text": r["text"], "lang": "xx"} for r in tgt[120:]]], parallel=[pairs],
                       parallel_langs=["xx,en"])
    report = json.loads((path / "config.json").read_text())["auto"]
    assert report["evidence"] == {"kind": "parallel pairs", "n": 36, "languages": {"xx": 36}}
    assert all("evidence_score" in c for c in report["candidates"].values() if "score" in c)


def test_a_file_named_with_its_language_keeps_it(tmp_path: Path) -> None:
    """``--unlabeled sr=FILE``: the user's word beats detection, for centering and in the report."""
    enc, src, tgt = _shifted()
    unl = tmp_path / "unl.jsonl"
    unl.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in tgt[:50]))
    assert split_lang_tag(f"sr={unl}") == ("sr", str(unl)) and split_lang_tag(str(unl)) == (None, str(unl))
    path = train_model(train=src, out=tmp_path / "m", task="classify", encoder=enc, method="head",
                       unlabeled=[f"sr={unl}"])
    data = json.loads((path / "config.json").read_text())["training_data"]
    assert data["unlabeled_languages"] == {"sr": 50} and data["unlabeled"][0]["lang"] == "sr"
    with pytest.raises(TrainDataError, match="not found"):
        train_model(train=src, out=tmp_path / "x", task="classify", encoder=enc, unlabeled=[f"sr={unl}.missing"], method="head")


def test_core_install_picks_among_frozen_recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails, as without the [train] extra
    assert not finetune_available()
    enc, src, _ = _shifted()
    path = train_model(train=src, out=tmp_path / "core", task="classify", encoder=enc, method="auto")
    auto = json.loads((path / "config.json").read_text())["auto"]
    assert all(c["kind"] == "head" for c in auto["candidates"].values())
    assert "torch/transformers not installed" in auto["reason"]


def test_candidates_follow_extras_and_data() -> None:
    from babelcart.learn.data import HeadConfig

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


def test_too_few_labels_to_hold_out_is_a_clear_error(tmp_path: Path) -> None:
    enc, src, _ = _shifted()
    with pytest.raises(TrainDataError, match="hold out"):
        train_model(train=src[:8], out=tmp_path / "tiny", task="classify", encoder=enc, method="auto")
