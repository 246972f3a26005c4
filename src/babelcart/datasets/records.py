"""JSONL / CSV records in and out, one dict per line, with per-line errors instead of crashes.

Every error record has one shape (:func:`error_record`): the input's fields when it had any, then ``"error"``
(the message) and ``"line"`` (its 1-based input line). A line that cannot be read comes back as
``{"error": "...", "line": n, "raw": "..."}`` (``raw``: the first 200 characters of what was there), so a batch
never dies on one bad line and nothing is dropped silently. :func:`read_lines` also returns blank lines, as
``{"error": "line n is blank", "line": n}``, for jobs that give every input line back; :func:`read_records` skips
them. A message about a line that could not be read names the line too, so it reads on its own.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

Record = dict[str, Any]

RAW_PREVIEW = 200


class FieldError(ValueError):
    """A record lacks a required field or has it with the wrong type."""


def error_record(message: str, line: int, record: Record | None = None, **extra: Any) -> Record:
    """The one error record shape: the input's fields (if any), then ``error`` and ``line`` (1-based)."""
    return {**(record or {}), "error": message, "line": line, **extra}


def blank_line(line: int) -> Record:
    """The error record of a blank input line."""
    return error_record(f"line {line} is blank", line)


def error_message(exc: BaseException) -> str:
    """What an error record says about exc: a data problem (FieldError, ValueError) as its message, anything else
    with its type first, so the same problem reads the same in every command."""
    return str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


