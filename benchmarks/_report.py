"""Write ``docs/benchmarks.md`` from ``benchmarks/results/*.json``: every number in it comes from a result file.

    python benchmarks/_report.py            # (re)write docs/benchmarks.md  (``make benchmarks-doc``)
    python benchmarks/_report.py --check    # exit 1 when docs/benchmarks.md is not what the results give

One section per benchmark script, one subsection per result file, with the file's plot. Every table row carries
the date, machine and load of the run it came from, as the file records them (``_common.write_result`` adds
``machine``: date, CPUs, Python, 1-minute load average at start, median and max; a part measured at another time
records its own ``date`` or ``measured``). Older files that lack a field say "not recorded".

Tables are found in the JSON by shape: a markdown ``table`` string, ``{"header", "rows"}``, a list of records, or
a mapping of names to records (flattened one level: ``latency.p50_ms``). Floats keep 4 significant digits.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DOC = HERE.parent / "docs" / "benchmarks.md"
NOT_RECORDED = "not recorded"
MAX_COLUMNS = 16  # a record's columns shown (the rest stay in the JSON, and the table says so)
MAX_ROWS = 30
MAX_DEPTH = 2  # tables nested deeper (per language inside per variant ...) stay in the JSON
RUN_COLUMNS = ["run (UTC)", "machine", "load start / median / max"]
#: Headline tables nested deeper than ``MAX_DEPTH``, per script (``*``: every key at that level).
DEEP_TABLES = {"search_crosslingual": ["datasets/*/variants"], "active_learning": ["results/*/*"]}
SKIP_KEYS = {"machine", "benchmark", "meta", "args"}  # run metadata, shown in the run columns instead


def fmt(x: Any) -> str:
    """A cell: floats to 4 significant digits, lists joined, ``|`` escaped."""
    if isinstance(x, bool) or x is None:
        text = "–" if x is None else str(x).lower()
    elif isinstance(x, float):
        text = f"{x:.4g}"
    elif isinstance(x, list):
        text = ", ".join(fmt(v) for v in x)
    else:
        text = str(x)
    return text.replace("|", "\\|").replace("\n", " ")


def _date(text: Any) -> str:
    """``2026-12-03T13:25:09+00:00`` → ``2026-12-03 13:25 UTC``; other strings as they are."""
    if not isinstance(text, str) or not text:
        return NOT_RECORDED
    if len(text) >= 16 and text[10] == "T":
        return f"{text[:10]} {text[11:16]}"
    return text.removesuffix(" UTC")


def run_info(result: dict[str, Any]) -> dict[str, str]:
    """The run's date, machine and load as the file records them (``not recorded`` where it does not)."""
    m = result.get("machine")
    meta = result.get("meta") if isinstance(result.get("meta"), dict) else {}
    if isinstance(m, dict):
        machine = f"{m.get('machine', '?')}, {m.get('cpu_count', '?')} CPUs"
        date = _date(m.get("date"))
    else:
        cpus = f", {meta['cpus']} CPUs" if "cpus" in meta else ""
        python = result.get("python") or meta.get("python")
        machine = (m if isinstance(m, str) else meta.get("machine")) or (f"Python {python}" if python else "")
        machine = f"{machine}{cpus}" if machine else NOT_RECORDED
        date = _date(result.get("date") or meta.get("date"))
    if isinstance(m, dict) and "load_avg_1m_start" in m:
        load = (f"{m['load_avg_1m_start']} / {m['load_avg_1m_median']} / {m['load_avg_1m_max']}"
                + (" busy" if m.get("busy") else ""))
    else:
        load = NOT_RECORDED
    return {"date": date, "machine": machine, "load": load}


def script_of(stem: str, scripts: list[str]) -> str:
    """The benchmark script that wrote ``results/<stem>.json``: the longest script name the stem starts with."""
    names = sorted((s for s in scripts if stem == s or stem.startswith(s + "_")), key=len, reverse=True)
    return names[0] if names else stem


