"""Shard folders as `babelcart index build --engine ray` writes them, built in-process for tests."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

from babelcart.apps.search import SearchIndex


def write_shards(dest: Path, products: list[dict[str, Any]], n: int, encoder: Any) -> None:
    """Shard folders + shards.json in the format of babelcart.scale.ray_jobs.index_catalog."""
    parts: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for p in products:
        parts[zlib.crc32(str(p["id"]).encode("utf-8")) % n].append(p)
    built = []
    for s, part in enumerate(parts):
        ix = SearchIndex.build(part, encoder=encoder)
        ix.save(dest / f"shard-{s:05d}")
        built.append({"path": f"shard-{s:05d}", "products": len(ix), "errors": 0})
    manifest = {"format": "babelcart-search-shards", "version": 1, "encoder": encoder.spec,
                "text_fields": ["title", "description"], "num_shards": n, "shards": built,
                "products": sum(b["products"] for b in built), "skipped": []}
    (dest / "shards.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
