"""``babelcart embed`` keeps every line, in order, and marks the bad ones."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from babelcart.cli import app


def test_embed_cli_per_line_errors(tmp_path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": 1, "body": "hola"}\nbroken\n{"id": 3}\n{"id": 4, "body": "\xe4\xbd\xa0\xe5\xa5\xbd"}\n')
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["embed", str(src), "--out", str(out), "--text-field", "body",
                                      "--encoder", "hash:32"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 4
    assert len(lines[0]["embedding"]) == 32 and lines[0]["encoder"] == "hash:32"
    assert "not valid JSON" in lines[1]["error"]
    assert lines[2]["id"] == 3 and "missing field 'body'" in lines[2]["error"]
    assert lines[3]["body"] == "你好" and "embedding" in lines[3]
    assert "4 lines, 2 errors" in result.output


def test_embed_cli_strict_exit_code_and_missing_file(tmp_path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "ok"}\n{"nope": 1}\n', encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["embed", str(src), "--out", str(tmp_path / "o.jsonl"), "-e", "hash:16", "--strict"])
    assert res.exit_code == 1
    res = runner.invoke(app, ["embed", str(tmp_path / "missing.jsonl"), "-e", "hash:16"])
    assert res.exit_code != 0 and "input file not found" in res.output


def test_embed_cli_csv_input(tmp_path) -> None:
    src = tmp_path / "in.csv"
    src.write_text('text,label\n"multi\nline",pos\nshort,neg\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    res = CliRunner().invoke(app, ["embed", str(src), "-o", str(out), "-e", "hash:16", "--role", "query"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["label"] for x in lines] == ["pos", "neg"] and lines[0]["text"] == "multi\nline"