# ------------------------------------------------------------------------------------------------ tables
def _is_scalar(x: Any) -> bool:
    return x is None or isinstance(x, str | int | float | bool) or (
        isinstance(x, list) and len(x) <= 4 and all(isinstance(v, str | int | float) for v in x))


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """A record's scalar fields, and those of its nested records one level down as ``outer.inner``."""
    out: dict[str, Any] = {}
    for k, v in record.items():
        if _is_scalar(v):
            out[str(k)] = v
        elif isinstance(v, dict):
            out.update({f"{k}.{ik}": iv for ik, iv in v.items() if _is_scalar(iv)})
    return out


def _record_table(records: list[tuple[str | None, dict[str, Any]]]) -> tuple[list[str], list[list[Any]]]:
    flats = [(name, _flat(r)) for name, r in records]
    columns: list[str] = []
    for _, f in flats:
        columns += [c for c in f if c not in columns]
    header = ([""] if records[0][0] is not None else []) + columns
    rows = [([name] if name is not None else []) + [f.get(c) for c in columns] for name, f in flats]
    return header, rows


def _markdown_rows(text: str) -> tuple[list[str], list[list[Any]]] | None:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("|")]
    if len(lines) < 3:
        return None
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    return cells[0], cells[2:]


def find_tables(obj: Any, path: tuple[str, ...] = (), when: str | None = None, max_depth: int = MAX_DEPTH
                ) -> Iterator[tuple[tuple[str, ...], str | None, list[str], list[list[Any]]]]:
    """``(path, date, header, rows)`` for every table in ``obj`` down to ``max_depth``; ``date`` is the nearest
    ``measured``/``date`` recorded above the table (None: the file's)."""
    if len(path) > max_depth:
        return
    if isinstance(obj, dict):
        own = obj.get("measured") or obj.get("date")
        when = own if isinstance(own, str) else when
        if isinstance(obj.get("header"), list) and isinstance(obj.get("rows"), list):
            yield path, when, [str(h) for h in obj["header"]], obj["rows"]
            return
        items = [(str(k), v) for k, v in obj.items() if path or k not in SKIP_KEYS]
        if items and all(isinstance(v, dict) for _, v in items) and any(
                any(_is_scalar(x) for x in v.values()) for _, v in items):
            header, rows = _record_table(items)
            yield path, when, header, rows
            return
        for k, v in obj.items():
            if not path and k in SKIP_KEYS:
                continue
            if k == "table" and isinstance(v, str):
                parsed = _markdown_rows(v)
                if parsed:
                    yield (*path, k), when, *parsed
            elif isinstance(v, dict | list):
                yield from find_tables(v, (*path, str(k)), when, max_depth)
    elif isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        header, rows = _record_table([(None, v) for v in obj])
        yield path, when, header, rows


def deep_tables(result: dict[str, Any], pattern: str
                ) -> Iterator[tuple[tuple[str, ...], str | None, list[str], list[list[Any]]]]:
    """The tables at ``pattern`` (``a/*/b``) in ``result``, however deep."""
    nodes: list[tuple[tuple[str, ...], Any]] = [((), result)]
    for part in pattern.split("/"):
        nodes = [((*p, str(k)), v) for p, node in nodes if isinstance(node, dict)
                 for k, v in node.items() if part in ("*", k)]
    for path, node in nodes:
        yield from find_tables(node, path, None, len(path))


