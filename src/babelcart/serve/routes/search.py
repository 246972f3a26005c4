"""``/v1/search``: cross-lingual product search over the configured index (a folder, shards or PostgreSQL)."""

from __future__ import annotations

from fastapi import APIRouter

from babelcart.apps.search import SearchBackendUnavailable
from babelcart.serve.deps import ReadKey, ServicesDep, SettingsDep
from babelcart.serve.errors import BadRequestError, UnavailableError
from babelcart.serve.safety import check_text
from babelcart.serve.schemas import ErrorOut, SearchHit, SearchIn, SearchOut

router = APIRouter(prefix="/v1", tags=["search"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 422, 429, 501, 503)}


def _jsonable(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@router.post("/search", response_model=SearchOut, responses=_ERRORS,
             summary="Search the catalog in any language (BM25 + dense, fused)")
def search(body: SearchIn, key: ReadKey, services: ServicesDep, settings: SettingsDep) -> SearchOut:
    check_text(body.query, settings, field="query")
    filters = {k: v for k, v in body.filters.model_dump().items() if v is not None}
    try:
        with services.reading_index() as index:
            hits = index.search(body.query, k=body.k, mode=body.mode, filters=filters or None, lang=body.lang,
                                explain=body.explain)
    except SearchBackendUnavailable as exc:
        raise UnavailableError(str(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise BadRequestError(f"bad search request: {exc}") from exc
    services.metrics.observe_langs("search", [body.lang or "auto"])
    results = []
    for h in hits:
        h = {str(k): _jsonable(v) for k, v in dict(h).items()}
        h["id"] = str(h.get("id"))
        h["score"] = float(h.get("score") or 0.0)  # type: ignore[arg-type]
        results.append(SearchHit(**h))
    return SearchOut(query=body.query, results=results, relevance=getattr(hits, "relevance", None),
                     no_good_match=getattr(hits, "no_good_match", None))
