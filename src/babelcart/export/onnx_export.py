"""Export an HF encoder folder or a fine-tuned classifier folder to ONNX (optionally pruned and int8).

The graph takes ``input_ids`` and ``attention_mask`` (int64, dynamic batch and sequence) and returns
``embeddings`` (mean pooling + L2 norm inside the graph) for encoders, or ``logits`` (the task head's raw
output) for classifiers. Exporting uses the TorchScript exporter (``dynamo=False``): torch 2.13's default
dynamo exporter needs ``onnxscript``, which babelcart does not install. Every export is verified against
PyTorch on sample texts (fp32 cosine must reach ``min_cosine``; int8 agreement is measured and recorded).

>>> export_transformer("models/my-e5", "models/my-e5-onnx", int8=True)  # doctest: +SKIP
PosixPath('models/my-e5-onnx')
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.encoders.onnx import FORMAT, FORMAT_VERSION, MODEL_FILES, TextBatcher, make_session
from babelcart.fsutil import atomic_dir, read_json_config
from babelcart.models.heads import softmax
from babelcart.version import __version__

logger = logging.getLogger(__name__)

OPSET = 17

#: Multilingual sample texts for verification (mixed lengths and scripts).
SAMPLE_TEXTS: tuple[str, ...] = (
    "great product, fast shipping, would buy again",
    "terrible quality, broke after one day",
    "where is my order? I want a refund",
    "das Kleid ist schön und passt gut, aber die Lieferung hat zwei Wochen gedauert",
    "produk bagus, pengiriman cepat",
    "质量很好，物流很快，非常满意",
    "品質が悪い、すぐに壊れた",
    "el producto es excelente",
    "ok",
    "bluetooth headphones with good battery life and a comfortable fit for long flights " * 3,
)


class ExportError(RuntimeError):
    """The export could not be produced or did not match PyTorch."""


def require_torch() -> None:
    """Fail fast with the install hint when torch / transformers are missing."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"exporting needs torch and transformers ({exc.name} is missing): "
                          "install babelcart[onnx]") from exc


