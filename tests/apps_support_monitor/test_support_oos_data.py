"""The bundled out-of-scope examples come only from the xSID rows the benchmark neither tunes nor tests on."""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from pathlib import Path

import pytest

from babelcart.apps.support import load_templates

SPLIT = Path(__file__).resolve().parents[2] / "benchmarks" / "_xsid_split.py"


@pytest.fixture(scope="module")
def rows(data_dir: Path):
    if not (data_dir / "intents" / "xsid_valid.jsonl").exists():
        pytest.skip("../shared/data/intents/xsid_valid.jsonl not present")
    spec = importlib.util.spec_from_file_location("_xsid_split", SPLIT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.xsid_rows()


def test_translations_share_a_part(rows):
    by_key = defaultdict(set)
    for r in rows:
        by_key[r["key"]].add(r["part"])
    assert all(len(parts) == 1 for parts in by_key.values())
    # the grouping follows the translations: German and Chinese rows of one English sentence share its key
    en = {r["key"] for r in rows if r["lang"] == "en"}
    assert sum(r["key"] in en for r in rows if r["lang"] in ("de", "zh", "no", "lt")) >= 0.99 * sum(
        r["lang"] in ("de", "zh", "no", "lt") for r in rows)
    assert {r["part"] for r in rows} == {"test", "dev_pool", "dev_tune"}


def test_bundled_xsid_examples_come_from_dev_pool_only(rows):
    parts = defaultdict(set)
    for r in rows:
        parts[r["text"]].add(r["part"])
    other = load_templates()["intents"]["other"]["examples"]
    copied = [e for ex in other.values() for e in ex if e in parts]
    assert len(copied) >= 100
    assert set().union(*(parts[e] for e in copied)) == {"dev_pool"}  # no text also in a tuned or tested row
