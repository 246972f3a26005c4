"""babelcart detect: add lang and lang_confidence to every line (or detect one --text)."""

from __future__ import annotations

import json
from typing import Annotated

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


def _parse_languages(languages: str | None) -> list[str] | None:
    if languages is None:
        return None
    codes = [c.strip() for c in languages.split(",") if c.strip()]
    if not codes:
        raise typer.BadParameter("--languages needs comma-separated ISO 639-1 codes, e.g. en,de,fr")
    return codes


def detect(
    source: InputArg = "-",
    out: OutputOpt = "-",
    text: Annotated[str | None, typer.Option("--text", "-t", help="Detect one text and print JSON.")] = None,
    languages: Annotated[
        str | None, typer.Option("--languages", "-l", help="Comma-separated ISO 639-1 codes the models may answer.")
    ] = None,
    batch_size: BatchSizeOpt = 256,
    text_field: TextFieldOpt = "text",
    fmt: FormatOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Detect the language of every line: adds lang (ISO 639-1 or 'und') and lang_confidence."""
    from babelcart.text.langid import LanguageDetector

    det = LanguageDetector(languages=_parse_languages(languages))
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
