"""The bundled sample (``babelcart samples``): written out whole, never over a user's files, and its real text
is the unchanged text of ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from babelcart.cli import app
from babelcart.datasets.samples import read_sample, sample_names, write_samples


def test_samples_writes_every_file_once_and_keeps_other_files(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["samples", str(tmp_path / "tour")])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "tour").iterdir()) == sample_names()
    assert "NOTICE.md" in sample_names() and "shop.toml" not in sample_names()
    assert len(res.stdout.splitlines()) == len(sample_names())
    assert CliRunner().invoke(app, ["samples", str(tmp_path / "tour")]).exit_code == 0  # same files: fine
    mine = tmp_path / "tour" / "events.jsonl"
    mine.write_text("my own events\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["samples", str(tmp_path / "tour")])
    assert res.exit_code == 2 and "events.jsonl" in res.stderr and "--force" in res.stderr
    assert mine.read_text(encoding="utf-8") == "my own events\n"  # nothing written
    assert CliRunner().invoke(app, ["samples", str(tmp_path / "tour"), "--force"]).exit_code == 0
    assert mine.read_text(encoding="utf-8") != "my own events\n"


def test_read_sample_names_the_files_it_has() -> None:
    assert len(read_sample("reviews_en.jsonl")) == 80
    with pytest.raises(ValueError, match="reviews.jsonl"):
        read_sample("nope.jsonl")


def test_the_tour_splits_are_rows_of_the_sample() -> None:
    reviews = {r["id"]: r for r in read_sample("reviews.jsonl")}
    en, id_ = read_sample("reviews_en.jsonl"), read_sample("reviews_id.jsonl")
    assert all(reviews[r["id"]]["source"] == "womens_clothing" and reviews[r["id"]]["text"] == r["text"]
               and reviews[r["id"]]["rating"] == r["rating"] for r in en)
    assert all(reviews[r["id"]]["source"] == "prdect_id" and "rating" not in r for r in id_)
    assert not {r["id"] for r in read_sample("labelled_id.jsonl")} & set(reviews)  # held out
    products = {p["id"] for p in read_sample("products.jsonl")}
    assert {e["item_id"] for e in read_sample("events.jsonl")} <= products
    assert [r["id"] for r in read_sample("reviews_stream.jsonl")] == list(reviews)


def test_real_tour_files_are_unchanged_shared_text(data_dir: Path, tmp_path: Path) -> None:
    from babelcart.datasets.shared import prdect_reviews

    prdect = {r["id"]: r for r in prdect_reviews()}
    for r in read_sample("labelled_id.jsonl"):
        assert (prdect[r["id"]]["text"], prdect[r["id"]]["rating"]) == (r["text"], r["rating"])
    with (data_dir / "intents" / "xsid_valid.jsonl").open(encoding="utf-8") as fh:
        xsid = {(r["text"].strip(), r["text_en"].strip()) for r in map(json.loads, fh) if r["lang"] == "id"}
    write_samples(tmp_path)
    pairs = [tuple(line.split("\t")) for line in (tmp_path / "pairs_id_en.tsv").read_text("utf-8").splitlines()]
    assert len(pairs) == 120 and set(pairs) <= xsid
