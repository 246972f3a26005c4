"""docs/benchmarks.md is generated from benchmarks/results/*.json by benchmarks/_report.py, and is up to date."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _report():
    spec = importlib.util.spec_from_file_location("benchmarks_report", ROOT / "benchmarks" / "_report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_page_is_what_the_results_give() -> None:
    report = _report()
    page = report.render()
    assert (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8") == page, \
        "docs/benchmarks.md is out of date: run `make benchmarks-doc`"
    assert report.main(["--check"]) == 0
    for result in (ROOT / "benchmarks" / "results").glob("*.json"):
        assert f"[{result.stem}.json]" in page
    for plot in (ROOT / "benchmarks" / "results").glob("*.png"):
        assert f"(../benchmarks/results/{plot.name})" in page


def test_every_row_carries_its_run_and_old_files_say_not_recorded(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    machine = {"date": "2026-12-03T13:25:09+00:00", "python": "3.11.7", "cpu_count": 2, "machine": "x86_64",
               "load_avg_1m_start": 1.13, "load_avg_1m_median": 1.82, "load_avg_1m_max": 2.75, "busy": True}
    (results / "new.json").write_text(json.dumps({
        "benchmark": "new", "machine": machine, "k": 10,
        "methods": {"popularity": {"recall@10": 0.0794, "users": 1018}, "ours": {"recall@10": 0.31416, "users": 1018}},
        "later": {"measured": "2026-12-06 21:34 UTC", "peers": {"int8": {"acc": 0.898}}}}))
    (results / "old.json").write_text(json.dumps({"benchmark": "old", "results": {"a": {"x": 1.5}}, "python": "3.11.7"}))
    (results / "new.png").write_bytes(b"\x89PNG")
    page = _report().render(results)
    rows = [line for line in page.splitlines() if line.startswith("| ours ")]
    assert rows == ["| ours | 0.3142 | 1018 | 2026-12-03 13:25 | x86_64, 2 CPUs | 1.13 / 1.82 / 2.75 busy |"]
    assert "| int8 | 0.898 | 2026-12-06 21:34 | x86_64, 2 CPUs | 1.13 / 1.82 / 2.75 busy |" in page
    assert "| a | 1.5 | not recorded | Python 3.11.7 | not recorded |" in page
    assert "![new](../benchmarks/results/new.png)" in page and "k = 10" in page
