"""``--method auto`` with the [train] extra: fine-tuning is one of the candidates (tiny BERT built in code)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).parent))
from toy_data import rating_records, toy_records  # noqa: E402

from babelcart.learn import auto
from babelcart.learn.train import train_model
from babelcart.models import load_model

pytestmark = pytest.mark.torch


def test_auto_tries_finetuning_and_records_the_choice(tiny_bert: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auto, "MIN_FINETUNE_ROWS", 20)
    train = [{**r, "lang": "en"} for r in rating_records(60, seed=3)]
    path = train_model(train=train, out=tmp_path / "m", task="rating", encoder=f"hf:{tiny_bert}", method="auto",
                       epochs=2, lr=2e-3, batch_size=10, max_length=32, time_budget=300)
    cfg = json.loads((path / "config.json").read_text())
    cands = cfg["auto"]["candidates"]
    assert cands["finetune"]["kind"] == "finetune" and "score" in cands["finetune"]
    assert {"head", "head, no alignment", "head, logreg"} <= set(cands)
    ens = next(c for n, c in cands.items() if n.startswith("finetune + frozen head"))
    assert ens["kind"] == "ensemble" and "score" in ens
    best = min(c["score"] for c in cands.values() if "score" in c)
    assert cands[cfg["auto"]["chosen"]]["score"] <= best + 1.0  # a tie within noise may go to a cheaper recipe
    assert cfg["method"] == cands[cfg["auto"]["chosen"]]["kind"]


@pytest.mark.parametrize("winner", ["finetune", "ensemble"])
def test_auto_writes_a_finetuned_or_ensemble_winner(tiny_bert: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, winner: str) -> None:
    monkeypatch.setattr(auto, "MIN_FINETUNE_ROWS", 20)
    real = auto._better
    monkeypatch.setattr(auto, "_better", lambda new, best, task, n_se=1.0, *, on="source": new.kind == winner or (
        best.kind != winner and real(new, best, task, n_se, on=on)))
    train = [{**r, "lang": "en"} for r in rating_records(60, seed=5)]
    path = train_model(train=train, out=tmp_path / winner, task="rating", encoder=f"hf:{tiny_bert}", method="auto",
                       epochs=1, lr=2e-3, batch_size=10, max_length=32, time_budget=300)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["method"] == winner and cfg["auto"]["candidates"][cfg["auto"]["chosen"]]["kind"] == winner
    if winner == "ensemble":
        assert sorted(cfg["members"]) == ["finetune", "head"]
    preds = load_model(path).predict(["good good good good", "bad bad bad bad"], langs=["en", "en"])
    assert all(p["pred"] in [1, 2, 3, 4, 5] and "expected" in p for p in preds)


def test_small_data_does_not_finetune(tiny_bert: Path, tmp_path: Path) -> None:
    train = [{**r, "lang": "en"} for r in rating_records(40, seed=4)]
    path = train_model(train=train, out=tmp_path / "s", task="rating", encoder=f"hf:{tiny_bert}", method="auto")
    cfg = json.loads((path / "config.json").read_text())
    assert "finetune" not in cfg["auto"]["candidates"] and "labelled rows" in cfg["auto"]["reason"]


def test_a_rating_tie_goes_to_the_fine_tune(tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Held-out source rows cannot show transfer: for ratings the transfer prior names the fine-tune."""
    monkeypatch.setattr(auto, "MIN_FINETUNE_ROWS", 20)
    monkeypatch.setattr(auto, "_better", lambda new, best, task, n_se=1.0, *, on="source": False)  # all noise
    train = [{**r, "lang": "en"} for r in rating_records(60, seed=6)]
    path = train_model(train=train, out=tmp_path / "tie", task="rating", encoder=f"hf:{tiny_bert}", method="auto",
                       epochs=1, lr=2e-3, batch_size=10, max_length=32, time_budget=300)
    cfg = json.loads((path / "config.json").read_text())
    report = cfg["auto"]
    assert report["chosen"] == "finetune" and "transfer prior (rating: the finetuned recipes" in report["reason"]
    assert report["evidence"] == {"kind": "none"}
    # the budget held another run: the saved fine-tune saw every label, the held-out fifth included
    assert report["refit"] == "trained again on all labels" and cfg["train"]["n_train"] == len(train)


def test_classify_fine_tunes_only_with_target_evidence(tiny_bert: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Without target-language evidence a fine-tune could not overturn the frozen prior, so it is not trained."""
    monkeypatch.setattr(auto, "MIN_FINETUNE_ROWS", 20)
    monkeypatch.setattr(auto, "MIN_EVIDENCE_ROWS", 4)
    rows = [{**r, "lang": "en"} for r in toy_records(70, seed=7)]
    common = {"task": "classify", "encoder": f"hf:{tiny_bert}", "method": "auto", "epochs": 1, "lr": 2e-3,
              "batch_size": 10, "max_length": 32, "time_budget": 300}
    path = train_model(train=rows[:60], out=tmp_path / "prior", **common)
    report = json.loads((path / "config.json").read_text())["auto"]
    assert "finetune" not in report["candidates"] and "could not overturn the transfer prior" in report["reason"]
    target = [{**r, "lang": "xx"} for r in rows[60:]]
    path = train_model(train=rows[:60], out=tmp_path / "evidence", target=target, **common)
    report = json.loads((path / "config.json").read_text())["auto"]
    assert report["evidence"]["kind"] == "target labels" and report["evidence"]["n"] == 5
    assert "evidence_score" in report["candidates"]["finetune"]


def test_a_fine_tune_is_kept_as_scored_when_the_budget_is_spent(tmp_path: Path) -> None:
    scored = auto.Outcome("finetune", "finetune", score=0.5, seconds=100.0, path=tmp_path / "scored")
    path, how = auto._final_finetune(None, scored, [], tmp_path, deadline=time.monotonic() + 10)
    assert path == tmp_path / "scored" and how.startswith("kept as trained without the held-out labels")
