"""The ``babelcart`` command line: every job from the shell, each a thin wrapper over a library function.

Commands live in one module per area; each module exposes ``register(app)``.
"""

from __future__ import annotations

import importlib
import logging

import typer

app = typer.Typer(
    name="babelcart",
    help="Multilingual AI engine for cross-border e-commerce.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = ["text", "detect", "embed", "demo", "learn", "search", "recommend", "serve", "export"]

for _name in COMMAND_MODULES:
    importlib.import_module(f"babelcart.cli.{_name}").register(app)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    languages: str | None = typer.Option(
        None, "--languages", help="The shop's storefront languages, e.g. en,zh,id: language ID leans to them "
        "(every command; else $BABELCART_LANGUAGES or the [shop] table of $BABELCART_CONFIG)."),
    shop: str | None = typer.Option(
        None, "--shop", help="Shop profile TOML file, or 'demo' for the bundled one (else $BABELCART_SHOP_PROFILE)."),
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from babelcart.cli._common import apply_shop_profile

    apply_shop_profile(languages=languages, shop=shop)


def main() -> None:
    """Console-script entry point."""
    app()
