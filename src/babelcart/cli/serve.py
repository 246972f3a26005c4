"""babelcart serve (the HTTP service) and babelcart keys create|list|revoke (API keys)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from babelcart.extras import require_extra
from babelcart.serve import SERVE_MODULES

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="TOML settings file (else $BABELCART_CONFIG).")]
KeysFileOpt = Annotated[str | None, typer.Option("--keys-file", help="API keys file (default from settings).")]


def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Serve the bundled demo sample (index, reviews, keys).")] = False,
    demo_dir: Annotated[str, typer.Option("--demo-dir", help="Where --demo keeps its files.")] = ".cache/demo",
    models_dir: Annotated[str | None, typer.Option("--models-dir", help="Registry path of model folders.")] = None,
    index_dir: Annotated[str | None, typer.Option("--index", help="Search index: a folder, a folder of shards or a PostgreSQL URL (shared by replicas).")] = None,
    db_url: Annotated[str | None, typer.Option("--db", help="Database URL (sqlite:///file.db, postgresql+psycopg://...).")] = None,
    encoder: Annotated[str | None, typer.Option("--encoder", "-e", help="Encoder spec for /v1/embed.")] = None,
    no_batching: Annotated[bool, typer.Option("--no-batching", help="Turn micro-batching off.")] = False,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Run the HTTP API and web page (uvicorn). Keys: `babelcart keys create --scope read`."""
    require_extra("serve", SERVE_MODULES, "the HTTP service")
    import uvicorn

    from babelcart.config import SETTINGS_FILE_ENV, load_settings, write_settings_file
    from babelcart.serve.app import create_app
    from babelcart.shop import DEMO, active_profile, read_profile

    profile = active_profile() or (read_profile(DEMO) if demo else None)  # --languages / --shop / env
    try:
        settings = load_settings(config, host=host, port=port, workers=workers, models_dir=models_dir,
                                 index_dir=index_dir, db_url=db_url, encoder=encoder,
                                 batching_enabled=False if no_batching else None,
                                 shop=profile.as_dict() if profile else None)
    except (ValueError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    logging.getLogger("babelcart").setLevel(log_level.upper())
    if demo:
        from babelcart.serve.demo import prepare_demo

        typer.echo("preparing the demo (first run builds a small search index; later runs reuse it) ...", err=True)
        settings, keys = prepare_demo(settings, demo_dir)
        url = f"http://{settings.host}:{settings.port}/"
        typer.echo(f"demo read key : {keys['read']}\ndemo write key: {keys['write']}\n"
                   f"open {url}#key={keys['read']}  (the page keeps the key in sessionStorage)", err=True)
    if settings.workers > 1:  # the workers read the settings from a 0600 file, never from the environment
        settings_file = write_settings_file(settings)
        os.environ[SETTINGS_FILE_ENV] = str(settings_file)
        try:
            uvicorn.run("babelcart.serve.app:app_from_env", factory=True, host=settings.host, port=settings.port,
                        workers=settings.workers, log_level=log_level, server_header=False)
        finally:
            settings_file.unlink(missing_ok=True)
    else:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level,
                    server_header=False)


def _keystore(config: str | None, keys_file: str | None):  # type: ignore[no-untyped-def]
    from babelcart.config import load_settings
    from babelcart.serve.auth import KeyStore

    path = Path(keys_file) if keys_file else load_settings(config).keys_file
    return KeyStore(path)


def keys_create(
    scope: Annotated[str, typer.Option("--scope", help="read, write or admin (admin ⊃ write ⊃ read).")] = "read",
    name: Annotated[str, typer.Option("--name", help="A label to recognise the key by.")] = "",
    config: ConfigOpt = None,
    keys_file: KeysFileOpt = None,
) -> None:
    """Make an API key and print it ONCE (only a salted hash is stored)."""
    store = _keystore(config, keys_file)
    try:
        key, rec = store.create(scope=scope, name=name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(key)
    typer.echo(f"key id {rec.id}, scope {rec.scope}, stored hashed in {store.path} — copy the key now, "
               "it is not shown again", err=True)


def keys_list(config: ConfigOpt = None, keys_file: KeysFileOpt = None,
              as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List keys (ids, names, scopes; never the keys themselves)."""
    recs = [r.public() for r in _keystore(config, keys_file).list()]
    if as_json:
        typer.echo(json.dumps(recs, ensure_ascii=False))
        return
    for r in recs:
        typer.echo(f"{r['id']}  {r['scope']:<5}  {'revoked' if r['revoked'] else 'active ':<7}  "
                   f"{r['created_at']}  {r['name']}")


def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id (second part of bc_<id>_...).")],
                config: ConfigOpt = None, keys_file: KeysFileOpt = None) -> None:
    """Revoke a key (it stops working at once; the record stays for the audit trail)."""
    try:
        rec = _keystore(config, keys_file).revoke(key_id)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from exc
    typer.echo(f"revoked {rec.id} ({rec.scope})")


def register(app: typer.Typer) -> None:
    """Add serve and keys to app."""
    app.command("serve")(serve)
    keys = typer.Typer(help="Manage API keys of the HTTP service.", no_args_is_help=True)
    keys.command("create")(keys_create)
    keys.command("list")(keys_list)
    keys.command("revoke")(keys_revoke)
    app.add_typer(keys, name="keys")
