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

COMMAND_MODULES = ["text", "detect", "embed", "demo", "learn", "label", "search", "recommend", "serve", "export"]

for _name in COMMAND_MODULES:
    importlib.import_module(f"babelcart.cli.{_name}").register(app)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Console-script entry point."""
    app()
