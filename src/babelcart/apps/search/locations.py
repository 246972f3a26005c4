"""Where a search index lives: a folder, a folder of shards, or a PostgreSQL URL (no database driver needed).

``postgresql+psycopg://user:pass@host:5432/db?schema=shop_search`` (SQLAlchemy's spelling is accepted; the
``schema`` parameter, default :data:`DEFAULT_SCHEMA`, names the PostgreSQL schema that holds the index).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

DEFAULT_SCHEMA = "babelcart_search"
_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")


def is_postgres_url(location: object) -> bool:
    """True for ``postgresql://`` / ``postgres://`` URLs (with or without a ``+driver``)."""
    return isinstance(location, str) and re.match(r"^postgres(ql)?(\+\w+)?://", location) is not None


def split_url(url: str) -> tuple[str, str]:
    """``(libpq conninfo URL, schema)`` from a babelcart index URL; ``ValueError`` for a bad schema name."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), DEFAULT_SCHEMA)
    if not _SCHEMA_RE.match(schema):
        raise ValueError(f"schema {schema!r} is not a plain lower-case name (letters, digits, _)")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(("postgresql" if scheme in ("postgres", "postgresql") else scheme, parts.netloc,
                       parts.path, rest, parts.fragment)), schema
