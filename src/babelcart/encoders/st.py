"""``st:<hub id or local folder>``: a sentence-transformers model, ``encode(normalize_embeddings=True)``.

If the model defines prompts, ``role="query"`` uses its ``query`` prompt and ``role="passage"`` its
``passage`` / ``document`` / ``corpus`` prompt (the first one defined). Options after ``?``: ``device``.

>>> enc = get_encoder("st:/models/paraphrase-multilingual-MiniLM-L12-v2")   # doctest: +SKIP
>>> enc.encode(["蓝牙耳机"], role="query").shape                              # doctest: +SKIP
(1, 384)

A local folder is loaded with ``local_files_only=True`` (never the network).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from babelcart.encoders.base import BatchedEncoder, Role
from babelcart.encoders.hf import is_local, pick_device
from babelcart.extras import require_extra

logger = logging.getLogger(__name__)

PASSAGE_PROMPT_NAMES = ("passage", "document", "corpus")


class STEncoder(BatchedEncoder):
    """sentence-transformers as a babelcart encoder (unit-norm rows, model-defined query/passage prompts)."""

    def __init__(self, arg: str, *, device: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        name, sep, query = arg.partition("?")
        if not name:
            raise ValueError("st: needs a model: st:<hub id or local folder>")
        opts = dict(parse_qsl(query)) if sep else {}
        unknown = set(opts) - {"device"}
        if unknown:
            raise ValueError(f"unknown st: option(s) {sorted(unknown)}; known: ['device']")
        require_extra("hf", ["torch", "sentence_transformers"], "the st: encoder")
        from sentence_transformers import SentenceTransformer
        local = is_local(name)
        if not local and name.startswith((".", "/", "~")):
            raise FileNotFoundError(f"model folder {name} does not exist")
        self.device = pick_device(device or opts.get("device"))
        src = str(Path(name).expanduser()) if local else name
        try:
            self._model = SentenceTransformer(src, device=self.device, local_files_only=local)
        except (OSError, ValueError) as exc:
            raise OSError(f"cannot load the sentence-transformers model {src!r}: {exc}") from exc
        self.spec = f"st:{arg}"
        dim_fn = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = dim_fn()
        if not dim:
            dim = int(self._model.encode(["x"], convert_to_numpy=True).shape[1])
        self.dim = int(dim)
        prompts = dict(getattr(self._model, "prompts", None) or {})
        self.query_prompt = prompts.get("query") or None
        self.passage_prompt = next((prompts[k] for k in PASSAGE_PROMPT_NAMES if prompts.get(k)), None)
        self._lock = threading.Lock()

    def _embed(self, texts: list[str], role: Role) -> np.ndarray:
        prompt = self.query_prompt if role == "query" else self.passage_prompt
        with self._lock:
            vecs = self._model.encode(texts, prompt=prompt, batch_size=max(len(texts), 1),
                                      normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)
