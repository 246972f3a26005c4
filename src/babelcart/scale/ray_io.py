"""Reading and writing records on Ray Data, in the read and write tasks, never on the driver.

Inputs are JSONL (``.gz``/``.zst``/... decompressed by extension) or Parquet files: a local path, a folder, a
glob (``data/*.jsonl``, ``s3://bucket/reviews/part-*.jsonl.gz``) or an object-store URI (``s3://``, ``gs://``,
``abfss://``; anything pyarrow's filesystems open), or a list of them. The driver only lists file names; each
read task streams its files and yields blocks of ``READ_BLOCK_LINES`` lines (or ``READ_BLOCK_BYTES``).

Each input line becomes one row ``{_file, _line, _raw}``: the file it came from, its 1-based line number (row
number for Parquet) and its bytes (the JSON text of the row for Parquet). The line is parsed in the map step
(``parse_line``), so a malformed line becomes an error record with its line number instead of failing the
whole file the way ``ray.data.read_json`` does. Blank lines are skipped, as the local commands skip them.

Outputs are a folder of part files (``part-000000.jsonl`` ...) written by the write tasks, one JSON record a
line, and ``_manifest.json`` written last by the driver: lines, errors and the part files in input order. A
folder without ``_manifest.json`` is an unfinished or failed run. Ray's readers skip names starting with
``_``, so the folder can be the input of the next job as it is.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import ray.data
from ray.data.block import Block, BlockAccessor
from ray.data.datasource import BlockBasedFileDatasink, FileBasedDatasource, FilenameProvider, WriteResult

from babelcart.datasets.records import Record, blank_line, dumps, parse_jsonl_line
from babelcart.fsutil import atomic_write_text
from babelcart.scale import JobArgumentError

#: A read block ends at this many lines or raw bytes, whichever comes first: blocks are the unit the actor
#: pool hands out (a 1,024-line block keeps many actors busy on one file), and bound a read task's memory.
READ_BLOCK_LINES = 1024
READ_BLOCK_BYTES = 4 << 20
#: Bytes (in memory, before JSON) a write task gathers before it writes a part file; the last part is smaller.
PART_BYTES = 64 << 20
#: Input formats; ``None`` picks one from each path's extension (``.parquet``/``.pq``: Parquet, else JSONL).
FORMATS = ("jsonl", "parquet")
MANIFEST = "_manifest.json"
PARTS_FORMAT = "babelcart-parts"

RAW, FILE, LINE, JSON, ERROR = "_raw", "_file", "_line", "_json", "_error"


def input_format(paths: Sequence[str], fmt: str | None) -> str:
    """``fmt`` checked, or the format of ``paths`` from their extensions (all must agree)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise JobArgumentError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        return fmt
    kinds = {"parquet" if p.rstrip("/").lower().endswith((".parquet", ".pq")) else "jsonl" for p in paths}
    if len(kinds) > 1:
        raise JobArgumentError("inputs mix Parquet and JSONL files; run one job per format or pass the format")
    return kinds.pop()


def expand_inputs(source: str | Path | Sequence[str | Path]) -> list[str]:
    """Paths, folders and URIs as given, globs (``*``, ``?``, ``[``) expanded to the files they match.

    Only names are listed, on the driver; a local path or glob that matches nothing raises
    ``FileNotFoundError`` before Ray starts any work.
    """
    items = [source] if isinstance(source, (str, Path)) else list(source)
    if not items:
        raise FileNotFoundError("no input given")
    out: list[str] = []
    for item in map(str, items):
        if any(c in item for c in "*?["):
            matched = _glob(item)
            if not matched:
                raise FileNotFoundError(f"no input file matches {item}")
            out.extend(matched)
        elif "://" not in item and not Path(item).exists():
            raise FileNotFoundError(f"input file not found: {item}")
        else:
            out.append(item)
    return out


def _glob(pattern: str) -> list[str]:
    """Files matching a glob; the folder part must be plain (``data/2026-*/x.jsonl`` is not supported)."""
    scheme, sep, rest = pattern.partition("://")
    prefix = f"{scheme}{sep}" if sep else ""
    path = rest if sep else pattern
    folder, _, name = path.rpartition("/")
    if any(c in folder for c in "*?["):
        raise JobArgumentError(f"a glob may only match file names, not folders: {pattern}")
    fs, root = pafs.FileSystem.from_uri(prefix + folder if prefix else str(Path(folder or ".").resolve()))
    infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File and fnmatch.fnmatchcase(i.base_name, name))
    base = f"{prefix}{folder}" if prefix else folder
    return [f"{base}/{n}" if base else n for n in names]


