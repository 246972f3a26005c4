"""Search doubt: features, the calibrated relevance / ``no_good_match``, and where they surface (library, CLI,
service)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from babelcart.apps.search import SearchIndex
from babelcart.apps.search.doubt import FEATURES, DoubtModel, Hits, default_doubt_model, doubt_features
from babelcart.cli import app

runner = CliRunner()


def test_features_are_relative_to_the_list() -> None:
    scores = np.array([0.90, 0.80, 0.79, 0.78, 0.77, 0.76])
    f = doubt_features(scores, 0.90, 0.5)
    assert f is not None and set(f) == set(FEATURES)
    shifted = doubt_features(scores - 0.3, 0.60, 0.5)  # another encoder's cosine band: same features
    assert shifted == pytest.approx(f)
    assert f["top_z"] > 1.5 and f["margin_z"] > 1.0 and f["coverage"] == 0.5
    flat = doubt_features(np.full(6, 0.8) + np.arange(6)[::-1] * 1e-3, 0.805, 0.0)
    assert flat is not None and flat["margin_z"] < f["margin_z"]
    assert doubt_features(scores[:3], 0.9, 1.0) is None  # too short a list to have a spread


def test_model_round_trip_and_threshold() -> None:
    model = DoubtModel(weights={"hybrid": (1.0, 1.0, 2.0)}, bias={"hybrid": -4.0}, threshold=0.5, fitted_on={})
    assert DoubtModel.from_dict(model.as_dict()) == model
    strong = {"top_z": 4.0, "margin_z": 2.0, "coverage": 1.0}
    weak = {"top_z": 1.0, "margin_z": 0.0, "coverage": 0.0}
    assert model.relevance(strong, "hybrid") > 0.5 > model.relevance(weak, "hybrid")  # type: ignore[operator]
    assert model.relevance(strong, "bm25") is None and model.relevance(None, "hybrid") is None
    hits = model.judge(Hits([{"id": "a"}]), weak, "hybrid")
    assert hits.no_good_match is True and hits == [{"id": "a"}]
    with pytest.raises(ValueError, match="features"):
        DoubtModel.from_dict({**model.as_dict(), "features": ["x"]})


def test_shipped_calibration_names_its_encoder_build() -> None:
    model = default_doubt_model()
    assert {"hybrid", "dense"} <= set(model.weights)
    assert model.fitted_on["encoder"] and model.fitted_on["benchmark"] == "benchmarks/search_doubt.py"
    # more evidence never lowers the probability that the top hit is relevant
    assert all(w > 0 for ws in model.weights.values() for w in ws)


def _catalog(n: int = 30) -> list[dict]:
    words = ["red", "blue", "green", "shoe", "bag", "lamp", "cup", "shirt", "hat", "sock"]
    return [{"id": f"p{i}", "title": f"{words[i % 10]} {words[(i * 3 + 1) % 10]} item{i}", "lang": "en"}
            for i in range(n)]


TITLE12 = _catalog()[12]["title"]


def test_index_results_carry_doubt(hash_encoder) -> None:
    index = SearchIndex.build(_catalog(), encoder=hash_encoder)
    index.doubt_model = DoubtModel(weights={"hybrid": (1.0, 1.0, 3.0), "dense": (1.0, 1.0, 0.0)},
                                   bias={"hybrid": -4.0, "dense": -4.0}, threshold=0.5, fitted_on={})
    exact = index.search(TITLE12, k=3)
    assert isinstance(exact, Hits) and exact[0]["id"] == "p12"
    assert exact.doubt is not None and exact.doubt["coverage"] == pytest.approx(1.0)
    assert exact.relevance is not None and exact.no_good_match is False
    unrelated = index.search("zapatillas running", k=3)
    assert unrelated.relevance is not None and unrelated.relevance < exact.relevance
    assert unrelated.no_good_match is True
    assert index.search(TITLE12, k=3, mode="bm25").relevance is None  # no dense list, no relevance
    assert index.search("!!!", k=3).relevance is None


def test_cli_prints_relevance_and_no_good_match(tmp_path: Path) -> None:
    cat = tmp_path / "c.jsonl"
    cat.write_text("".join(json.dumps(p) + "\n" for p in _catalog()), encoding="utf-8")
    res = runner.invoke(app, ["index", "build", "-c", str(cat), "-o", str(tmp_path / "i"), "-e", "hash:64", "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["search", str(tmp_path / "i"), TITLE12, "-k", "2", "--explain"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert isinstance(out["relevance"], float) and isinstance(out["no_good_match"], bool)
    assert set(out["doubt"]) == set(FEATURES)


def test_service_response_has_the_doubt_fields() -> None:
    from babelcart.serve.schemas import SearchOut

    fields = SearchOut.model_json_schema()["properties"]
    assert {"relevance", "no_good_match"} <= set(fields)


@pytest.mark.slow
def test_bundled_catalog_flags_shoes_it_does_not_sell(tmp_path: Path, e5) -> None:
    """The README tour's query over the bundled demo catalog (no shoes) is flagged; an exact title is not."""
    text = (resources.files("babelcart.datasets") / "demo" / "products.jsonl").read_text(encoding="utf-8")
    products = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert not any("shoe" in p["title"].lower() or "sepatu" in p["title"].lower() for p in products)
    index = SearchIndex.build(products, encoder=e5)
    shoes = index.search("zapatillas running")
    assert shoes.no_good_match is True
    exact = index.search("Sanken Rice Cooker")
    assert "Rice Cooker" in exact[0]["title"] and exact.no_good_match is False
    assert exact.relevance > shoes.relevance  # type: ignore[operator]
