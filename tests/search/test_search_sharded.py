"""A catalog in shard folders with shards.json (as `babelcart index build --engine ray` writes them) opens
through SearchIndex.load and is searched as one index, top-k merged; the CLI and the service accept it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from babelcart.apps.search import IndexFormatError, SearchIndex
from babelcart.apps.search import documents as search_documents
from babelcart.apps.search.analyzers import guess_script_lang
from babelcart.apps.search.sharded import ShardedSearchIndex
from babelcart.cli import app
from shard_folders import write_shards

WORDS = ["shoes", "wallet", "headphones", "mug", "lamp", "jacket", "watch", "bottle", "chair", "kettle"]
COLOURS = ["red", "blue", "green", "black", "white"]
CATALOG: list[dict[str, Any]] = [
    {"id": f"p{i}", "title": f"{COLOURS[i % 5]} {WORDS[i % 10]} model {i}", "category": WORDS[i % 10],
     "price": float(10 + i), "lang": "en"} for i in range(60)]


@pytest.fixture(autouse=True)
def _script_lang_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_documents, "detect_langs",
                        lambda texts, **_: [guess_script_lang(t) or "en" for t in texts])


@pytest.fixture()
def sharded(tmp_path: Path, hash_encoder) -> Path:  # type: ignore[no-untyped-def]
    write_shards(tmp_path / "cat", CATALOG, 3, hash_encoder)
    return tmp_path / "cat"


def test_shards_search_as_one_index(sharded: Path, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    whole = SearchIndex.build(CATALOG, encoder=hash_encoder)
    ix = SearchIndex.load(sharded, encoder=hash_encoder)
    assert isinstance(ix, ShardedSearchIndex) and len(ix) == 60 and len(ix.shards) == 3
    assert all(len(s) < 60 for s in ix.shards)
    for q in ("red shoes", "green wallet model 12", "kettle", "black watch"):
        got, want = ix.search(q, mode="dense", k=10, explain=True), whole.search(q, mode="dense", k=10, explain=True)
        fused = [[h["explain"]["fused_score"] for h in hits] for hits in (got, want)]
        assert fused[0] == fused[1]  # exact merge (ties may swap ids)
        # the shown probabilities use BM25 coverage, which takes each 20-product shard's own IDF: close only
        assert [h["score"] for h in got] == pytest.approx([h["score"] for h in want], abs=0.1)
        assert {h["id"] for h in got[:8]} <= {h["id"] for h in want}
        # BM25 uses each shard's own statistics: hybrid orders are close to the whole index's, not equal
        assert ix.search(q, k=1)[0]["id"] in {h["id"] for h in whole.search(q, k=5)}
    hits = ix.search("shoes", k=20, filters={"category": "shoes", "price_max": 40})
    assert {h["id"] for h in hits} == {p["id"] for p in CATALOG if p["category"] == "shoes" and p["price"] <= 40}
    assert ix.search("model 17", mode="bm25", k=1)[0]["id"] == "p17"
    assert ix.search("red shoes", k=5).relevance is not None
    with pytest.raises(NotImplementedError, match="read-only"):
        ix.add([{"id": "x", "title": "y"}])


def test_a_damaged_shard_list_is_a_clear_error(sharded: Path) -> None:
    (sharded / "shards.json").write_text(json.dumps({"format": "babelcart-search-shards", "version": 1,
                                                     "shards": [{"path": "../elsewhere"}]}), encoding="utf-8")
    with pytest.raises(IndexFormatError, match="not a folder name"):
        SearchIndex.load(sharded)
    (sharded / "shards.json").write_text("{", encoding="utf-8")
    with pytest.raises(IndexFormatError, match="unreadable"):
        SearchIndex.load(sharded)


def test_cli_searches_all_shards(sharded: Path) -> None:
    res = CliRunner().invoke(app, ["search", str(sharded), "model 41", "--mode", "bm25", "-k", "1"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["results"][0]["id"] == "p41"


def test_an_empty_shard_is_searched_with_the_others(tmp_path: Path, hash_encoder) -> None:  # type: ignore[no-untyped-def]
    # two products, four shards: the job saves the shards that got no product empty
    write_shards(tmp_path / "cat", CATALOG[:2], 4, hash_encoder)
    ix = SearchIndex.load(tmp_path / "cat", encoder=hash_encoder)
    assert isinstance(ix, ShardedSearchIndex) and len(ix) == 2
    assert {h["id"] for h in ix.search("model", k=5)} == {"p0", "p1"}
