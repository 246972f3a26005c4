"""``babelcart label suggest``: which target-language texts to label next (active learning)."""

from __future__ import annotations

from typing import Annotated

import typer

from babelcart.cli._common import CacheDirOpt
from babelcart.cli.learn import ModelDirArg

label_app = typer.Typer(help="Help a person label: pick the texts worth labelling.", no_args_is_help=True)


@label_app.command("suggest")
def suggest(
    model_dir: ModelDirArg,
    pool: Annotated[str, typer.Argument(help="Unlabelled target-language texts (JSONL/CSV; '-' = stdin).")],
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="Texts to suggest per language.")] = 50,
    out: Annotated[str, typer.Option("--out", "-o", help="JSONL to fill in ('-' = stdout).")] = "-",
    label_field: Annotated[str, typer.Option("--label-field", help="The field left empty for the labeller.")] = "label",
    text_field: Annotated[str | None, typer.Option("--text-field", help="Default: the model's text field.")] = None,
    strategy: Annotated[str, typer.Option("--strategy", help="uncertainty-diversity, uncertainty or random.")] = "uncertainty-diversity",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    cache_dir: CacheDirOpt = None,
) -> None:
    """Write the N texts per language the model is least sure about (and that differ from each other) with an
    empty label field; fill them in and pass the file to 'babelcart train --target'."""
    from babelcart.cli.learn import _load
    from babelcart.datasets.records import read_records, write_records
    from babelcart.learn.active import suggest as suggest_records

    clf = _load(model_dir, cache_dir)
    records = list(read_records(pool))
    try:
        picked, report = suggest_records(clf, records, n, text_field=text_field if text_field else getattr(clf, "text_field", "text"),
                                         label_field=label_field, strategy=strategy, seed=seed)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    write_records(picked, out)
    skipped = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in report["skipped"].items() if v)
    typer.echo(f"suggested {len(picked)} texts to label ({report['picked']}) from {sum(report['pool'].values())} "
               f"candidates" + (f"; not candidates: {skipped}" if skipped else "")
               + f"; fill in '{label_field}', then: babelcart train ... --target {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``label suggest`` to ``app``."""
    app.add_typer(label_app, name="label")
