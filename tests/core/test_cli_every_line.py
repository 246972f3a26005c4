"""Every per-line command gives every input line back, in order, and marks a failed line in one shape:
``error`` and ``line`` (1-based input line), plus the input's fields when it had any, with the same words for
the same problem in every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from babelcart.cli import app
from babelcart.datasets.records import write_records

runner = CliRunner()

# 6 input lines: good, blank, not JSON, no 'text' field, not an object, good
SIX_LINES = ('{"text": "a lovely great thing", "id": 1}\n'
             "\n"
             "{not json\n"
             '{"title": "no text here", "id": 4}\n'
             "[1, 2]\n"
             '{"text": "an awful broken thing", "id": 6}\n')


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("model")
    train = root / "train.jsonl"
    write_records([{"text": f"{'great lovely' if i % 2 else 'awful broken'} thing {i}",
                    "label": "pos" if i % 2 else "neg", "lang": "en"} for i in range(30)], train)
    res = runner.invoke(app, ["train", "--task", "classify", "--method", "head", "--train", str(train),
                              "--encoder", "hash:256", "--out", str(root / "m"), "--quiet"])
    assert res.exit_code == 0, res.output
    return root / "m"


COMMANDS = {
    "detect": ["detect"],
    "clean": ["clean"],
    "mask": ["mask"],
    "dedupe": ["dedupe"],
    "embed": ["embed", "--encoder", "hash:64"],
    "predict": ["predict", "MODEL"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_every_line_back_and_one_error_shape(name: str, fmt: str, model: Path, tmp_path: Path) -> None:
    if fmt == "jsonl":
        src = tmp_path / "in.jsonl"
        src.write_text(SIX_LINES, encoding="utf-8")
        lines = [1, 2, 3, 4, 5, 6]
    else:  # a CSV's line numbers count the header (line 1)
        src = tmp_path / "in.csv"
        src.write_bytes(b"text,id\na lovely great thing,1\n\nbad \xff byte,3\nan awful broken thing,5\n")
        lines = [2, 3, 4, 5]
    out = tmp_path / "out.jsonl"
    args = [str(model) if a == "MODEL" else a for a in COMMANDS[name]]
    res = runner.invoke(app, [*args, str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(lines), rows
    errors = {lines[i]: r for i, r in enumerate(rows) if "error" in r}
    for i, r in enumerate(rows):
        if "error" in r:
            assert r["line"] == lines[i]  # at its position, with its input line number
        else:
            assert "line" not in r
    if fmt == "jsonl":
        assert set(errors) == {2, 3, 4, 5}
        assert errors[2] == {"error": "line 2 is blank", "line": 2}
        assert errors[3]["error"].startswith("line 3 is not valid JSON") and errors[3]["raw"] == "{not json"
        assert errors[4] == {"title": "no text here", "id": 4, "error": "missing field 'text'", "line": 4}
        assert errors[5]["error"] == "line 5 is JSON but not an object (list)"
        assert rows[0]["id"] == 1 and rows[5]["id"] == 6
    else:
        assert errors[3] == {"error": "line 3 is blank", "line": 3}
        assert errors[4]["line"] == 4 and errors[4]["error"] == "row 4 is not valid UTF-8 in field(s) text"
    assert f"{len(lines)} lines, {len(errors)} errors" in res.output


def test_an_empty_text_reads_the_same_in_every_command(model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": null}\n{"text": ["x"]}\n', encoding="utf-8")
    seen: dict[str, list[str]] = {}
    for name, args in COMMANDS.items():
        out = tmp_path / f"{name}.jsonl"
        runner.invoke(app, [*(str(model) if a == "MODEL" else a for a in args), str(src), "--out", str(out)])
        seen[name] = [json.loads(x)["error"] for x in out.read_text(encoding="utf-8").splitlines()]
    assert all(v == seen["detect"] for v in seen.values()), seen
    assert seen["detect"] == ["field 'text' is null", "field 'text' must be a string, got list"]
