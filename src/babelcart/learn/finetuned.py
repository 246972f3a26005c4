"""A saved fine-tuned model at inference: load the folder, predict, encode (no training code here).

>>> clf = load_finetuned("models/intent")                      # doctest: +SKIP
>>> clf.predict(["¿dónde está mi pedido?"])[0]["pred"]          # doctest: +SKIP
'order_status'

The folder layout and the forward pass are documented in ``docs/finetune.md``; :mod:`babelcart.learn.finetune`
writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.encoders.hf import embed_batch, load_hf, pick_device
from babelcart.extras import require_extra
from babelcart.fsutil import read_json_config
from babelcart.learn.langs import resolve_languages
from babelcart.learn.ordinal import decode_rating, expected_value, rating_decode
from babelcart.learn.persist import FORMAT, ModelLoadError, check_format_version

__all__ = ["FinetunedClassifier", "coral_decode", "coral_probs", "default_rating_head", "head_type", "load_finetuned",
           "logits_to_probs", "require_train"]

#: Rating heads: ``coral`` (one weight vector, K-1 ordered thresholds, binary losses) or ``softmax`` (K logits,
#: cross-entropy); the default is the one that beat the frozen head in every language on the dev split
#: (``benchmarks/finetune_recipes.py``, ``docs/finetune.md``).
RATING_HEADS = ("coral", "softmax")
DEFAULT_RATING_HEAD = "softmax"
#: ``rating_decode="auto"``: each head's measured best rule (same benchmark): the median for CORAL, the mode for
#: softmax (its median drifts to the middle stars when a target language's distribution is flatter than the
#: source's, as zero-shot transfer makes it).
AUTO_RATING_DECODE = {"coral": "median", "softmax": "mode"}
#: The head when self-training follows: a softmax teacher's probabilities pile on the middle stars in a new
#: language, its prior estimate follows them and the student collapses (``benchmarks/transfer_rating.py``:
#: Indonesian MAE 0.845 -> 1.643 after one balanced round; CORAL 0.770 -> 0.802).
SELF_TRAIN_RATING_HEAD = "coral"


def default_rating_head(self_training: bool) -> str:
    """The measured best rating head: softmax for a plain fine-tune, CORAL when self-training follows."""
    return SELF_TRAIN_RATING_HEAD if self_training else DEFAULT_RATING_HEAD


def require_train(*, lora: bool = False, tensorboard: bool = False) -> None:
    """Fail fast with the install command (:class:`~babelcart.extras.MissingExtraError`) when the [train]
    extra is missing."""
    names = ["torch", "transformers"] + (["peft"] if lora else []) + (["tensorboard"] if tensorboard else [])
    require_extra("train", names, "fine-tuning")


# ---------------------------------------------------------------- ordinal (CORAL) decoding, numpy


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def coral_probs(logits: np.ndarray) -> np.ndarray:
    """Class probabilities ``[n, K]`` from CORAL threshold logits ``[n, K-1]`` (``P(y > k)``).

    The cumulative probabilities are made non-increasing first, so the class probabilities are >= 0.
    """
    logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    p_gt = np.minimum.accumulate(_sigmoid(logits), axis=1)
    n = p_gt.shape[0]
    upper = np.concatenate([np.ones((n, 1)), p_gt], axis=1)
    lower = np.concatenate([p_gt, np.zeros((n, 1))], axis=1)
    probs = np.clip(upper - lower, 0.0, None)
    return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)


def coral_decode(probs: np.ndarray, labels: Sequence[float] | np.ndarray,
                 rule: str = "median") -> tuple[np.ndarray, np.ndarray]:
    """``(label index, expected value)`` per row of class probabilities ``[n, K]`` (any rating head).

    ``rule="median"``: the first class whose cumulative probability reaches 0.5 (minimizes the expected absolute
    error of a calibrated distribution); ``"mode"``: the most probable class
    (:func:`babelcart.learn.ordinal.decode_rating`). ``expected`` is the mean.
    """
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    return decode_rating(probs, rule), expected_value(probs, np.asarray(labels, dtype=np.float64))


def logits_to_probs(head_type: str, logits: np.ndarray) -> np.ndarray:
    """Class probabilities from head logits: CORAL (``coral``, or the task name ``rating`` of older folders)
    or softmax (``linear``/``softmax``, or the task name ``classify``)."""
    if head_type in ("coral", "rating"):
        return coral_probs(logits)
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)



def head_type(config: dict[str, Any]) -> str:
    """``linear`` (classify), ``coral`` or ``softmax`` (rating) from a fine-tuned folder's config."""
    default = "linear" if config.get("task") == "classify" else "coral"
    return str((config.get("head") or {}).get("type") or default)


# ---------------------------------------------------------------- loading


class FinetunedClassifier:
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
        if isinstance(texts, str):
            raise TypeError("predict() takes a list of texts, not one string")
        texts = list(texts)
        if langs is not None and len(langs) != len(texts):
            raise ValueError(f"{len(langs)} langs for {len(texts)} texts")
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

    def predict_records(self, records: list[dict[str, Any]], *, text_field: str | None = None,
                        batch_size: int = 32) -> list[dict[str, Any]]:
        """Records in, records out (same order) with ``pred``/``scores``/``lang`` added; a bad one gets ``error``."""
        from babelcart.datasets.records import collect_texts

        out, good, texts = collect_texts(records, text_field or self.text_field)
        preds = self.predict(texts, [records[i].get("lang") for i in good], batch_size=batch_size)
        for i, p in zip(good, preds, strict=True):
            out[i] = {**records[i], **p}
        return out

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """The fine-tuned encoder's L2-normalized mean-pooled vectors ``[n, dim]`` (query prefix applied)."""
        from babelcart.encoders.base import l2_normalize

        return l2_normalize(self._pooled(list(texts), batch_size))


def load_finetuned(path: str | Path, *, device: str | None = None) -> FinetunedClassifier:
    """Load a folder written by :func:`train_finetune`.

    Raises :class:`babelcart.learn.persist.ModelLoadError` (a ``ValueError``) with a clear message for a
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
