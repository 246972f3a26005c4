"""Progress bars that switch themselves off when nobody is watching."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_bar(
    iterable: Iterable[T] | None, *, total: int | None = None, desc: str = "", enabled: bool | None = None
) -> tqdm:
    """A tqdm bar over ``iterable`` on stderr (so callers can ``set_postfix``), or with ``iterable=None`` one that
    the caller moves with ``update``; off when stderr is not a TTY unless ``enabled``."""
    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(iterable, total=total, desc=desc, disable=not show, leave=False, file=sys.stderr)


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool | None = None
) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr; off when stderr is not a TTY unless ``enabled``."""
    yield from progress_bar(iterable, total=total, desc=desc, enabled=enabled)
