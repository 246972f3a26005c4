"""``babelcart detect`` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from babelcart.cli import app

runner = CliRunner()


def test_detect_one_text() -> None:
    res = runner.invoke(app, ["detect", "--text", "무선 이어폰"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["lang"] == "ko" and out["lang_confidence"] > 0.5


def test_detect_jsonl_keeps_every_line_in_order(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": 1, "body": "zapatos rojos para mujer"}),
        "{not json",
        json.dumps({"id": 3, "other": "no body field"}),
        json.dumps({"id": 4, "body": "Handyhülle"}),
        json.dumps({"id": 5, "body": ""}),
        json.dumps({"id": 6, "body": "无线蓝牙耳机"}),
    ]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dest = tmp_path / "out.jsonl"
    res = runner.invoke(app, ["detect", str(src), "--out", str(dest), "--text-field", "body",
                              "--languages", "en,de,es,fr"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in dest.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6
    assert rows[0]["id"] == 1 and rows[0]["lang"] == "es" and 0 < rows[0]["lang_confidence"] <= 1
    assert "error" in rows[1]
    assert rows[2]["id"] == 3 and "error" in rows[2] and "body" in rows[2]["error"]
    assert rows[3]["lang"] == "de"
    assert rows[4]["lang"] == "und" and rows[4]["lang_confidence"] == 0.0
    assert rows[5]["lang"] == "zh"
    assert "6 lines, 2 errors" in res.stderr

    strict = runner.invoke(app, ["detect", str(src), "--out", str(dest), "--text-field", "body", "--strict",
                                 "--languages", "en,de,es,fr"])
    assert strict.exit_code == 1


def test_detect_bad_languages_option(tmp_path: Path) -> None:
    res = runner.invoke(app, ["detect", "--text", "hi", "--languages", " , "])
    assert res.exit_code != 0