@dataclass
class Source:
    """A loaded model ready to export: ``module(input_ids, attention_mask)`` gives the graph's output."""

    kind: str                      # encoder | classifier
    module: Any                    # torch.nn.Module, eval mode
    backbone: Any                  # the transformer inside (what pruning acts on)
    hf_tokenizer: Any
    max_length: int
    output_name: str
    dim: int
    labels: list[Any] = field(default_factory=list)
    task: str = ""
    head: dict[str, Any] = field(default_factory=dict)
    prefixes: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _modules() -> tuple[Any, Any]:
    """The torch wrapper classes, defined lazily so importing this module needs no torch."""
    import torch

    from babelcart.encoders.hf import mean_pool

    class EncoderGraph(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return torch.nn.functional.normalize(mean_pool(hidden, attention_mask), dim=-1)

    class ClassifierGraph(torch.nn.Module):
        def __init__(self, model: Any, head: Any) -> None:
            super().__init__()
            self.model = model
            self.head = head

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return self.head(mean_pool(hidden, attention_mask))

    return EncoderGraph, ClassifierGraph


def _SoftmaxToCumulativeLogits(n_labels: int) -> Any:  # noqa: N802 - builds a torch module lazily
    """A module mapping softmax logits ``[n, K]`` to cumulative logits ``[n, K-1]`` of ``P(y > k)``."""
    import torch

    class SoftmaxToCumulativeLogits(torch.nn.Module):
        above: torch.Tensor  # a registered buffer (Module.__getattr__ is typed Tensor | Module)

        def __init__(self) -> None:
            super().__init__()
            above = torch.arange(n_labels)[:, None] > torch.arange(n_labels - 1)[None, :]  # [j, k]: j > k
            self.register_buffer("above", above.float())

        def forward(self, logits: Any) -> Any:
            p_gt = (torch.softmax(logits, dim=-1) @ self.above).clamp(1e-7, 1 - 1e-7)
            return torch.log(p_gt) - torch.log1p(-p_gt)

    return SoftmaxToCumulativeLogits()


def load_source(path: str | os.PathLike[str], *, query_prefix: str | None = None,
                passage_prefix: str | None = None, prefix: str | None = None,
                max_length: int | None = None) -> Source:
    """Load ``path``: a fine-tuned classifier folder (``config.json`` method ``finetune``) or an HF encoder."""
    require_torch()
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder not found: {folder}")
    cfg = read_json_config(folder / "config.json", ExportError, missing=f"{folder} has no config.json: neither an "
                           "HF model folder nor a fine-tuned babelcart model")
    if cfg.get("method") == "finetune":
        return _load_finetuned(folder, cfg, max_length=max_length)
    if cfg.get("method"):
        raise ExportError(f"{folder} is a babelcart {cfg['method']!r} model; only 'finetune' models (a transformer "
                          "inside) and HF encoder folders can be exported to ONNX")
    return _load_encoder(folder, query_prefix=query_prefix, passage_prefix=passage_prefix, prefix=prefix,
                         max_length=max_length)


def _load_encoder(folder: Path, *, query_prefix: str | None, passage_prefix: str | None, prefix: str | None,
                  max_length: int | None) -> Source:
    from babelcart.encoders.hf import load_hf, resolve_prefixes, token_limit

    model, tok = load_hf(folder, device="cpu")
    encoder_graph, _ = _modules()
    q, p = resolve_prefixes(str(folder), prefix, query_prefix, passage_prefix)
    return Source(kind="encoder", module=encoder_graph(model).eval(), backbone=model, hf_tokenizer=tok,
                  max_length=token_limit(model, tok, max_length or 512), output_name="embeddings",
                  dim=int(model.config.hidden_size), prefixes={"query": q, "passage": p}, task="embed",
                  meta={"model_type": getattr(model.config, "model_type", None), "pooling": "mean+l2"})


def _load_finetuned(folder: Path, cfg: dict[str, Any], *, max_length: int | None) -> Source:
    import torch
    from safetensors.torch import load_file

    from babelcart.encoders.hf import load_hf, token_limit
    from babelcart.models.ordinal import rating_decode

    enc_dir = folder / "encoder"
    head_file = folder / "model.safetensors"
    for need in (enc_dir, head_file):
        if not need.exists():
            raise ExportError(f"fine-tuned model {folder} lacks {need.name} (see docs/finetune.md for the layout)")
    labels = list(cfg.get("labels") or [])
    task = cfg.get("task", "classify")
    if not labels:
        raise ExportError(f"{folder}/config.json has no labels")
    if task not in ("classify", "rating"):
        raise ExportError(f"cannot export task {task!r}; supported: classify, rating")
    model, tok = load_hf(enc_dir, device="cpu")
    try:
        state = load_file(str(head_file))
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types on a bad file
        raise ExportError(f"cannot read {head_file} (corrupted?): {exc}") from exc
    if "head.weight" not in state or "head.bias" not in state:
        raise ExportError(f"{head_file} lacks head.weight / head.bias")
    w, b = state["head.weight"].float(), state["head.bias"].float()
    head_type = (cfg.get("head") or {}).get("type", "linear" if task == "classify" else "coral")
    if head_type == "coral":
        # logit_k = h . w[0] + b[k]  ==  Linear(dim, K-1) with the weight row repeated
        weight = w[0:1].expand(b.shape[0], -1).clone()
    else:
        weight = w
    if weight.shape[0] != b.shape[0] or weight.shape[1] != model.config.hidden_size:
        raise ExportError(f"head shapes {tuple(w.shape)} / {tuple(b.shape)} do not fit hidden size "
                          f"{model.config.hidden_size} and {len(labels)} labels")
    head: Any = torch.nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        head.weight.copy_(weight)
        head.bias.copy_(b)
    if task == "rating" and head_type == "softmax":
        # the runtime reads a rating graph's output as cumulative logits log P(y > k) / P(y <= k): a softmax
        # head is turned into those exactly, so every rating model is decoded the same way (median, mean)
        head = torch.nn.Sequential(head, _SoftmaxToCumulativeLogits(len(labels)))
    _, classifier_graph = _modules()
    prefix = cfg.get("query_prefix") or ""
    limit = token_limit(model, tok, max_length or int(cfg.get("max_length") or 512))
    return Source(kind="classifier", module=classifier_graph(model, head).eval(), backbone=model,
                  hf_tokenizer=tok, max_length=limit, output_name="logits", dim=int(model.config.hidden_size),
                  labels=labels, task=task,
                  head={"type": head_type, "n_labels": len(labels),
                        **({"decode": rating_decode(cfg)} if task == "rating" else {})},
                  prefixes={"query": prefix, "passage": prefix},
                  meta={"model_type": getattr(model.config, "model_type", None), "pooling": "mean",
                        "encoder_spec": cfg.get("encoder_spec"), "base_model": cfg.get("base_model"),
                        "text_field": cfg.get("text_field", "text"),
                        "source_metrics": cfg.get("metrics")})


def torch_batches(src: Source) -> Any:
    """A function ``texts -> {"input_ids", "attention_mask"}`` (torch tensors) with the HF tokenizer."""
    def fn(texts: Sequence[str]) -> dict[str, Any]:
        b = src.hf_tokenizer(list(texts), padding=True, truncation=True, max_length=src.max_length,
                             return_tensors="pt")
        return {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}
    return fn


def torch_outputs(src: Source, texts: Sequence[str]) -> np.ndarray:
    """The PyTorch reference output for ``texts`` (prefix applied as at serve time)."""
    import torch

    texts = [src.prefixes.get("query", "") + t for t in texts]
    feeds = torch_batches(src)(texts)
    with torch.inference_mode():
        return src.module(feeds["input_ids"], feeds["attention_mask"]).float().numpy()


def to_onnx(src: Source, out_file: Path, *, opset: int = OPSET) -> Path:
    """Write ``src.module`` as ONNX with dynamic batch and sequence axes."""
    import torch

    feeds = torch_batches(src)(["a short text", "a somewhat longer text with more words to pad the other"])
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            src.output_name: {0: "batch"}}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the tracer warns about Python branches in transformers' mask code: the traced batch has
            # padding, so the masked path (always correct) is the one recorded; verify() checks the result
            warnings.simplefilter("ignore")
            torch.onnx.export(src.module, (feeds["input_ids"], feeds["attention_mask"]), str(out_file),
                              input_names=["input_ids", "attention_mask"], output_names=[src.output_name],
                              dynamic_axes=axes, opset_version=opset, dynamo=False, do_constant_folding=True)
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types
        raise ExportError(f"torch.onnx.export failed for {type(src.backbone).__name__}: {exc}") from exc
    return out_file


