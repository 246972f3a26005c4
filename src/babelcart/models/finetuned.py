"""A saved fine-tuned model at inference: load the folder, predict, encode (no training code here).

>>> clf = load_finetuned("models/intent")                      # doctest: +SKIP
>>> clf.predict(["¿dónde está mi pedido?"])[0]["pred"]          # doctest: +SKIP
'order_status'

The folder layout and the forward pass are documented in ``docs/finetune.md``; :mod:`babelcart.learn.finetune`
writes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.encoders.hf import embed_batch, load_hf, pick_device
from babelcart.extras import require_extra
from babelcart.fsutil import atomic_dir, read_json_config
from babelcart.models.folder import FORMAT, ModelLoadError, check_format_version
from babelcart.models.ordinal import coral_decode, logits_to_probs, rating_decode
from babelcart.models.predictor import RecordsMixin, check_texts
from babelcart.text.languages import resolve_languages


def require_train(*, lora: bool = False, tensorboard: bool = False) -> None:
    """Fail fast with the install command (:class:`~babelcart.extras.MissingExtraError`) when the [train]
    extra is missing."""
    names = ["torch", "transformers"] + (["peft"] if lora else []) + (["tensorboard"] if tensorboard else [])
    require_extra("train", names, "fine-tuning")


def head_type(config: dict[str, Any]) -> str:
    """``linear`` (classify), ``coral`` or ``softmax`` (rating) from a fine-tuned folder's config."""
    default = "linear" if config.get("task") == "classify" else "coral"
    return str((config.get("head") or {}).get("type") or default)


class FinetunedClassifier(RecordsMixin):
    """A saved fine-tuned model: ``.predict(texts, langs=None)``, ``.encode(texts)``, ``.labels``, ``.task``."""

    def __init__(self, path: Path, config: dict[str, Any], model: Any, tokenizer: Any, head: dict[str, Any],
                 device: str) -> None:
        self.path = path
        self.config = config
        self.task: str = config["task"]
        self.labels: list[Any] = list(config["labels"])
        self.encoder_spec: str = config["encoder_spec"]
        self.query_prefix: str = config.get("query_prefix", "")
        self.max_length: int = int(config.get("max_length", 128))
        self.text_field: str = config.get("text_field", "text")
        self.label_field: str = config.get("label_field", "label")
        self.source_lang: str | None = config.get("source_lang")
        self.head_type: str = head_type(config)
        self.rating_decode: str = rating_decode(config)
        self._model = model
        self._tokenizer = tokenizer
        self._head = head
        self._device = device
        self.dim = int(model.config.hidden_size)

    def _pooled(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        import torch

        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"text {i} is not a string: {t!r}")
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                h = embed_batch(self._model, self._tokenizer, [self.query_prefix + texts[i] for i in idx],
                                max_length=self.max_length, device=self._device)
                out[idx] = h.float().cpu().numpy()
        return out

    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        h = self._pooled(texts, batch_size)
        return h @ self._head["weight"].T + self._head["bias"]

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Class probabilities ``[n, len(labels)]`` in label order."""
        return logits_to_probs(self.head_type, self.logits(list(texts), batch_size=batch_size))

    def predict(self, texts: Sequence[str], langs: Sequence[str | None] | None = None, *,
                batch_size: int = 32) -> list[dict[str, Any]]:
        """One dict per text: ``pred``, ``scores`` (label → probability), ``lang`` (+ ``expected`` for rating)."""
        texts = check_texts(texts, langs)
        if not texts:
            return []
        probs = self.predict_proba(texts, batch_size=batch_size)
        if self.task == "rating":
            idx, expected = coral_decode(probs, self.labels, self.rating_decode)
        else:
            idx, expected = probs.argmax(axis=1), None
        lang_list = resolve_languages(texts, langs)
        out = []
        for i in range(len(texts)):
            row: dict[str, Any] = {
                "pred": self.labels[int(idx[i])],
                "scores": {str(lab): float(p) for lab, p in zip(self.labels, probs[i], strict=True)},
                "lang": lang_list[i],
            }
            if expected is not None:
                row["expected"] = float(expected[i])
            out.append(row)
        return out

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """The fine-tuned encoder's L2-normalized mean-pooled vectors ``[n, dim]`` (query prefix applied)."""
        from babelcart.encoders.base import l2_normalize

        return l2_normalize(self._pooled(list(texts), batch_size))


def load_finetuned(path: str | Path, *, device: str | None = None) -> FinetunedClassifier:
    """Load a folder written by :func:`train_finetune`.

    Raises :class:`babelcart.models.folder.ModelLoadError` (a ``ValueError``) with a clear message for a
    missing, incomplete, corrupted, newer-version or mismatched folder.
    """
    require_train()
    path = Path(path)
    config = read_json_config(path / "config.json", ModelLoadError,
                              missing=f"{path} is not a model folder: config.json is missing")
    if config.get("method") != "finetune" or config.get("format") != FORMAT:
        raise ModelLoadError(f"{path} is not a fine-tuned model folder (method={config.get('method')!r})")
    check_format_version(config, path)
    for need in ("model.safetensors", "encoder/config.json"):
        if not (path / need).is_file():
            raise ModelLoadError(f"{path} is incomplete: {need} is missing")
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path / "model.safetensors"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path / 'model.safetensors'} is corrupted or not a safetensors file: {exc}") from exc
    head = {k.removeprefix("head."): v.astype(np.float32) for k, v in tensors.items() if k.startswith("head.")}
    n = len(config["labels"])
    dim = int(config["head"]["dim"])
    coral = head_type(config) == "coral"
    want = {"weight": (1 if coral else n, dim), "bias": (n - 1 if coral else n,)}
    for k, shape in want.items():
        if k not in head or tuple(head[k].shape) != shape:
            got = None if k not in head else tuple(head[k].shape)
            raise ModelLoadError(f"{path / 'model.safetensors'} has head.{k} of shape {got}, expected {shape}")
    dev = pick_device(device)
    try:
        model, tokenizer = load_hf(path / "encoder", device=dev)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the encoder in {path / 'encoder'}: {exc}") from exc
    if int(model.config.hidden_size) != dim:
        raise ModelLoadError(f"encoder hidden size {model.config.hidden_size} does not match the head's {dim}")
    return FinetunedClassifier(path, config, model, tokenizer, head, dev)


def save_finetuned(out_dir: str | Path, *, model: Any, tokenizer: Any, head: dict[str, Any], config: dict[str, Any],
                   metrics: dict[str, Any], card: str) -> Path:
    """Write a fine-tuned model folder atomically: ``encoder/`` and ``tokenizer/`` (Hugging Face format), the head's
    tensors in ``model.safetensors``, ``config.json``, ``metrics.json`` and the model card ``README.md``."""
    from safetensors.torch import save_file

    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp / "encoder")
        tokenizer.save_pretrained(tmp / "encoder")
        tokenizer.save_pretrained(tmp / "tokenizer")
        save_file(head, str(tmp / "model.safetensors"), metadata={"format": FORMAT, "task": config["task"]})
        (tmp / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        (tmp / "README.md").write_text(card, encoding="utf-8")
    return Path(out_dir)
