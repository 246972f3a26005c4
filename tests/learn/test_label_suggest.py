"""Active learning: uncertainty, the uncertainty-weighted k-center pick, ``label suggest`` and ``train --target``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from babelcart.cli import app
from babelcart.datasets.records import write_records
from babelcart.learn.active import cluster_pick, pick, uncertainty

runner = CliRunner()


def test_uncertainty_margin_and_rating_spread() -> None:
    P = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25]])
    u = uncertainty(P, "classify")
    np.testing.assert_allclose(u, [1 - 0.85, 1 - 0.05])
    sure, split = np.array([[0, 0, 0, 0, 1.0]]), np.array([[0.5, 0, 0, 0, 0.5]])
    assert uncertainty(sure, "rating")[0] == 0.0
    assert uncertainty(split, "rating")[0] == pytest.approx(0.5)  # half the mass 4 stars from the median


def test_cluster_pick_skips_near_duplicates() -> None:
    # three copies of one confusing text, and a second, slightly less uncertain, different text
    V = np.array([[1.0, 0.0], [1.0, 0.0], [0.999, 0.045], [0.0, 1.0]])
    u = np.array([0.9, 0.8, 0.7, 0.6])
    assert sorted(cluster_pick(V, u, 2)) == [0, 3]
    assert np.argsort(-u, kind="stable")[:2].tolist() == [0, 1]  # plain uncertainty wastes a label


def test_pick_is_per_language_and_random_is_seeded() -> None:
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(3), size=30)
    V = rng.normal(size=(30, 4))
    langs = ["de"] * 10 + ["ja"] * 20
    for strategy in ("uncertainty-diversity", "diversity", "uncertainty", "random"):
        idx, _ = pick(P, V, langs, 4, task="classify", strategy=strategy)
        assert [langs[i] for i in idx].count("de") == 4 and [langs[i] for i in idx].count("ja") == 4
        assert len(set(idx)) == 8
    assert pick(P, V, langs, 4, task="classify", strategy="random", seed=1)[0] == \
        pick(P, V, langs, 4, task="classify", strategy="random", seed=1)[0]
    with pytest.raises(ValueError, match="strategy"):
        pick(P, V, langs, 4, task="classify", strategy="nope")


def test_cli_suggest_then_train_with_target(tmp_path: Path) -> None:
    train = [{"text": f"{'great lovely perfect' if i % 2 else 'awful broken bad'} thing {i}",
              "label": "pos" if i % 2 else "neg", "lang": "en"} for i in range(40)]
    pool = [{"text": f"{w} cosa {i}", "lang": "es"} for i, w in enumerate(["genial", "horrible", "bueno", "malo"] * 5)]
    pool += [{"text": "ya etiquetado", "label": "pos", "lang": "es"}, {"error": "bad json", "line": 23}]
    paths = {k: tmp_path / f"{k}.jsonl" for k in ("train", "pool")}
    write_records(train, paths["train"])
    write_records(pool, paths["pool"])
    model = tmp_path / "m"
    res = runner.invoke(app, ["train", "--train", str(paths["train"]), "--encoder", "hash:256", "--method", "head",
                              "--out", str(model)])
    assert res.exit_code == 0, res.output
    todo = tmp_path / "todo.jsonl"
    res = runner.invoke(app, ["label", "suggest", str(model), str(paths["pool"]), "-n", "6", "-o", str(todo)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in todo.read_text().splitlines()]
    assert len(rows) == 6 and all(r["label"] == "" and r["lang"] == "es" and 0 <= r["uncertainty"] <= 1 for r in rows)
    assert len({r["text"] for r in rows}) == 6 and "ya etiquetado" not in {r["text"] for r in rows}
    assert "1 bad" in res.output and "1 already labelled" in res.output
    # a person fills in four of them; the other two stay empty and are skipped by train --target
    for r in rows[:4]:
        r["label"] = "pos" if any(w in r["text"] for w in ("genial", "bueno")) else "neg"
    write_records(rows, todo)
    out = tmp_path / "m2"
    res = runner.invoke(app, ["train", "--train", str(paths["train"]), "--encoder", "hash:256", "--method", "head",
                              "--target", str(todo), "--out", str(out)])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["training_data"]["n"] == 44 and sum(cfg["training_data"]["few_shot"]["es"].values()) == 4
