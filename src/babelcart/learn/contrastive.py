"""Multilingual contrastive alignment: symmetric InfoNCE with in-batch negatives on parallel sentence pairs.

``info_nce(a, b)`` pulls each translation pair ``(a[i], b[i])`` together and pushes ``a[i]`` away from every
other ``b[j]`` in the batch (and vice versa)::

    loss = ½ · [CE(softmax_j(cos(a_i, b_j) / τ), i) + CE(softmax_j(cos(b_i, a_j) / τ), i)]

It is used by :func:`babelcart.learn.finetune.train_finetune` (``contrastive_weight > 0``) and on its own by
:func:`train_contrastive`, which aligns an encoder on parallel pairs and writes a plain ``hf:`` folder.

>>> path = train_contrastive([("蓝牙耳机", "bluetooth headphones"), ...],   # doctest: +SKIP
...                          encoder_spec="hf:/models/e5", out_dir="aligned")
>>> get_encoder(f"hf:{path}")                                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from babelcart.encoders.hf import embed_batch, load_hf, pick_device, token_limit
from babelcart.fsutil import atomic_dir
from babelcart.learn.finetune_base import np_rng, resolve_base, seed_everything, tensorboard_writer, wrap_lora
from babelcart.models.finetuned import require_train
from babelcart.progress import progress

logger = logging.getLogger(__name__)


def info_nce(a: Any, b: Any, *, temperature: float = 0.05) -> Any:
    """Symmetric InfoNCE over a batch of paired vectors ``a[i] ↔ b[i]`` (``[B, H]`` torch tensors).

    Vectors are L2-normalized here; ``temperature`` scales the cosines (smaller = sharper).
    """
    import torch
    import torch.nn.functional as F

    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"info_nce needs two [B, H] tensors of the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, not {temperature}")
    a = F.normalize(a.float(), dim=-1)
    b = F.normalize(b.float(), dim=-1)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def check_pairs(pairs: Sequence[Sequence[str]] | None) -> list[tuple[str, str]]:
    """Validate parallel pairs: a list of ``(xx, en)`` string pairs; raises ``ValueError`` naming the bad one."""
    out: list[tuple[str, str]] = []
    for i, pair in enumerate(pairs or []):
        if isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"parallel pair {i} must be two texts (xx, en), got {pair!r}")
        a, b = pair
        if not isinstance(a, str) or not isinstance(b, str) or not a.strip() or not b.strip():
            raise ValueError(f"parallel pair {i} must hold two non-empty texts, got {pair!r}")
        out.append((a, b))
    return out


def train_contrastive(
    pairs: Sequence[Sequence[str]], *, encoder_spec: str, out_dir: str | Path, epochs: int = 1,
    batch_size: int = 32, lr: float = 2e-5, temperature: float = 0.05, max_length: int = 128,
    lora: bool = False, lora_r: int = 8, seed: int = 0, tensorboard_dir: str | Path | None = None,
    device: str | None = None, freeze_embeddings: bool = True, show_progress: bool | None = None,
) -> Path:
    """Fine-tune an encoder on parallel pairs with :func:`info_nce` only; save a plain HF folder to ``out_dir``.

    The result loads with ``get_encoder(f"hf:{out_dir}")`` and keeps the source model's prefixes (stored as
    ``babelcart_prefixes.json`` beside the weights, informative). ``freeze_embeddings`` (default) keeps the
    token-embedding table fixed, as fine-tuning does. Returns ``out_dir``.
    """
    require_train(lora=lora, tensorboard=tensorboard_dir is not None)
    import torch

    checked = check_pairs(pairs)
    if len(checked) < 2:
        raise ValueError("contrastive training needs at least 2 parallel pairs (in-batch negatives)")
    if batch_size < 2:
        raise ValueError("batch_size must be at least 2 for in-batch negatives")
    seed_everything(seed)
    base = resolve_base(encoder_spec)
    dev = pick_device(device)
    model, tokenizer = load_hf(base.name, device=dev)
    limit = token_limit(model, tokenizer, max_length)
    if lora:
        model = wrap_lora(model, r=lora_r)
    elif freeze_embeddings:
        for p in model.get_input_embeddings().parameters():
            p.requires_grad_(False)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    writer = tensorboard_writer(tensorboard_dir)
    rng = np_rng(seed)
    step = 0
    losses: list[float] = []
    for epoch in range(epochs):
        order = rng.permutation(len(checked))
        batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
        batches = [b for b in batches if len(b) >= 2]
        total = 0.0
        for batch in progress(batches, desc=f"contrastive epoch {epoch + 1}/{epochs}", enabled=show_progress):
            xs = [base.query_prefix + checked[i][0] for i in batch]
            ys = [base.query_prefix + checked[i][1] for i in batch]
            ea = embed_batch(model, tokenizer, xs, max_length=limit, device=dev)
            eb = embed_batch(model, tokenizer, ys, max_length=limit, device=dev)
            loss = info_nce(ea, eb, temperature=temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
            step += 1
            if writer is not None:
                writer.add_scalar("train/contrastive_loss", float(loss.detach()), step)
        losses.append(total / max(len(batches), 1))
        logger.info("contrastive epoch %d: loss %.4f", epoch + 1, losses[-1])
    if writer is not None:
        writer.close()
    if lora:
        model = model.merge_and_unload()
    model.eval()
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "babelcart_prefixes.json").write_text(json.dumps(
            {"query_prefix": base.query_prefix, "passage_prefix": base.passage_prefix,
             "source": encoder_spec, "epoch_losses": losses, "pairs": len(checked)}, indent=2))
    return Path(out_dir)
