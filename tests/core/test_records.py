"""Records I/O: every line comes back, bad lines are marked, never a crash."""

from __future__ import annotations

import io
import json

import pytest

from babelcart.datasets.records import (
    FieldError,
    collect_texts,
    get_text,
    iter_csv,
    iter_jsonl,
    map_records,
    read_lines,
    read_records,
    write_records,
)


def test_jsonl_marks_bad_lines_and_keeps_the_rest() -> None:
    raw = b'{"text": "ok"}\nnot json\n[1, 2]\n\n{"text": "caf\xc3\xa9"}\n{"text": "bad \xff byte"}\n'
    recs = list(iter_jsonl(io.BytesIO(raw)))
    assert [r.get("text") for r in recs] == ["ok", None, None, "café", None]
    assert "not valid JSON" in recs[1]["error"] and recs[1]["line"] == 2
    assert "not an object" in recs[2]["error"]
    assert "not valid UTF-8" in recs[4]["error"] and recs[4]["line"] == 6
    assert "bad" in recs[4]["raw"]


def test_read_lines_gives_every_line_with_its_number_and_one_error_shape(tmp_path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"text": "a"}\n\n   \nnot json\n{"text": "b"}\n')
    got = list(read_lines(path))
    assert [n for n, _ in got] == [1, 2, 3, 4, 5]
    assert got[1][1] == {"error": "line 2 is blank", "line": 2} and got[2][1] == {"error": "line 3 is blank", "line": 3}
    assert got[3][1]["error"].startswith("line 4 is not valid JSON") and got[3][1]["line"] == 4 and got[3][1]["raw"] == "not json"
    assert [r for r in read_records(path)] == [{"text": "a"}, got[3][1], {"text": "b"}]  # blanks skipped


def test_csv_blank_rows_come_back_and_lines_count_the_header(tmp_path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b'text,label\na,pos\n\nb\nc,neg,extra\n')
    got = list(read_lines(path))
    assert [n for n, _ in got] == [2, 3, 4, 5]
    assert got[0][1] == {"text": "a", "label": "pos"} and got[1][1] == {"error": "line 3 is blank", "line": 3}
    assert got[2][1] == {"text": "b", "label": None}
    assert got[3][1] == {"text": "c", "label": "neg", "_extra_columns": ["extra"]}


def test_jsonl_nul_bytes_and_binary_junk_do_not_raise() -> None:
    raw = b'{"text": "a\\u0000b"}\n\x00\x01\x02\xfe\xfa junk\n'
    recs = list(iter_jsonl(io.BytesIO(raw)))
    assert recs[0]["text"] == "a\x00b"
    assert "error" in recs[1]


def test_csv_multiline_quotes_and_bad_bytes() -> None:
    raw = b'text,label\n"line one\r\nline two",pos\n"caf\xe9",neg\n'
    recs = list(iter_csv(io.BytesIO(raw)))
    assert recs[0] == {"text": "line one\r\nline two", "label": "pos"}
    assert "not valid UTF-8" in recs[1]["error"]


def test_read_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="input file not found"):
        list(read_records(tmp_path / "nope.jsonl"))


def test_write_then_read_round_trip(tmp_path) -> None:
    recs = [{"text": "蓝牙耳机", "n": 1}, {"text": "😀 emoji", "x": [1.5, 2]}]
    path = tmp_path / "out.jsonl"
    assert write_records(recs, path) == 2
    assert "蓝牙耳机" in path.read_text(encoding="utf-8")  # readable, not \u-escaped
    assert list(read_records(path)) == recs
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["n"] == 1


def test_get_text_messages() -> None:
    assert get_text({"body": 5}, "body") == "5"
    with pytest.raises(FieldError, match="missing field 'text'"):
        get_text({"title": "x"})
    with pytest.raises(FieldError, match="is null"):
        get_text({"text": None})
    with pytest.raises(FieldError, match="must be a string"):
        get_text({"text": ["a"]})


def test_map_records_marks_failures_per_line() -> None:
    def upper(rec):
        return {**rec, "text": get_text(rec).upper()}

    out = list(map_records([{"text": "a"}, {"nope": 1}, {"_line": 3, "error": "bad"}, {"text": "b"}], upper))
    assert [r.get("text") for r in out] == ["A", None, None, "B"]
    assert "missing field" in out[1]["error"] and out[2]["error"] == "bad"


def test_collect_texts_marks_unusable_records_and_keeps_order() -> None:
    recs = [{"text": "a"}, {"text": "  "}, {"_line": 3, "error": "bad json"}, {"body": "x"}, {"text": "b"}]
    out, good, texts = collect_texts(recs)
    assert good == [0, 4] and texts == ["a", "b"]
    assert "is empty" in out[1]["error"] and out[2]["error"] == "bad json"
    assert "missing field 'text'" in out[3]["error"] and out[0] == {"text": "a"}
    _, good, texts = collect_texts(recs, allow_empty=True)
    assert good == [0, 1, 4] and texts[1] == "  "
