"""``/v1/products``: add, replace and delete catalog products in the search index while the service runs.

On a PostgreSQL index each write is one transaction that every replica's next search sees; on a folder index
the folder is rewritten atomically after the change (this process only: replicas that share a catalog
need the PostgreSQL index).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from babelcart.apps.search import SearchBackendUnavailable
from babelcart.serve.deps import ServicesDep, SettingsDep, WriteKey
from babelcart.serve.errors import BadRequestError, TooLargeError, UnavailableError
from babelcart.serve.schemas import ErrorOut, ProductIdsIn, ProductsDeletedOut, ProductsIn, ProductsOut
from babelcart.serve.services import Services

router = APIRouter(prefix="/v1", tags=["products"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 409, 413, 422, 429, 501, 503)}


def _check_size(n: int, limit: int, field: str) -> None:
    if n > limit:
        raise TooLargeError(f"{field} has {n} items; the limit is {limit} per request")


def _write(services: Services, change: Any) -> Any:
    try:
        return services.write_index(change)
    except SearchBackendUnavailable as exc:
        raise UnavailableError(str(exc)) from exc
    except ValueError as exc:
        raise BadRequestError(f"bad products: {exc}") from exc


@router.post("/products", response_model=ProductsOut, responses=_ERRORS,
             summary="Add or replace products in the search index (write scope)")
def add_products(body: ProductsIn, key: WriteKey, services: ServicesDep, settings: SettingsDep) -> ProductsOut:
    _check_size(len(body.products), settings.max_batch_items, "products")
    rep = _write(services, lambda index: index.add(body.products, show_progress=False))
    return ProductsOut(added=rep.added, replaced=rep.replaced, errors=rep.errors)


@router.delete("/products", response_model=ProductsDeletedOut, responses=_ERRORS,
               summary="Delete products from the search index by id (write scope)")
def delete_products(body: ProductIdsIn, key: WriteKey, services: ServicesDep, settings: SettingsDep
                    ) -> ProductsDeletedOut:
    _check_size(len(body.ids), settings.max_batch_items, "ids")
    rep = _write(services, lambda index: index.delete(body.ids))
    return ProductsDeletedOut(deleted=rep.deleted, missing=rep.missing)


@router.delete("/products/{product_id}", response_model=ProductsDeletedOut, responses=_ERRORS,
               summary="Delete one product from the search index (write scope)")
def delete_product(product_id: str, key: WriteKey, services: ServicesDep) -> ProductsDeletedOut:
    rep = _write(services, lambda index: index.delete([product_id]))
    return ProductsDeletedOut(deleted=rep.deleted, missing=rep.missing)
