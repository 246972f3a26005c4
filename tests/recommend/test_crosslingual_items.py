"""Item-to-item across languages on real multilingual product names (Open Food Facts, ../shared/data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from babelcart.apps.recommend import SimilarItems, embed_products

OFF = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "products" / "openfoodfacts_sample.jsonl"


def _multilingual_names() -> tuple[list[dict], list[tuple[int, int]]]:
    """Every name of the products that carry names in several languages, and (query, same product) pairs
    whose names differ (identical strings in two languages would make the test trivial)."""
    items: list[dict] = []
    pairs: list[tuple[int, int]] = []
    for line in OFF.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        names = {lg: n.strip() for lg, n in (d.get("product_names") or {}).items() if n and n.strip()}
        if len(names) < 2:
            continue
        first = len(items)
        langs = sorted(names)
        items += [{"id": f"{d['code']}:{lg}", "title": names[lg], "lang": lg} for lg in langs]
        pairs += [(first + a, first + b) for a in range(len(langs)) for b in range(len(langs))
                  if a != b and names[langs[a]].casefold() != names[langs[b]].casefold()]
    return items, pairs


@pytest.mark.slow
def test_same_product_is_found_from_its_name_in_another_language(e5) -> None:
    if not OFF.exists():
        pytest.skip(f"{OFF} is absent (needs ../shared/data)")
    items, pairs = _multilingual_names()
    assert len(pairs) >= 40 and len({it["lang"] for it in items}) >= 3
    sim = SimilarItems(category_bonus=0, price_penalty=0).fit([it["id"] for it in items],
                                                             embed_products(items, e5, show_progress=False))
    hits = []
    for q, target in pairs:
        s = sim.rescore(np.asarray([q]))[0]
        hits.append(target in np.argsort(-s, kind="stable")[:10].tolist())
    recall = float(np.mean(hits))
    chance = 10 / (len(items) - 1)
    assert recall > 0.6 and recall > 5 * chance, f"cross-lingual recall@10 {recall:.3f} (chance {chance:.3f})"