def readable(x: Any) -> float:
    """A validation number to 6 significant digits, as a reader reads it: 0.19469, not 0.19469000000000003
    (a tiny difference stays non-zero: 6.70552e-08)."""
    return float(f"{float(x):.6g}")


def _agreement(src: Source, ref: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """How close an ONNX output is to PyTorch's: cosine per row, plus argmax agreement for classifiers."""
    num = (ref * got).sum(1)
    den = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
    cos = num / np.maximum(den, 1e-12)
    out = {"min_cosine": cos.min(), "mean_cosine": cos.mean(), "max_abs_diff": np.abs(ref - got).max()}
    if src.kind == "classifier":
        if src.task == "classify":
            out["pred_agreement"] = (ref.argmax(1) == got.argmax(1)).mean()
            out["max_prob_diff"] = np.abs(softmax(ref) - softmax(got)).max()
        else:
            out["pred_agreement"] = ((ref > 0).sum(1) == (got > 0).sum(1)).mean()
    return {k: readable(v) for k, v in out.items()}


def verify(src: Source, folder: Path, model_file: str, texts: Sequence[str]) -> dict[str, float]:
    """Run ``folder/model_file`` through onnxruntime with the exported tokenizer and compare to PyTorch."""
    batcher = TextBatcher(folder / "tokenizer" / "tokenizer.json", max_length=src.max_length,
                          pad_id=int(src.hf_tokenizer.pad_token_id or 0), pad_token=src.hf_tokenizer.pad_token)
    session = make_session(folder / model_file)
    names = {i.name for i in session.get_inputs()}
    prefixed = [src.prefixes.get("query", "") + t for t in texts]
    got = np.asarray(session.run(None, {k: v for k, v in batcher(prefixed).items() if k in names})[0])
    return _agreement(src, torch_outputs(src, texts), got)


def _save_tokenizer(src: Source, dest: Path) -> None:
    src.hf_tokenizer.save_pretrained(str(dest))
    if not (dest / "tokenizer.json").is_file():
        raise ExportError("the model's tokenizer has no fast (tokenizers) version; ONNX serving needs "
                          "tokenizer.json")


def _recovery(src: Source, data: str | os.PathLike[str], *, text_field: str, label_field: str, steps: int,
              lr: float, seed: int) -> dict[str, Any]:
    from babelcart.datasets.records import read_records
    from babelcart.export.prune import recovery_finetune

    if src.kind != "classifier":
        raise ExportError("--recovery-data is for fine-tuned classifiers (encoders have no labels to recover on)")
    index = {str(lab): i for i, lab in enumerate(src.labels)}
    texts, ys, skipped = [], [], 0
    for rec in read_records(str(data)):
        lab = rec.get(label_field)
        txt = rec.get(text_field)
        if "error" in rec or not isinstance(txt, str) or str(lab) not in index:
            skipped += 1
            continue
        texts.append(src.prefixes.get("query", "") + txt)
        ys.append(index[str(lab)])
    if not texts:
        raise ExportError(f"no usable labelled lines in {data} (fields {text_field!r}/{label_field!r}, "
                          f"labels {src.labels})")
    if skipped:
        logger.warning("recovery data: skipped %d lines (bad JSON, missing text or unknown label)", skipped)
    if src.task != "classify":
        raise ExportError("recovery fine-tuning supports task 'classify' only")
    losses = recovery_finetune(src.module, torch_batches(src), texts, ys, steps=steps, lr=lr, seed=seed)
    return {"lines": len(texts), "skipped": skipped, "steps": steps, "lr": lr,
            "loss_first": round(float(np.mean(losses[:10])), 4), "loss_last": round(float(np.mean(losses[-10:])), 4)}


#: Below this share of sample texts on which int8 predicts what the source predicts, the export warns.
INT8_MIN_AGREEMENT = 0.95
#: Below this cosine between an int8 encoder's vectors and the source's, the export warns.
INT8_MIN_COSINE = 0.95


def int8_warning(validation: dict[str, Any]) -> str | None:
    """A warning when the int8 model strays from its source on the validation texts, else None."""
    int8 = validation.get("int8")
    if not int8:
        return None
    agree = int8.get("pred_agreement")
    if agree is not None and agree < INT8_MIN_AGREEMENT:
        return (f"the int8 model predicts what the source predicts on only {agree:.0%} of "
                f"{validation.get('texts', '?')} sample texts (below {INT8_MIN_AGREEMENT:.0%}); it is used by "
                "default when present: check it on your data, or export without --int8 (model.onnx, fp32)")
    if agree is None and int8.get("min_cosine", 1.0) < INT8_MIN_COSINE:
        return (f"the int8 encoder's vectors reach a cosine of only {int8['min_cosine']:.3f} to the source's "
                f"(below {INT8_MIN_COSINE}); check retrieval on your data, or export without --int8")
    return None


def check_options(*, opset: int, prune: float, recovery_data: str | os.PathLike[str] | None) -> None:
    """Refuse export options that cannot work together, before anything is loaded."""
    require_torch()
    if opset < 14:
        raise ValueError("opset must be at least 14")
    if recovery_data is not None and not prune:
        raise ValueError("--recovery-data only makes sense with --prune")


def export_transformer(
    source: str | os.PathLike[str], out: str | os.PathLike[str], *, int8: bool = False, keep_fp32: bool = True,
    prune: float = 0.0, recovery_data: str | os.PathLike[str] | None = None, recovery_steps: int = 200,
    recovery_lr: float = 3e-5, text_field: str = "text", label_field: str = "label", per_channel: bool = True,
    opset: int = OPSET, max_length: int | None = None, prefix: str | None = None, query_prefix: str | None = None,
    passage_prefix: str | None = None, sample_texts: Sequence[str] | None = None, min_cosine: float = 0.99,
    seed: int = 0,
) -> Path:
    """Export the encoder or fine-tuned classifier folder ``source`` to an ONNX folder ``out`` (atomic); returns
    ``out``. (:func:`babelcart.export.export_model` opens every kind of model folder and calls this one.)

    ``prune`` removes that fraction of attention heads first (see :mod:`babelcart.export.prune`);
    ``recovery_data`` (JSONL/CSV with ``text_field``/``label_field``) then fine-tunes a pruned classifier.
    Raises :class:`ExportError` when fp32 outputs disagree with PyTorch (cosine below ``min_cosine``).
    """
    check_options(opset=opset, prune=prune, recovery_data=recovery_data)
    import torch

    torch.manual_seed(seed)
    t0 = time.perf_counter()
    src = load_source(source, query_prefix=query_prefix, passage_prefix=passage_prefix, prefix=prefix,
                      max_length=max_length)
    texts = list(sample_texts or SAMPLE_TEXTS)
    pruned: dict[int, list[int]] = {}
    recovery: dict[str, Any] | None = None
    heads_before = _count_heads(src.backbone)
    if prune:
        from babelcart.export.prune import prune_heads

        pruned = prune_heads(src.backbone, fraction=prune)
        if recovery_data is not None:
            recovery = _recovery(src, recovery_data, text_field=text_field, label_field=label_field,
                                 steps=recovery_steps, lr=recovery_lr, seed=seed)
    out = Path(out)
    with atomic_dir(out) as tmp:
        _save_tokenizer(src, tmp / "tokenizer")
        to_onnx(src, tmp / MODEL_FILES["fp32"], opset=opset)
        validation: dict[str, Any] = {"texts": len(texts), "fp32": verify(src, tmp, MODEL_FILES["fp32"], texts)}
        if validation["fp32"]["min_cosine"] < min_cosine:
            raise ExportError(f"ONNX fp32 output disagrees with PyTorch: min cosine "
                              f"{validation['fp32']['min_cosine']:.4f} < {min_cosine}")
        if int8:
            from babelcart.export.quantize import quantize_int8

            quantize_int8(tmp / MODEL_FILES["fp32"], tmp / MODEL_FILES["int8"], per_channel=per_channel)
            validation["int8"] = verify(src, tmp, MODEL_FILES["int8"], texts)
            if not keep_fp32:
                (tmp / MODEL_FILES["fp32"]).unlink()
        files = sorted(p.name for p in tmp.glob("*.onnx"))
        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "babelcart_version": __version__,
            "method": "onnx", "kind": src.kind, "task": src.task, "source": str(Path(source).expanduser().resolve()),
            "labels": src.labels, "head": src.head, "pooling": src.meta.get("pooling"), "dim": src.dim,
            "output": src.output_name, "prefixes": src.prefixes, "max_length": src.max_length,
            "pad_id": int(src.hf_tokenizer.pad_token_id or 0), "pad_token": src.hf_tokenizer.pad_token,
            "model_type": src.meta.get("model_type"), "opset": opset, "files": files,
            "int8": {"weight_type": "QInt8", "per_channel": per_channel, "method": "onnxruntime quantize_dynamic"}
            if int8 else None,
            "pruning": {"method": "attention heads by weight norm", "fraction": prune,
                        "heads_before": heads_before, "heads_after": _count_heads(src.backbone),
                        "removed": {str(k): v for k, v in pruned.items()}, "recovery": recovery} if prune else None,
            "validation": validation,
            "versions": {"torch": torch.__version__, "onnxruntime": _ort_version()},
            "source_meta": {k: v for k, v in src.meta.items() if k not in ("pooling", "model_type")},
            "export_seconds": round(time.perf_counter() - t0, 2),
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
        _copy_card(Path(source), tmp)
    logger.info("exported %s to %s: %s", source, out, validation)
    warning = int8_warning(validation)
    if warning:
        logger.warning("%s", warning)
    return out


def _count_heads(model: Any) -> int:
    from babelcart.export.prune import _attention_blocks

    return sum(int(sa.query.weight.shape[0]) // int(sa.attention_head_size) for sa, _ in _attention_blocks(model))


def _ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def _copy_card(source: Path, dest: Path) -> None:
    card = source.expanduser() / "README.md"
    if card.is_file():
        shutil.copyfile(card, dest / "SOURCE_README.md")
