"""The tables of a search index in PostgreSQL, one schema per index (named by the URL, see ``locations``):

- ``meta(key, value jsonb)``: the format version and the index settings (fusion, BM25 k1/b, encoder build...);
- ``products``: one row per live product (``pid`` identity key, ``id`` unique), title, language, category,
  price, their folded filter keys, the analyzed length and the pgvector ``embedding``;
- ``postings(term, pid, tf, doc_len)``: the BM25 inverted table (``term`` is a 64-bit hash of the analyzed term;
  the document length is repeated so that an unfiltered BM25 query reads the postings index only);
- ``stats(lang, n, total_len)``: live products and their summed length per language, kept by statement
  triggers on ``products`` inside the writing transaction, so BM25 statistics are exact after every write.

An HNSW index on ``embedding`` (inner product) exists once the catalog is larger than the index's
``hnsw_threshold``; below it the dense side is an exact scan, as in the folder backend.
"""

from __future__ import annotations

import hashlib

from psycopg import sql

FORMAT = "babelcart-search-pg"
FORMAT_VERSION = 1
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80


def term_key(term: str) -> int:
    """The signed 64-bit key of an analyzed term (BLAKE2b; collisions are out of reach at catalog sizes)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


def ddl(schema: str, dim: int | None) -> list[sql.Composed]:
    """Statements that create the index's tables and triggers in ``schema`` (which must not exist)."""
    s = sql.Identifier(schema)
    emb = sql.SQL(", embedding vector({})").format(sql.Literal(dim)) if dim else sql.SQL("")
    stmts = [
        sql.SQL("CREATE SCHEMA {}").format(s),
        sql.SQL("CREATE TABLE {}.meta (key text PRIMARY KEY, value jsonb NOT NULL)").format(s),
        sql.SQL("CREATE TABLE {}.products (pid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                "id text NOT NULL UNIQUE, title text NOT NULL, lang text, lang_key text, category text, "
                "category_key text, price double precision, doc_len real NOT NULL{})").format(s, emb),
        sql.SQL("CREATE TABLE {}.postings (term bigint NOT NULL, pid bigint NOT NULL "
                "REFERENCES {}.products (pid) ON DELETE CASCADE, tf real NOT NULL, doc_len real NOT NULL, "
                "PRIMARY KEY (term, pid) INCLUDE (tf, doc_len))").format(s, s),
        sql.SQL("CREATE INDEX ON {}.postings (pid)").format(s),
        # filters: a selective one reads its rows through these, then scores them exactly
        sql.SQL("CREATE INDEX ON {}.products (category_key)").format(s),
        sql.SQL("CREATE INDEX ON {}.products (lang_key)").format(s),
        sql.SQL("CREATE INDEX ON {}.products (price)").format(s),
        sql.SQL("CREATE TABLE {}.stats (lang text PRIMARY KEY, n bigint NOT NULL, total_len double precision "
                "NOT NULL)").format(s),
    ]
    # statement triggers with transition tables: one stats update per statement, with the exact old/new rows;
    # the schema is read at run time (TG_TABLE_SCHEMA) so that a freshly built index can be renamed into place
    bump = ("EXECUTE format('INSERT INTO %I.stats AS st (lang, n, total_len) SELECT coalesce(lang, ''''), "
            "{sign}count(*), {sign}sum(doc_len) FROM {rows} GROUP BY 1 ORDER BY 1 ON CONFLICT (lang) DO UPDATE "
            "SET n = st.n + excluded.n, total_len = st.total_len + excluded.total_len', TG_TABLE_SCHEMA);")
    bodies = {
        "insert": bump.format(sign="", rows="new_rows"),
        "delete": bump.format(sign="-", rows="old_rows"),
        "update": bump.format(sign="-", rows="old_rows") + bump.format(sign="", rows="new_rows"),
    }
    refs = {"insert": "NEW TABLE AS new_rows", "delete": "OLD TABLE AS old_rows",
            "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows"}
    for event, body in bodies.items():
        fn = sql.Identifier(f"stats_{event}")
        stmts.append(sql.SQL("CREATE FUNCTION {}.{}() RETURNS trigger LANGUAGE plpgsql AS {}").format(
            s, fn, sql.Literal(f"BEGIN {body} RETURN NULL; END")))
        stmts.append(sql.SQL("CREATE TRIGGER {} AFTER {} ON {}.products REFERENCING {} FOR EACH STATEMENT "
                             "EXECUTE FUNCTION {}.{}()").format(
            fn, sql.SQL(event.upper()), s, sql.SQL(refs[event]), s, fn))
    return stmts


def hnsw_ddl(schema: str) -> sql.Composed:
    """The HNSW index on ``embedding`` (inner product, the folder backend's graph settings)."""
    return sql.SQL("CREATE INDEX IF NOT EXISTS products_embedding_hnsw ON {}.products USING hnsw "
                   "(embedding vector_ip_ops) WITH (m = {}, ef_construction = {})").format(
        sql.Identifier(schema), sql.Literal(HNSW_M), sql.Literal(HNSW_EF_CONSTRUCTION))
