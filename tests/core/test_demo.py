"""The main job runs end to end on the bundled sample and reports what it did."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from babelcart.cli import app
from babelcart.demo import demo_records, pii_example, run_demo


@pytest.fixture(scope="module")
def report():
    return run_demo()


def test_a_masking_example_starts_at_its_own_value() -> None:
    text = "Paket rusak, hubungi saya di 0812-3456-7890 atau email budi.santoso@example.co.id ya"
    assert pii_example(text, "EMAIL") == ("…atau email budi.santoso@example.co.id ya", "…atau email <EMAIL> ya")
    assert pii_example(text, "PHONE") == ("…saya di 0812-3456-7890 atau email budi.santoso@example.co.id ya",
                                          "…saya di <PHONE> atau email <EMAIL> ya")
    assert pii_example("card 4111 1111 1111 1111", "CARD") == ("card 4111 1111 1111 1111", "card <CARD>")


@pytest.mark.slow
def test_demo_keeps_every_record_and_finds_the_planted_problems(report) -> None:
    assert report.n_records == len(demo_records()) == len(report.records)
    assert {"en", "zh", "id"} <= set(report.languages)
    # the shop does not sell in Malaysia: colloquial Indonesian is not read as Malay
    assert "ms" not in report.languages
    tokopedia = [r["lang"] for r in report.records if r.get("source") == "prdect_id"]
    assert tokopedia.count("id") >= 0.95 * len(tokopedia)
    assert {"EMAIL", "PHONE", "CARD", "IBAN"} <= set(report.pii)
    assert {"mojibake", "html", "control"} <= set(report.repairs)
    synthetic = {r["id"]: r for r in report.records if r["id"].startswith("syn-")}
    assert "4111" not in synthetic["syn-4"]["text"] and "<CARD>" in synthetic["syn-4"]["text"]
    assert synthetic["syn-0"]["text"].startswith("Très bonne qualité")
    ids = [r["id"] for r in report.records]
    clusters = [{ids[i] for i in c} for c in report.duplicates]
    assert {"syn-7", "syn-8", "syn-9"} in clusters  # whitespace variants and a near-duplicate
    dropped = [synthetic[i] for i in ("syn-7", "syn-8", "syn-9") if synthetic[i]["duplicate_of"]]
    assert len(dropped) == 2


@pytest.mark.slow
def test_demo_cross_lingual_tables(report) -> None:
    assert {n.query_lang for n in report.neighbours} == {"zh", "en", "id"}
    assert all(n.query_lang != n.target_lang for n in report.neighbours)
    hits = {h.query: h for h in report.products}
    assert "Rice Cooker" in hits["电饭煲"].title and hits["电饭煲"].right_rank == 1  # zh query, id/en listing
    assert {h.query for h in report.products if h.right_rank > 1} >= {"pelotas de tenis"}  # shown, not hidden
    assert report.lookup["queries"] == 30 and 0 < report.lookup["first"] <= report.lookup["top3"] <= 30
    assert report.polarity_match["raw"] > 0.6  # polarity survives the language change


@pytest.mark.slow
def test_demo_cli_writes_json(tmp_path, report, monkeypatch) -> None:
    monkeypatch.setattr("babelcart.demo.run_demo", lambda **kw: report)
    out = tmp_path / "demo.json"
    res = CliRunner().invoke(app, ["demo", "--json", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads(out.read_text(encoding="utf-8"))
    assert summary["n_records"] == len(demo_records()) and summary["pii"]["EMAIL"] >= 1
    assert "Cross-lingual product lookup" in res.output and "no, #" in res.output
    assert "None" not in res.output and "neutral" in res.output  # a 3-star neighbour has no polarity
    assert "<EMAIL>" in res.output  # the e-mail example shows the e-mail, not the phone number before it
    assert summary["product_lookup"] == report.lookup
