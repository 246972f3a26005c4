"""Optional extras: a missing one is a :class:`MissingExtraError` that names the install command, raised before
any work, which the command line prints as one ``error:`` line (``babelcart.cli.USER_ERRORS``)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence


class MissingExtraError(ImportError):
    """An optional extra is not installed; the message names the ``pip install`` command."""


def install_hint(extra: str) -> str:
    """``pip install 'babelcart[EXTRA]'``."""
    return f"pip install 'babelcart[{extra}]'"


def require_extra(extra: str, modules: Sequence[str], feature: str) -> None:
    """Return when every module imports; else raise :class:`MissingExtraError`: "FEATURE needs the [EXTRA]
    extra: pip install 'babelcart[EXTRA]' (MODULE is not installed)"."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise MissingExtraError(f"{feature} needs the [{extra}] extra: {install_hint(extra)} "
                                    f"({exc.name or name} is not installed)") from exc
