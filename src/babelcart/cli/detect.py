"""babelcart detect: add lang and lang_confidence to every line (or detect one --text)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from babelcart.cli._common import (
    BatchSizeOpt,
    FormatOpt,
    InputArg,
    OutputOpt,
    QuietOpt,
    StrictOpt,
    TextFieldOpt,
    run_jsonl_job,
)
from babelcart.datasets.records import Record, get_text


def _detector(languages: str | None, only: bool) -> Any:
    """The shop profile's detector (``--languages`` here overrides the profile's languages), else the default."""
    from babelcart.shop import ShopProfile, active_profile, parse_languages
    from babelcart.text.langid import default_detector

    base = active_profile()
    if languages is None and not only:
        return default_detector()
    try:
        codes = parse_languages(languages) if languages is not None else base.languages if base else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if codes is None:
        raise typer.BadParameter("--only needs the shop's languages: --languages en,zh,id (or a shop profile)")
    profile = ShopProfile(languages=codes, prior=base.prior if base else ShopProfile(codes).prior, only=only)
    return profile.detector()


def detect(
    source: InputArg = "-",
    out: OutputOpt = "-",
    text: Annotated[str | None, typer.Option("--text", "-t", help="Detect one text and print JSON.")] = None,
    languages: Annotated[
        str | None, typer.Option("--languages", "-l", help="The shop's languages (comma-separated ISO 639-1 "
                                 "codes): they win near ties; overrides the shop profile's.")
    ] = None,
    only: Annotated[bool, typer.Option("--only", help="Answer only the shop's languages.")] = False,
    batch_size: BatchSizeOpt = 256,
    text_field: TextFieldOpt = "text",
    fmt: FormatOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Detect the language of every line: adds lang (ISO 639-1 or 'und') and lang_confidence."""
    det = _detector(languages, only)
    if text is not None:
        g = det.detect(text)
        typer.echo(json.dumps({"text": text, "lang": g.lang, "lang_confidence": g.confidence,
                               "method": g.method}, ensure_ascii=False))
        return

    def batch(records: list[Record]) -> list[Record]:
        texts = [get_text(r, text_field) for r in records]
        guesses = det.detect_batch(texts)
        return [{**r, "lang": g.lang, "lang_confidence": g.confidence}
                for r, g in zip(records, guesses, strict=True)]

    run_jsonl_job(source, out, batch, fmt=fmt, batch_size=batch_size, strict=strict, quiet=quiet, desc="detect")


def register(app: typer.Typer) -> None:
    """Add detect to app."""
    app.command("detect")(detect)
