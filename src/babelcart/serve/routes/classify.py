"""``/v1/classify/{model}``: any trained model folder under the registry path ``models_dir``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from babelcart.serve.deps import ReadKey, ServicesDep, SettingsDep
from babelcart.serve.safety import check_texts
from babelcart.serve.schemas import ClassifyIn, ClassifyOut, ErrorOut, Prediction

router = APIRouter(prefix="/v1", tags=["classify"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 413, 422, 429, 501, 503)}


def _jsonable(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()  # numpy scalar
    return value


@router.get("/models", summary="Model folders available under the registry path")
def list_models(key: ReadKey, services: ServicesDep) -> dict[str, list[str]]:
    return {"models": services.registry.names(), "loaded": services.registry.loaded}


@router.post("/classify/{model}", response_model=ClassifyOut, responses=_ERRORS,
             summary="Classify texts with a trained model (sentiment, rating, category, intent)")
async def classify(model: str, body: ClassifyIn, key: ReadKey, services: ServicesDep,
                   settings: SettingsDep) -> ClassifyOut:
    check_texts(body.texts, settings)
    clf = await run_in_threadpool(services.registry.get, model)  # a first load must not block the loop
    preds = await services.classify(model, body.texts, body.langs)
    services.metrics.observe_langs("classify", [str(p.get("lang") or "und") for p in preds])
    results = []
    for p in preds:
        clean: dict[str, Any] = {k: _jsonable(v) for k, v in p.items() if k != "scores"}
        clean["scores"] = {str(k): float(v) for k, v in (p.get("scores") or {}).items()}
        results.append(Prediction(**clean))
    labels = [_jsonable(x) for x in (getattr(clf, "labels", None) or [])]
    return ClassifyOut(model=model, task=getattr(clf, "task", None), labels=labels, results=results)  # type: ignore[arg-type]
