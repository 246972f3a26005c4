"""``/v1/recommend/user/{id}`` and ``/v1/recommend/item/{id}``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Query

from babelcart.serve import adapters
from babelcart.serve.deps import ReadKey, ServicesDep
from babelcart.serve.schemas import ErrorOut, RecItem, RecommendOut

router = APIRouter(prefix="/v1", tags=["recommend"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 422, 429, 501, 503)}


@router.get("/recommend/{kind}/{id}", response_model=RecommendOut, responses=_ERRORS,
            summary="Recommendations for a user, or items similar to an item")
def recommend(kind: Literal["user", "item"], key: ReadKey, services: ServicesDep,
              id: str = Path(max_length=200), k: int = Query(10, ge=1, le=100)) -> RecommendOut:
    results, note = adapters.recommend(services, kind, id, k)
    return RecommendOut(kind=kind, id=id, results=[RecItem(**r) for r in results], note=note)
