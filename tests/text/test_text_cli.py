from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from babelcart.cli import app

runner = CliRunner()


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _run_ok(args: list[str], out: Path) -> tuple[Result, list[dict]]:
    """Run the CLI with ``args`` (which write to ``out``); it must succeed. The result and the records in ``out``."""
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res, _lines(out.read_text(encoding="utf-8"))


@pytest.fixture()
def messy(tmp_path):
    p = tmp_path / "in.jsonl"
    big = "word " * 210_000  # ~1 MB
    rows = [
        json.dumps({"id": 1, "text": "cafÃ© <b>bien</b>  mail a@b.com"}).encode(),
        json.dumps({"id": 2, "text": ""}).encode(),
        json.dumps({"id": 3, "text": "   "}).encode(),
        json.dumps({"id": 4, "text": big}).encode(),
        b'{"id": 5, "text": "bad \xff\xfe bytes"}',
        json.dumps({"id": 6, "text": "nul\u0000byte"}).encode(),
        json.dumps({"id": 7, "text": "\u0001\u0002\u0003junk\u007f"}).encode(),
        b"{not json",
        json.dumps({"id": 9, "title": "missing text field"}).encode(),
        json.dumps({"id": 10, "text": "cafÃ© <b>bien</b>  mail a@b.com"}).encode(),
    ]
    p.write_bytes(b"\n".join(rows) + b"\n")
    return p


def test_clean_cli_keeps_every_line_and_marks_errors(messy, tmp_path):
    out = tmp_path / "out.jsonl"
    res, recs = _run_ok(["clean", str(messy), "--out", str(out)], out)
    assert len(recs) == 10
    assert recs[0]["text"] == "café bien mail a@b.com"
    assert recs[0]["text_raw"].startswith("cafÃ©")
    assert set(recs[0]["flags"]) == {"mojibake", "html", "whitespace"}
    assert recs[1]["text"] == "" and recs[1]["flags"] == [] and "text_raw" not in recs[1]
    assert recs[2]["text"] == "" and recs[2]["flags"] == ["whitespace"]
    assert len(recs[3]["text"]) > 1_000_000 - 10
    assert "not valid UTF-8" in recs[4]["error"]
    assert recs[5]["text"] == "nulbyte" and "control" in recs[5]["flags"]
    assert recs[6]["text"] == "junk"
    assert "not valid JSON" in recs[7]["error"]
    assert "missing field 'text'" in recs[8]["error"]
    assert "10 lines, 3 errors" in res.stderr
    strict = runner.invoke(app, ["clean", str(messy), "--out", str(out), "--strict"])
    assert strict.exit_code == 1


def test_mask_cli_adds_counts(messy, tmp_path):
    out = tmp_path / "m.jsonl"
    _, recs = _run_ok(["mask", str(messy), "-o", str(out)], out)
    assert len(recs) == 10
    assert recs[0]["text"].endswith("mail <EMAIL>") and recs[0]["pii"] == {"EMAIL": 1}
    assert recs[1]["pii"] == {}
    assert "error" in recs[7]


def test_mask_cli_reads_csv(tmp_path):
    p = tmp_path / "in.csv"
    p.write_text("id,body\n1,call +49 30 901820\n2,nothing\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    _, recs = _run_ok(["mask", str(p), "--text-field", "body", "-o", str(out)], out)
    assert [r["body"] for r in recs] == ["call <PHONE>", "nothing"]


def test_mask_cli_masks_the_original_kept_by_clean(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_text(json.dumps({"text": "call\u0007 +49 30 901820", "text_raw": "call\u0007 +49 30 901820"}) + "\n",
                 encoding="utf-8")
    out = tmp_path / "o.jsonl"
    _, recs = _run_ok(["mask", str(p), "-o", str(out)], out)
    assert "901820" not in json.dumps(recs) and "<PHONE>" in recs[0]["text_raw"]


def test_dedupe_cli_marks_and_drops_only_when_asked(messy, tmp_path):
    out = tmp_path / "d.jsonl"
    res, recs = _run_ok(["dedupe", str(messy), "-o", str(out)], out)
    assert len(recs) == 10
    assert recs[9]["duplicate_of"] == 0 and recs[9]["cluster"] == 0 and recs[9]["similarity"] == 1.0
    assert recs[2]["duplicate_of"] == 1  # whitespace-only equals empty after normalization
    assert recs[0]["duplicate_of"] is None
    assert "error" in recs[7] and "error" in recs[8]
    assert "2 duplicates" in res.stderr
    res = runner.invoke(app, ["dedupe", str(messy), "-o", str(out), "--drop"])
    recs = _lines(out.read_text(encoding="utf-8"))
    assert len(recs) == 8
    assert "2 dropped" in res.stderr


def test_missing_input_file_is_a_clear_error(tmp_path):
    for cmd in ("clean", "mask", "dedupe"):
        res = runner.invoke(app, [cmd, str(tmp_path / "nope.jsonl")])
        assert res.exit_code != 0
        assert "not found" in res.output + res.stderr


def test_tokenizer_train_cli_prints_fertility(tmp_path):
    p = tmp_path / "corpus.jsonl"
    rows = [{"text": f"the red dress number {i} fits well", "lang": "en"} for i in range(60)]
    rows += [{"text": f"这件衣服质量很好第{i}次购买", "lang": "zh"} for i in range(20)]
    rows += [{"text": "no language here"}, {"lang": "en"}]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    res = runner.invoke(app, ["tokenizer", "train", "--input", str(p), "--vocab-size", "200", "--model", "bpe",
                              "--temperature", "2", "--out", str(tmp_path / "tok")])
    assert res.exit_code == 0, res.output
    assert "tokens/word" in res.stdout and "tokens/char" in res.stdout
    assert "(1 lines skipped)" in res.stdout
    assert (tmp_path / "tok" / "tokenizer.json").exists()
    bad = runner.invoke(app, ["tokenizer", "train", "--input", str(p), "--model", "x", "--out", str(tmp_path / "t2")])
    assert bad.exit_code != 0
