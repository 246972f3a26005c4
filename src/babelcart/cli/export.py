"""babelcart export: an HF encoder or a fine-tuned classifier folder to ONNX (int8, pruned)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def export(
    source: Annotated[Path, typer.Argument(help="HF encoder folder, fine-tuned classifier folder (method finetune) or a frozen head refitted on a fine-tuned encoder.")],
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (the only target so far; required).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Also write model.int8.onnx (dynamic int8 quantization).")] = False,
    prune: Annotated[float, typer.Option("--prune", help="Fraction of attention heads to remove (0 = none).")] = 0.0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: SOURCE-onnx).")] = None,
    recovery_data: Annotated[Path | None, typer.Option(
        "--recovery-data", help="Labelled JSONL/CSV to fine-tune a pruned classifier on.")] = None,
    recovery_steps: Annotated[int, typer.Option("--recovery-steps")] = 200,
    recovery_lr: Annotated[float, typer.Option("--recovery-lr")] = 3e-5,
    text_field: Annotated[str, typer.Option("--text-field")] = "text",
    label_field: Annotated[str, typer.Option("--label-field")] = "label",
    prefix: Annotated[str | None, typer.Option("--prefix", help="Encoder prefixes: auto, e5 or none.")] = None,
    max_length: Annotated[int | None, typer.Option("--max-length", help="Token limit (default: model's).")] = None,
    per_channel: Annotated[bool, typer.Option("--per-channel/--per-tensor", help="int8 weight scales.")] = True,
    no_fp32: Annotated[bool, typer.Option("--no-fp32", help="With --int8, do not keep model.onnx.")] = False,
    opset: Annotated[int, typer.Option("--opset")] = 17,
) -> None:
    """Export SOURCE to an ONNX folder servable as onnx:OUT (encoders) or by load_onnx_classifier."""
    if not onnx:
        raise typer.BadParameter("pass --onnx (ONNX is the export target)", param_hint="--onnx")
    if not 0.0 <= prune < 1.0:
        raise typer.BadParameter("must be in [0, 1)", param_hint="--prune")
    if not source.is_dir():
        raise typer.BadParameter(f"model folder not found: {source}", param_hint="SOURCE")
    if recovery_data is not None and not recovery_data.is_file():
        raise typer.BadParameter(f"file not found: {recovery_data}", param_hint="--recovery-data")
    from babelcart.encoders.onnx import OnnxModelError
    from babelcart.export import ExportError, export_model

    dest = out or source.with_name(source.name.rstrip("/") + "-onnx")
    try:
        path = export_model(source, dest, int8=int8, keep_fp32=not no_fp32, prune=prune,
                            recovery_data=recovery_data, recovery_steps=recovery_steps, recovery_lr=recovery_lr,
                            text_field=text_field,
                            label_field=label_field, prefix=prefix, max_length=max_length,
                            per_channel=per_channel, opset=opset)
    except (ExportError, OnnxModelError, ValueError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    cfg = cfg.get("export", cfg)  # a refitted model keeps its head config and puts the export's facts here
    summary = {"out": str(path), "kind": cfg["kind"], "files": cfg["files"], "validation": cfg["validation"],
               "pruning": cfg["pruning"] and {k: cfg["pruning"][k] for k in ("heads_before", "heads_after")}}
    print(json.dumps(summary, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add export to app."""
    app.command("export")(export)
