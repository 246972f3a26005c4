"""`babelcart index build`, `babelcart search`, `babelcart search-eval` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from babelcart.apps.search import documents as search_documents
from babelcart.apps.search.analyzers import guess_script_lang
from babelcart.cli import app

runner = CliRunner()

CATALOG = "\n".join([
    json.dumps({"id": "p1", "title": "Wireless bluetooth headphones", "category": "audio", "price": 59, "lang": "en"}),
    json.dumps({"id": "p2", "title": "Running shoes", "category": "shoes", "price": 80, "lang": "en"}),
    json.dumps({"id": "p3", "description": "a line without a title"}),
    "{not json",
    json.dumps({"id": "p4", "title": "蓝牙耳机", "category": "audio", "price": 30, "lang": "zh"}),
]) + "\n"


@pytest.fixture(autouse=True)
def _script_lang_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_documents, "detect_langs", lambda texts, **_: [guess_script_lang(t) or "en" for t in texts])


@pytest.fixture()
def built(tmp_path: Path) -> Path:
    cat = tmp_path / "catalog.jsonl"
    cat.write_text(CATALOG, encoding="utf-8")
    out = tmp_path / "idx"
    res = runner.invoke(app, ["index", "build", "--catalog", str(cat), "--out", str(out), "--encoder", "hash:64"])
    assert res.exit_code == 0, res.output
    assert "5 lines, 2 errors; indexed 3 products" in res.output
    assert "record 3: product has no 'title'" in res.output and "line 4" in res.output
    return out


def test_build_strict_exits_nonzero_but_writes(tmp_path: Path) -> None:
    cat = tmp_path / "c.jsonl"
    cat.write_text(CATALOG, encoding="utf-8")
    res = runner.invoke(app, ["index", "build", "-c", str(cat), "-o", str(tmp_path / "i"), "-e", "hash:64",
                              "--strict"])
    assert res.exit_code == 1
    assert (tmp_path / "i" / "manifest.json").exists()


def test_build_nothing_valid_writes_nothing(tmp_path: Path) -> None:
    cat = tmp_path / "c.jsonl"
    cat.write_text('{"id": "x"}\n', encoding="utf-8")
    res = runner.invoke(app, ["index", "build", "-c", str(cat), "-o", str(tmp_path / "i"), "-e", "hash:64"])
    assert res.exit_code == 1 and not (tmp_path / "i").exists()


def test_single_query(built: Path) -> None:
    res = runner.invoke(app, ["search", str(built), "running shoes", "-k", "2", "--explain"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["query"] == "running shoes"
    assert out["results"][0]["id"] == "p2" and "explain" in out["results"][0]
    res = runner.invoke(app, ["search", str(built), "headphones", "--category", "audio", "--price-max", "40"])
    assert [r["id"] for r in json.loads(res.stdout.strip().splitlines()[-1])["results"]] == ["p4"]
    res = runner.invoke(app, ["search", str(built), "shoes", "--mode", "bogus"])
    assert res.exit_code != 0 and "--mode" in res.output


def test_query_batch_keeps_every_line(built: Path, tmp_path: Path) -> None:
    q = tmp_path / "q.jsonl"
    q.write_text('{"qid": "a", "query": "running shoes"}\n{"qid": "b"}\n{"qid": "c", "query": "???"}\n'
                 '{"qid": "d", "query": "耳机", "lang": "zh"}\n', encoding="utf-8")
    out = tmp_path / "r.jsonl"
    res = runner.invoke(app, ["search", str(built), "--queries", str(q), "--out", str(out), "-k", "2"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["qid"] for x in lines] == ["a", "b", "c", "d"]
    assert lines[0]["results"][0]["id"] == "p2"
    assert set(lines[0]["results"][0]) >= {"id", "score", "title", "lang"}
    assert "error" in lines[1]
    assert lines[2]["results"] == []
    assert lines[3]["results"][0]["id"] == "p4"
    assert "4 lines, 1 error" in res.output


def test_search_eval(built: Path, tmp_path: Path) -> None:
    q = tmp_path / "q.jsonl"
    q.write_text('{"qid": "a", "query": "running shoes"}\n{"qid": "b", "query": "耳机"}\n', encoding="utf-8")
    qrels = tmp_path / "qrels.jsonl"
    qrels.write_text('{"qid": "a", "id": "p2", "grade": 1}\n{"qid": "b", "id": "p4", "grade": 1}\n',
                     encoding="utf-8")
    out = tmp_path / "m.json"
    res = runner.invoke(app, ["search-eval", str(built), "--queries", str(q), "--qrels", str(qrels),
                              "-m", "bm25", "-m", "hybrid", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "nDCG@10" in res.output and "zh" in res.output
    rep = json.loads(out.read_text())
    assert rep["bm25"]["overall"]["MRR@10"] == 1.0
    assert rep["hybrid"]["by_lang"]["zh"]["queries"] == 1


def test_corrupted_index_is_a_clear_error(built: Path) -> None:
    (built / "bm25.npz").write_bytes(b"garbage")
    res = runner.invoke(app, ["search", str(built), "shoes"])
    assert res.exit_code == 2
    assert "corrupted" in res.output
