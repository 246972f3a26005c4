"""Tiny fine-tuned classifier folders (the layout of docs/finetune.md) built in code for the export tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.finetune.tiny_models import build_tiny_bert

SENTENCES = [
    "great product, fast shipping, would buy again",
    "terrible quality, broke after one day, very bad",
    "good good good great excellent love",
    "bad bad awful poor worst hate",
]


def build_finetuned(path: Path, *, task: str = "classify", labels: list | None = None, seed: int = 0,
                    num_heads: int = 4, rating_head: str = "coral", rating_decode: str | None = None) -> Path:
    """A ``method: finetune`` folder around a random tiny BERT with a random head (no training); a rating
    model's head is ``coral`` or ``softmax``, decoded by ``rating_decode`` (unset: the median, as older folders)."""
    import torch
    from safetensors.torch import save_file

    from babelcart.models.folder import FORMAT, FORMAT_VERSION

    labels = labels or (["neg", "pos", "neutral"] if task == "classify" else [1, 2, 3, 4, 5])
    enc = build_tiny_bert(path / "encoder", hidden_size=32, num_heads=num_heads, seed=seed)
    shutil.copytree(enc, path / "tokenizer", ignore=shutil.ignore_patterns("model.safetensors", "config.json"))
    torch.manual_seed(seed + 1)
    n = len(labels)
    head_type = "linear" if task == "classify" else rating_head
    rows = 1 if head_type == "coral" else n
    bias = torch.sort(torch.randn(n - 1), descending=True).values if head_type == "coral" else torch.randn(n)
    head = {"head.weight": torch.randn(rows, 32) * 2.0, "head.bias": bias}
    save_file(head, str(path / "model.safetensors"))
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "babelcart_version": "0.1.0", "method": "finetune",
        "task": task, "labels": labels, "encoder_spec": f"hf:{enc}", "base_model": str(enc), "pooling": "mean",
        "max_length": 64, "query_prefix": "", "passage_prefix": "",
        "head": {"type": head_type, "dim": 32, "n_labels": n, **({"decode": rating_decode} if rating_decode else {})},
    }
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path
