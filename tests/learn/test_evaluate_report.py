"""``evaluate``: small language rows folded, the gap taken against the model's real source language, the shop
profile honoured."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from babelcart.apps.evaluation import evaluate_classifier
from babelcart.cli import app
from babelcart.datasets.records import write_records
from babelcart.learn.metrics import format_report, per_language_report
from babelcart.learn.train import train_model
from babelcart.models import load_model

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("no_shop_profile")


def test_small_rows_are_folded_and_the_largest_is_kept() -> None:
    langs = ["id"] * 30 + ["en"] * 5 + ["ms"] * 3
    truth = ["a"] * 38
    pred = ["a"] * 30 + ["b"] * 5 + ["a"] * 3
    rep = per_language_report(truth, pred, langs, task="classify", min_n=20)
    assert list(rep["languages"]) == ["id"]
    assert rep["folded"] == {"en": 5, "ms": 3}
    assert rep["other"]["n"] == 8 and rep["other"]["accuracy"] == pytest.approx(3 / 8)
    assert rep["all"]["n"] == 38
    assert "folded" in format_report(rep, task="classify")
    # one small language alone is still reported (it is the whole file)
    alone = per_language_report(["a"] * 4, ["a"] * 4, ["de"] * 4, task="classify", min_n=20)
    assert list(alone["languages"]) == ["de"] and "folded" not in alone


def test_gap_uses_these_data_when_the_source_row_is_big_enough_else_the_reference() -> None:
    langs = ["en"] * 20 + ["id"] * 25
    truth = ["a"] * 45
    pred = ["a"] * 20 + ["a"] * 10 + ["b"] * 15
    reference = {"row": {"n": 100, "accuracy": 0.9, "macro_f1": 0.9}, "from": "dev"}
    rep = per_language_report(truth, pred, langs, task="classify", source_lang="en", min_n=20,
                              source_reference=reference)
    assert rep["gap_reference"]["from"] == "these data"
    assert set(rep["gap"]) == {"id"} and rep["gap"]["id"]["accuracy"] == pytest.approx(1.0 - 0.4)
    small = per_language_report(truth, pred, langs, task="classify", source_lang="en", min_n=21,
                                source_reference=reference)
    assert small["gap_reference"] == {"lang": "en", "from": "dev", "n": 100}
    assert small["folded"] == {"en": 20}
    assert small["gap"]["id"]["accuracy"] == pytest.approx(0.9 - 0.4)


def test_evaluate_gap_against_the_models_dev_source_metrics(tmp_path: Path, hash_encoder) -> None:
    def recs(n: int, lang: str, offset: int = 0) -> list[dict]:
        return [{"text": f"{'good nice' if i % 2 else 'bad poor'} {i + offset}", "label": "pos" if i % 2 else "neg",
                 "lang": lang} for i in range(n)]

    path = train_model(train=recs(40, "en"), dev=recs(30, "en", 100), out=tmp_path / "m", encoder=hash_encoder, method="head")
    clf = load_model(path, encoder=hash_encoder)
    # a few misdetected lines labelled as the source language must not become the gap's reference
    data = recs(30, "xx", 200) + [{"text": "good nice 999", "label": "neg", "lang": "en"}] * 3
    rep = evaluate_classifier(clf, data)  # type: ignore[arg-type]
    assert rep["folded"] == {"en": 3}
    assert rep["gap_reference"]["from"] == "the model's dev data" and rep["gap_reference"]["n"] == 30
    dev = json.loads((path / "metrics.json").read_text())["heads"]["label"]["dev"]["languages"]["en"]
    assert rep["gap"]["xx"]["accuracy"] == pytest.approx(dev["accuracy"] - rep["languages"]["xx"]["accuracy"])


def test_cli_evaluate_on_the_bundled_indonesian_reviews_honours_the_shop_profile(tmp_path: Path) -> None:
    text = (resources.files("babelcart.datasets") / "demo" / "reviews.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    en = [{"text": r["text"], "rating": r["rating"], "lang": "en"} for r in rows if r["source"] == "womens_clothing"]
    ind = [{"text": r["text"], "rating": r["rating"]} for r in rows if r["source"] == "prdect_id"]
    write_records(en, tmp_path / "en.jsonl")
    write_records(ind, tmp_path / "id.jsonl")
    model = tmp_path / "m"
    res = runner.invoke(app, ["train", "--task", "rating", "--label-field", "rating", "--train",
                              str(tmp_path / "en.jsonl"), "--encoder", "hash:256", "--out", str(model), "--quiet"])
    assert res.exit_code == 0, res.output
    reports = {}
    for name, opts in (("plain", []), ("shop", ["--shop", "demo"])):
        out = tmp_path / f"{name}.json"
        res = runner.invoke(app, [*opts, "evaluate", str(model), str(tmp_path / "id.jsonl"), "--json", str(out)])
        assert res.exit_code == 0, res.output
        assert "source-language (en)" in res.output
        reports[name] = json.loads(out.read_text())
    plain, shop = reports["plain"], reports["shop"]
    # without a profile some Indonesian lines read as en/ms: folded, never the source row or a row of their own
    assert set(plain["languages"]) == {"id"} and plain["folded"], plain
    assert plain["gap_reference"]["from"].startswith("the model's training data")
    # the demo shop serves id, not ms: every line is Indonesian
    assert shop["languages"] == {"id": shop["all"]} and "folded" not in shop
    assert shop["languages"]["id"]["n"] == len(ind)


def test_calibration_error_is_the_gap_between_confidence_and_accuracy() -> None:
    from babelcart.learn.metrics import expected_calibration_error

    assert expected_calibration_error([0.8] * 10, [True] * 8 + [False] * 2) == pytest.approx(0.0)
    assert expected_calibration_error([0.99] * 10, [True] * 8 + [False] * 2) == pytest.approx(0.19)
    # two bins: 0.9-confident and right 9 in 10; 0.6-confident and right 3 in 10 -> (0 * 10 + 0.3 * 10) / 20
    assert expected_calibration_error([0.9] * 10 + [0.6] * 10,
                                      [True] * 9 + [False] + [True] * 3 + [False] * 7) == pytest.approx(0.15)


def test_evaluate_reports_calibration_error_per_language(tmp_path: Path, hash_encoder) -> None:
    recs = [{"text": f"{'good nice' if i % 2 else 'bad poor'} {i}", "label": "pos" if i % 2 else "neg",
             "lang": "en" if i < 40 else "xx"} for i in range(70)]
    path = train_model(train=recs[:40], out=tmp_path / "m", encoder=hash_encoder, method="head")
    rep = evaluate_classifier(load_model(path, encoder=hash_encoder), recs[40:] + recs[:30])  # type: ignore[arg-type]
    for row in [*rep["languages"].values(), rep["all"]]:
        assert 0.0 <= row["ece"] <= 1.0 and 0.0 <= row["confidence"] <= 1.0
    # binned error is never below the gap of the averages (the triangle inequality over the bins)
    assert rep["all"]["ece"] >= abs(rep["all"]["accuracy"] - rep["all"]["confidence"]) - 1e-9
    table = format_report(rep, task="classify")
    assert "ece" in table.splitlines()[0] and "expected calibration error" in table