class JsonLinesSource(FileBasedDatasource):
    """Ray datasource: one row per line of JSONL files, ``{_file, _line, _raw}``, unparsed."""

    def _read_stream(self, f: pa.NativeFile, path: str) -> Iterator[Block]:
        rows = _Rows(path)
        lineno, tail = 0, b""
        while chunk := _read(f, path):
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            for raw in lines:
                lineno += 1
                rows.add(lineno, raw.rstrip(b"\r"))
                if rows.full():
                    yield rows.flush()
        if tail:
            rows.add(lineno + 1, tail.rstrip(b"\r"))
        if rows.lines:
            yield rows.flush()


def _read(f: pa.NativeFile, path: str) -> bytes:
    """The next MiB of ``f``; a read error names the file (the message Ray's I/O retries match is kept)."""
    try:
        return f.read(1 << 20)
    except OSError as exc:
        raise OSError(f"cannot read {path}: {exc}") from exc


class ParquetRowsSource(FileBasedDatasource):
    """Ray datasource: one row per Parquet row, ``{_file, _line, _raw}`` with ``_raw`` the row as JSON.

    Values JSON has no type for (bytes, decimals) are written as their ``str``; the record keeps every column.
    """

    def _open_input_source(self, filesystem: pafs.FileSystem, path: str, **open_args: Any) -> pa.NativeFile:
        return filesystem.open_input_file(path)  # Parquet needs random access (the footer first)

    def _read_stream(self, f: pa.NativeFile, path: str) -> Iterator[Block]:
        rows = _Rows(path)
        n = 0
        for batch in pq.ParquetFile(f).iter_batches(batch_size=READ_BLOCK_LINES):
            for rec in batch.to_pylist():
                n += 1
                rows.add(n, json.dumps(rec, ensure_ascii=False, default=_json_value).encode("utf-8"))
                if rows.full():
                    yield rows.flush()
        if rows.lines:
            yield rows.flush()