def _decode(raw: bytes, lineno: int) -> tuple[str | None, Record | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", errors="replace")
        return None, error_record(f"line {lineno} is not valid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})",
                                  lineno, raw=text[:RAW_PREVIEW])


def parse_jsonl_line(raw: bytes, lineno: int) -> Record | None:
    """One JSONL line (bytes, newline stripped) as a dict, an error record, or ``None`` when it is blank."""
    text, err = _decode(raw, lineno)
    if err is not None:
        return err
    assert text is not None
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return error_record(f"line {lineno} is not valid JSON: {exc.msg} (column {exc.colno})", lineno, raw=text[:RAW_PREVIEW])
    if not isinstance(obj, dict):
        return error_record(f"line {lineno} is JSON but not an object ({type(obj).__name__})", lineno, raw=text[:RAW_PREVIEW])
    return obj


def _jsonl_lines(stream: IO[bytes]) -> Iterator[tuple[int, Record | None]]:
    for lineno, raw in enumerate(stream, start=1):
        yield lineno, parse_jsonl_line(raw.rstrip(b"\r\n"), lineno)


def iter_jsonl(stream: IO[bytes]) -> Iterator[Record]:
    """Yield one dict per non-blank line of a binary JSONL stream; bad lines become error records."""
    for _, rec in _jsonl_lines(stream):
        if rec is not None:
            yield rec


def _csv_lines(stream: IO[bytes]) -> Iterator[tuple[int, Record | None]]:
    """(line, record) per CSV row after the header, ``None`` for a blank row; ``line`` is where the row ends."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    for row in reader:
        lineno = reader.line_num
        if not row:
            yield lineno, None
            continue
        rec: Record = dict(zip(header, row, strict=False))
        rec.update({k: None for k in header[len(row):]})
        bad = [k for k, v in rec.items() if isinstance(v, str) and _has_surrogates(v)]
        if bad:
            clean = {k: (_replace_surrogates(v) if isinstance(v, str) else v) for k, v in rec.items()}
            yield lineno, error_record(f"row {lineno} is not valid UTF-8 in field(s) {', '.join(bad)}", lineno,
                                       raw=json.dumps(clean, ensure_ascii=False)[:RAW_PREVIEW])
            continue
        if len(row) > len(header):
            rec["_extra_columns"] = row[len(header):]
        yield lineno, rec


def iter_csv(stream: IO[bytes]) -> Iterator[Record]:
    """Yield one dict per CSV row (header required); undecodable bytes mark the row with an error."""
    for _, rec in _csv_lines(stream):
        if rec is not None:
            yield rec


def _has_surrogates(s: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in s)


def _replace_surrogates(s: str) -> str:
    return s.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


def _numbered(source: str | Path | IO[bytes] | None, fmt: str | None) -> Iterator[tuple[int, Record | None]]:
    if source is None or str(source) == "-":
        yield from (_csv_lines if fmt == "csv" else _jsonl_lines)(sys.stdin.buffer)
        return
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"input file not found: {path}")
        if fmt is None:
            fmt = "csv" if path.suffix.lower() in {".csv", ".tsv"} else "jsonl"
        with path.open("rb") as fh:
            yield from (_csv_lines if fmt == "csv" else _jsonl_lines)(fh)
        return
    yield from (_csv_lines if fmt == "csv" else _jsonl_lines)(source)


def read_lines(source: str | Path | IO[bytes] | None = None, *,
               fmt: str | None = None) -> Iterator[tuple[int, Record]]:
    """Every input line as ``(line, record)``, blank ones included as :func:`blank_line` error records:
    for jobs that give every line back, in order. Sources and ``fmt`` as :func:`read_records`."""
    for lineno, rec in _numbered(source, fmt):
        yield lineno, rec if rec is not None else blank_line(lineno)


def read_records(source: str | Path | IO[bytes] | None = None, *, fmt: str | None = None) -> Iterator[Record]:
    """Read records from a path, a binary stream, or stdin (``None`` or ``"-"``); blank lines are skipped.

    ``fmt`` is ``"jsonl"`` or ``"csv"``; by default it follows the file extension (JSONL otherwise).
    """
    for _, rec in _numbered(source, fmt):
        if rec is not None:
            yield rec


def dumps(record: Record) -> str:
    """One JSONL line (no newline), UTF-8 kept readable."""
    return json.dumps(record, ensure_ascii=False, default=_json_default)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def write_records(records: Iterable[Record], dest: str | Path | IO[str] | None = None) -> int:
    """Write records as JSONL to a path or text stream (stdout when ``None``/``"-"``); return the count."""
    if dest is None or str(dest) == "-":
        return _write(records, sys.stdout)
    if isinstance(dest, (str, Path)):
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "w", encoding="utf-8") as fh:
            return _write(records, fh)
    return _write(records, dest)


def _write(records: Iterable[Record], fh: IO[str]) -> int:
    n = 0
    for rec in records:
        fh.write(dumps(rec) + "\n")
        n += 1
    fh.flush()
    return n


def get_text(record: Record, field: str = "text") -> str:
    """Return ``record[field]`` as a string or raise :class:`FieldError` with a clear message."""
    if field not in record:
        raise FieldError(f"missing field {field!r}")
    value = record[field]
    if value is None:
        raise FieldError(f"field {field!r} is null")
    if not isinstance(value, str):
        if isinstance(value, (int, float)):
            return str(value)
        raise FieldError(f"field {field!r} must be a string, got {type(value).__name__}")
    return value


def collect_texts(
    records: list[Record], field: str = "text", *, allow_empty: bool = False
) -> tuple[list[Record], list[int], list[str]]:
    """Split a batch into the records with a usable text and the rest.

    Returns ``(out, good, texts)``: ``out`` is a copy of ``records`` in which every record without a usable
    text is marked with ``"error"``; ``good`` are the indexes of the others and ``texts`` their texts. Callers
    fill ``out[i]`` for ``i`` in ``good`` and return ``out``: every line comes back, in order.
    """
    out: list[Record] = list(records)
    good: list[int] = []
    texts: list[str] = []
    for i, rec in enumerate(records):
        if "error" in rec:
            continue
        try:
            text = get_text(rec, field)
            if not allow_empty and not text.strip():
                raise FieldError(f"field {field!r} is empty")
        except FieldError as exc:
            out[i] = {**rec, "error": str(exc)}
            continue
        good.append(i)
        texts.append(text)
    return out, good, texts


def map_records(
    records: Iterable[Record], fn: Callable[[Record], Record]
) -> Iterator[Record]:
    """Apply ``fn`` to each good record; a data error (ValueError, TypeError) marks that record with ``"error"``
    (:func:`error_message`) and the batch goes on.

    Records that already carry an ``"error"`` pass through untouched.
    """
    for rec in records:
        if "error" in rec:
            yield rec
            continue
        try:
            yield fn(rec)
        except (ValueError, TypeError) as exc:
            yield {**rec, "error": error_message(exc)}