def render_table(header: list[str], rows: list[list[Any]], run: dict[str, str], when: str | None) -> str:
    """A markdown table with the run's date, machine and load on every row."""
    extra_cols = max(len(header) - MAX_COLUMNS, 0)
    header, rows = header[:MAX_COLUMNS], [r[:MAX_COLUMNS] for r in rows]
    date = _date(when) if when else run["date"]
    lines = ["| " + " | ".join(fmt(h) for h in header + RUN_COLUMNS) + " |", "|" + "---|" * (len(header) + 3)]
    run_cells = [fmt(date), fmt(run["machine"]), fmt(run["load"])]
    lines += ["| " + " | ".join([fmt(c) for c in r] + [""] * (len(header) - len(r)) + run_cells) + " |"
              for r in rows[:MAX_ROWS]]
    notes = []
    if len(rows) > MAX_ROWS:
        notes.append(f"{len(rows) - MAX_ROWS} more rows")
    if extra_cols:
        notes.append(f"{extra_cols} more columns")
    return "\n".join(lines) + (f"\n\n({' and '.join(notes)} in the JSON.)" if notes else "")


def _settings(result: dict[str, Any]) -> str:
    """The file's top-level scalars (data, cut-offs, counts) as one line."""
    items = [f"{k} = {fmt(v)}" for k, v in result.items()
             if k not in SKIP_KEYS and _is_scalar(v) and k not in ("date", "python") and len(fmt(v)) <= 120]
    return "; ".join(items)


# -------------------------------------------------------------------------------------------------- page
def render(results: Path = RESULTS) -> str:
    """The whole page for the result files in ``results``."""
    scripts = sorted(p.stem for p in results.parent.glob("*.py") if not p.stem.startswith("_"))
    files = sorted(results.glob("*.json"))
    loaded = {f.stem: json.loads(f.read_text(encoding="utf-8")) for f in files}
    runs = {stem: run_info(r) for stem, r in loaded.items()}
    out = ["# Benchmarks", "",
           "Generated by `make benchmarks-doc` (`benchmarks/_report.py`) from `benchmarks/results/*.json`; do not edit",
           "by hand: rerun a benchmark, then regenerate. Each benchmark script runs its peers side by side in one run",
           "and writes one result file; every row below carries the date, machine and load (1-minute load average) of",
           "the run it came from. A run marked busy had other jobs on the machine: its timings are inflated, its",
           "quality numbers are not. Older result files did not record every field (\"not recorded\").", "",
           "## Result files", "",
           "| result file | script | " + " | ".join(RUN_COLUMNS) + " |", "|---|---|---|---|---|"]
    for stem in loaded:
        run = runs[stem]
        script = script_of(stem, scripts)
        out.append(f"| [{stem}.json](#{stem}) | `benchmarks/{script}.py` | {fmt(run['date'])} | "
                   f"{fmt(run['machine'])} | {fmt(run['load'])} |")
    by_script: dict[str, list[str]] = {}
    for stem in loaded:
        by_script.setdefault(script_of(stem, scripts), []).append(stem)
    for script, stems in by_script.items():
        out += ["", f"## `benchmarks/{script}.py`"]
        for stem in stems:
            result, run = loaded[stem], runs[stem]
            out += ["", f"### {stem}", "",
                    f"`benchmarks/results/{stem}.json` — run {run['date']}; {run['machine']}; load {run['load']}."]
            settings = _settings(result)
            if settings:
                out += ["", settings]
            png = results / f"{stem}.png"
            if png.exists():
                out += ["", f"![{stem}](../benchmarks/results/{png.name})"]
            deep = [t for pattern in DEEP_TABLES.get(script, []) for t in deep_tables(result, pattern)]
            for path, when, header, rows in [*find_tables(result), *deep]:
                if not rows:
                    continue
                out += ["", f"**{' › '.join(path) or stem}**", "", render_table(header, rows, run, when)]
    orphans = sorted(p for p in results.glob("*.png") if p.stem not in loaded)
    if orphans:
        out += ["", "## Plots without a result file", ""]
        out += [f"![{p.stem}](../benchmarks/results/{p.name})" for p in orphans]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail when docs/benchmarks.md is out of date")
    args = ap.parse_args(argv)
    page = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != page:
            print(f"{DOC} is out of date: run `make benchmarks-doc`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(page, encoding="utf-8")
    print(f"wrote {DOC} ({len(page):,} characters, {len(list(RESULTS.glob('*.json')))} result files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
