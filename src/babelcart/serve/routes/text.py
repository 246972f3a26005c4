"""``/v1/detect``, ``/v1/clean``, ``/v1/mask`` and ``/v1/embed``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from babelcart.serve.deps import ReadKey, ServicesDep, SettingsDep
from babelcart.serve.safety import check_texts
from babelcart.serve.schemas import (
    CleanItem,
    CleanOut,
    DetectOut,
    EmbedIn,
    EmbedOut,
    ErrorOut,
    LangOut,
    MaskItem,
    MaskOut,
    TextsIn,
)
from babelcart.text.clean import clean_text
from babelcart.text.langid import detect_batch
from babelcart.text.pii import mask_pii

router = APIRouter(prefix="/v1", tags=["text"])

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut},
    429: {"model": ErrorOut}, 501: {"model": ErrorOut},
}


@router.post("/detect", response_model=DetectOut, responses=_ERRORS, summary="Detect the language of texts")
def detect(body: TextsIn, key: ReadKey, services: ServicesDep, settings: SettingsDep) -> DetectOut:
    check_texts(body.texts, settings)
    guesses = detect_batch(body.texts)
    services.metrics.observe_langs("detect", [g.lang for g in guesses])
    return DetectOut(results=[LangOut(lang=g.lang, confidence=float(g.confidence), method=str(g.method))
                              for g in guesses])


@router.post("/clean", response_model=CleanOut, responses=_ERRORS, summary="Repair and normalize texts")
def clean(body: TextsIn, key: ReadKey, settings: SettingsDep) -> CleanOut:
    check_texts(body.texts, settings)
    results = [clean_text(t) for t in body.texts]
    return CleanOut(results=[CleanItem(text=r.text, flags=list(r.flags)) for r in results])


@router.post("/mask", response_model=MaskOut, responses=_ERRORS, summary="Mask personal data in texts")
def mask(body: TextsIn, key: ReadKey, settings: SettingsDep) -> MaskOut:
    check_texts(body.texts, settings)
    results = [mask_pii(t) for t in body.texts]
    return MaskOut(results=[MaskItem(text=r.text, counts=dict(r.counts)) for r in results])


@router.post("/embed", response_model=EmbedOut, responses=_ERRORS,
             summary="Embed texts into the shared multilingual vector space (micro-batched)")
async def embed(body: EmbedIn, key: ReadKey, services: ServicesDep, settings: SettingsDep) -> EmbedOut:
    check_texts(body.texts, settings)
    await run_in_threadpool(lambda: services.encoder)  # built at start-up; a late first build stays off the loop
    vecs = await services.embed(body.texts, body.role)
    return EmbedOut(encoder=services.encoder.spec, dim=int(vecs.shape[1]),
                    embeddings=[[round(float(x), 6) for x in v] for v in vecs])