def _json_value(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


class _Rows:
    """The rows of one read block, built up line by line (blank lines too: they come back as error records)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: list[int] = []
        self.raws: list[bytes] = []
        self.nbytes = 0

    def add(self, lineno: int, raw: bytes) -> None:
        self.lines.append(lineno)
        self.raws.append(raw)
        self.nbytes += len(raw)

    def full(self) -> bool:
        return len(self.lines) >= READ_BLOCK_LINES or self.nbytes >= READ_BLOCK_BYTES

    def flush(self) -> Block:
        block = pa.table({FILE: pa.array([self.path] * len(self.lines), pa.string()),
                          LINE: pa.array(self.lines, pa.int64()), RAW: pa.array(self.raws, pa.binary())})
        self.lines, self.raws, self.nbytes = [], [], 0
        return block


def read_inputs(paths: Sequence[str], *, fmt: str | None = None, **read_args: Any) -> tuple[Any, list[str]]:
    """A Ray Dataset of ``{_file, _line, _raw}`` rows over JSONL or Parquet ``paths`` (``expand_inputs``), and
    the files it reads in order, named as ``_file`` names them (folders listed; ``bucket/key`` for s3://)."""
    cls = ParquetRowsSource if input_format(paths, fmt) == "parquet" else JsonLinesSource
    try:
        source = cls(list(paths))
    except ValueError as exc:  # an empty folder; local files through Ray Client, which the cluster cannot see
        raise JobArgumentError(str(exc)) from exc
    return ray.data.read_datasource(source, **read_args), list(source._paths())


def parse_line(file: str, line: int, raw: bytes) -> Record:
    """A read row as a record: the parsed line or an error record, with ``_file`` and ``_line`` set."""
    rec = parse_jsonl_line(bytes(raw), int(line))
    return with_position(rec if rec is not None else blank_line(int(line)), file, line)


def with_position(rec: Record, file: str, line: int) -> Record:
    """``rec`` with its input position (``_file``, ``_line``) as its last fields; earlier values are replaced."""
    out = {k: v for k, v in rec.items() if k not in (FILE, LINE)}
    out[FILE], out[LINE] = str(file), int(line)
    return out


def records_of(batch: dict[str, Any]) -> list[Record]:
    """The records of a read batch (numpy format), parsed, in order."""
    return [parse_line(f, n, r) for f, n, r in zip(batch[FILE], batch[LINE], batch[RAW], strict=True)]


def pack(records: Iterable[Record]) -> dict[str, Any]:
    """Output records as a batch: ``_json`` (one JSON line each) and ``_error`` (the record has an error); an
    error record also carries ``line``, as in every command's error records."""
    recs = [{**r, "line": r[LINE]} if "error" in r and LINE in r else r for r in records]
    return {JSON: np.array([dumps(r) for r in recs], dtype=object),
            ERROR: np.array(["error" in r for r in recs], dtype=bool)}


class _PartNames(FilenameProvider):
    def get_filename_for_task(self, write_uuid: str, task_index: int) -> str:
        return f"part-{task_index:06d}.jsonl"


class JsonLinesSink(BlockBasedFileDatasink):
    """Ray datasink: each write task writes one part file of ``_json`` lines; the driver writes the manifest.

    After the write, ``lines``, ``errors`` and ``parts`` hold the totals and the part files in input order.
    """

    def __init__(self, path: str, *, part_bytes: int = PART_BYTES, sources: Sequence[str] = ()) -> None:
        super().__init__(path, filename_provider=_PartNames(), file_format="jsonl")
        self.part_bytes = part_bytes
        self.sources = list(sources)
        self.lines = self.errors = 0
        self.parts: list[str] = []

    def write(self, blocks: Iterable[Block], ctx: Any) -> dict[str, Any]:  # type: ignore[override]
        accessors = [BlockAccessor.for_block(b) for b in blocks]
        accessors = [a for a in accessors if a.num_rows()]
        if not accessors:
            return {"part": None, "lines": 0, "errors": 0}
        block = BlockAccessor.for_block(pa.concat_tables([a.to_arrow() for a in accessors], promote_options="permissive"))
        self.write_block(block, 0, ctx)
        errors = int(np.asarray(block.to_arrow().column(ERROR)).sum())
        return {"part": self.filename_provider.get_filename_for_task("", ctx.task_idx), "task": ctx.task_idx,
                "lines": block.num_rows(), "errors": errors}

    @property
    def min_bytes_per_write(self) -> int:
        return self.part_bytes

    def write_block_to_file(self, block: BlockAccessor, file: pa.NativeFile) -> None:
        for chunk in block.to_arrow().column(JSON).chunks:
            file.write("".join(s + "\n" for s in chunk.to_pylist()).encode("utf-8"))

    def on_write_complete(self, write_result: WriteResult[Any]) -> None:
        done = sorted((r for r in write_result.write_returns if r and r["part"]), key=lambda r: r["task"])
        self.lines = sum(r["lines"] for r in done)
        self.errors = sum(r["errors"] for r in done)
        self.parts = [r["part"] for r in done]
        manifest = {"format": PARTS_FORMAT, "version": 1, "lines": self.lines, "errors": self.errors,
                    "parts": self.parts, "sources": self.sources}
        text = json.dumps(manifest, indent=2, ensure_ascii=False)
        if "://" in self.unresolved_path:
            with self.filesystem.open_output_stream(f"{self.path}/{MANIFEST}") as fh:
                fh.write(text.encode("utf-8"))
        else:
            Path(self.path).mkdir(parents=True, exist_ok=True)  # no part was written when no line was read
            atomic_write_text(Path(self.path) / MANIFEST, text)


def require_empty_folder(dest: str) -> None:
    """Refuse an output folder that holds files already (old parts would mix with the new ones)."""
    fs, root = pafs.FileSystem.from_uri(dest if "://" in dest else str(Path(dest).resolve()))
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        return
    if info.type != pafs.FileType.Directory:
        raise JobArgumentError(f"output {dest} is a file; give a folder for the part files")
    if fs.get_file_info(pafs.FileSelector(root, recursive=False)):
        raise JobArgumentError(f"output folder {dest} is not empty; give a new folder (part files of two runs "
                               "must not mix)")
