"""Structured attention-head pruning for BERT-style encoders, plus a short recovery fine-tune.

Why heads and not weight magnitudes: removing whole heads shrinks the Q/K/V and output matrices, so
dense kernels (PyTorch, onnxruntime, int8 or not) do less work; unstructured magnitude sparsity leaves
the matrices dense and gives no speed-up without sparse kernels.

Importance of a head = L2 norm of its Q, K, V rows and of its columns in the attention output matrix
(data-free, works for encoders without labels). Heads are ranked globally; every layer keeps at least one.

>>> pruned = prune_heads(model, fraction=0.25)  # doctest: +SKIP
>>> pruned                                      # doctest: +SKIP
{0: [3, 7, 9], 1: [0, 5, 11], ...}
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from babelcart.progress import progress

logger = logging.getLogger(__name__)


def _attention_blocks(model: Any) -> list[tuple[Any, Any]]:
    """``(self_attention, self_output)`` for every attention block with BERT's ``query/key/value`` layout."""
    blocks = []
    for _, mod in model.named_modules():
        sa = getattr(mod, "self", None)
        owner = getattr(mod, "output", None)
        if sa is not None and owner is not None and hasattr(owner, "dense") \
                and all(hasattr(sa, n) for n in ("query", "key", "value")) and hasattr(sa, "attention_head_size"):
            blocks.append((sa, owner))
    return blocks


def head_importance(model: Any) -> list[list[float]]:
    """Per layer, per head: weight-norm importance (see the module docstring)."""
    import torch

    scores = []
    with torch.no_grad():
        for sa, owner in _attention_blocks(model):
            out = owner.dense
            d = int(sa.attention_head_size)
            n = int(sa.query.weight.shape[0]) // d
            layer = []
            for h in range(n):
                rows = slice(h * d, (h + 1) * d)
                sq = sum(float(lin.weight[rows].pow(2).sum()) for lin in (sa.query, sa.key, sa.value))
                sq += float(out.weight[:, rows].pow(2).sum())
                layer.append(sq ** 0.5)
            scores.append(layer)
    return scores


def _slice_linear(lin: Any, index: Any, dim: int) -> Any:
    """A new Linear keeping ``index`` along ``dim`` (0 = outputs, 1 = inputs)."""
    import torch

    w = lin.weight.index_select(dim, index).detach().clone()
    b = None
    if lin.bias is not None:
        b = (lin.bias.index_select(0, index) if dim == 0 else lin.bias).detach().clone()
    new = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None, device=w.device, dtype=w.dtype)
    with torch.no_grad():
        new.weight.copy_(w)
        if b is not None:
            new.bias.copy_(b)
    return new


def _prune_block(sa: Any, owner: Any, heads: Sequence[int]) -> None:
    import torch

    d = int(sa.attention_head_size)
    n = int(sa.query.weight.shape[0]) // d
    keep_heads = [h for h in range(n) if h not in set(heads)]
    index = torch.tensor([h * d + i for h in keep_heads for i in range(d)], dtype=torch.long,
                         device=sa.query.weight.device)
    sa.query = _slice_linear(sa.query, index, 0)
    sa.key = _slice_linear(sa.key, index, 0)
    sa.value = _slice_linear(sa.value, index, 0)
    owner.dense = _slice_linear(owner.dense, index, 1)
    sa.num_attention_heads = len(keep_heads)
    sa.all_head_size = len(keep_heads) * d


def prune_heads(model: Any, *, fraction: float, importance: list[list[float]] | None = None) -> dict[int, list[int]]:
    """Remove the ``fraction`` least important attention heads of ``model`` in place.

    Returns ``{layer: [removed head indices]}``. Raises ``ValueError`` when the model has no BERT-style
    attention blocks or ``fraction`` is outside ``[0, 1)``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"prune fraction must be in [0, 1), not {fraction}")
    blocks = _attention_blocks(model)
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no BERT-style attention blocks (query/key/value); "
                         "head pruning supports BERT, XLM-R, RoBERTa, E5 and similar encoders")
    scores = importance or head_importance(model)
    ranked = sorted((s, layer, h) for layer, hs in enumerate(scores) for h, s in enumerate(hs))
    total = sum(len(hs) for hs in scores)
    target = int(round(fraction * total))
    removed: dict[int, list[int]] = {}
    for _, layer, h in ranked:
        if sum(len(v) for v in removed.values()) >= target:
            break
        if len(removed.get(layer, [])) + 1 >= len(scores[layer]):  # keep at least one head per layer
            continue
        removed.setdefault(layer, []).append(h)
    for layer, heads in sorted(removed.items()):
        sa, owner = blocks[layer]
        _prune_block(sa, owner, sorted(heads))
    kept = total - sum(len(v) for v in removed.values())
    logger.info("pruned %d of %d attention heads", total - kept, total)
    return {k: sorted(v) for k, v in sorted(removed.items())}


def recovery_finetune(
    module: Any, batches: Callable[[Sequence[str]], dict[str, Any]], texts: Sequence[str], labels: Sequence[int], *,
    steps: int = 200, batch_size: int = 16, lr: float = 3e-5, seed: int = 0, show_progress: bool | None = None,
) -> list[float]:
    """Fine-tune a pruned classifier ``module(input_ids, attention_mask) -> logits`` for ``steps`` steps.

    ``batches(texts)`` tokenizes into torch tensors. Returns the loss of every step; leaves ``module`` in eval mode.
    """
    import torch

    if len(texts) != len(labels) or not len(texts):
        raise ValueError("recovery fine-tuning needs the same positive number of texts and labels")
    gen = torch.Generator().manual_seed(seed)
    y_all = torch.tensor(list(labels), dtype=torch.long)
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=lr)
    module.train()
    losses = []
    for _ in progress(range(steps), total=steps, desc="recovery fine-tune", enabled=show_progress):
        idx = torch.randint(0, len(texts), (min(batch_size, len(texts)),), generator=gen)
        feeds = batches([texts[int(i)] for i in idx])
        logits = module(feeds["input_ids"], feeds["attention_mask"])
        loss = torch.nn.functional.cross_entropy(logits, y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    module.eval()
    return losses
