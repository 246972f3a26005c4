"""Language ID's cold start: lingua models loaded on ``startup.py``'s texts against accuracy, policy by policy.

A cold start (issue 33) is mostly lingua loading its full (1-5-gram) models, 0.1-0.3 s a language, for the
languages the texts fastText is unsure of name. Which languages those are is the detector's policy: a short (or
fastText-clueless) text's shortlist from lingua's trigram models (``LINGUA_SHORTLIST``, ``SHORTLIST_RATIO``) plus
fastText's best two and English; a medium text's fastText best three. This script measures how far that can shrink:

1. for every text of ``benchmarks/langid.py``'s data (whole texts, 1-3 word snippets, reviews; ``--split``; with the
   43 tested languages and the default 80) and of ``startup.py``'s three text sets, it records what the detector
   knows before lingua (the texts it would send there, and how);
2. replays each policy on those records, asking lingua for exactly the language subsets the policy names (answers
   memoised; the full models may also be fed the words cut into overlapping 3- or 4-letter pieces: lingua's
   1-3- or 1-4-gram view, as its 4- and 5-gram models are most of a language's load), and checks itself: the
   detector's own constants must give the detector's answers exactly (any difference fails the run);
3. prints, per policy, the languages whose full models load on each start-up set and the right answers per data
   set, with the difference to the detector's.

    nice -n 5 .venv/bin/python benchmarks/langid_shortlist.py               # dev split (constants are chosen there)
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass, field
from typing import Any

from _common import load_note, markdown_table, write_result
from babelcart.datasets import shared
from babelcart.text import langid as L
from babelcart.text.scripts import LETTERS_RE
from langid import load_items, load_reviews
from startup import cold_texts

Values = list[tuple[str, float]]


def pieces(text: str, n: int) -> str:
    """The text's words cut into overlapping ``n``-letter pieces: lingua then sees the same 1..n-grams and no longer
    ones (it scores the set of a text's n-grams)."""
    out: list[str] = []
    for w in LETTERS_RE.findall(text.lower()):
        out += [w[i:i + n] for i in range(max(1, len(w) - n + 1))]
    return " ".join(out)


@dataclass
class Policy:
    """How lingua's languages are chosen: the shortlist (size, trigram ratio, or a cheap fastText + trigram mix),
    the trigram pass's languages, and which models score short and medium texts."""

    n: int = L.LINGUA_SHORTLIST
    ratio: float = L.SHORTLIST_RATIO
    mix_within: float | None = None  # shortlist: the languages within this share of a 0.3 fastText + 0.7 trigram
    # mix (fewer than two: the trigram view stands)
    ft_candidates: int | None = None  # the trigram pass weighs only fastText's best this many (and the prior's)
    agree: float | None = None  # a short text keeps the trigram view where its best is fastText's and >= this
    short_pieces: int | None = None  # short texts scored on lingua's 1..k-gram view instead of its full models
    medium_pieces: int | None = None
    note: str = ""
    loads: dict[str, Any] = field(default_factory=dict)


POLICIES: dict[str, Policy] = {
    f"detector ({L.LINGUA_SHORTLIST}, ratio {L.SHORTLIST_RATIO})": Policy(),
    "6, no ratio (before; its trigram pass weighed every script)": Policy(n=6, ratio=0.0),
    "3, ratio 0.005": Policy(n=3, ratio=0.005),
    "5, ratio 0.005": Policy(n=5, ratio=0.005),
    "4, no ratio": Policy(n=4, ratio=0.0),
    "cheap mix, within 5% (3 at most)": Policy(n=3, mix_within=0.05),
    "cheap mix, within 20% (3 at most)": Policy(n=3, mix_within=0.2),
    "cheap mix, within 40% (2 at most)": Policy(n=2, mix_within=0.4),
    "trigram pass on fastText's best 10": Policy(ft_candidates=10),
    "trigram pass on fastText's best 5": Policy(ft_candidates=5),
    "trigram view where it agrees with fastText (>= 0.2)": Policy(agree=0.2),
    "short texts on 1-3-grams": Policy(short_pieces=3),
    "short texts on 1-4-grams": Policy(short_pieces=4),
    "medium texts on 1-4-grams": Policy(medium_pieces=4),
}


class Lingua:
    """lingua's values for (text, languages, models), memoised (a replay asks the same question many times)."""

    def __init__(self, det: L.LanguageDetector) -> None:
        self.det = det
        self.memo: dict[tuple[str, frozenset[str] | None, int], Values] = {}

    def __call__(self, text: str, subset: frozenset[str] | None, order: int) -> Values:
        """``order`` 3: trigram models; 5: full models; -3 / -4: full models on the 1..k-gram pieces."""
        key = (text, subset, order)
        if key not in self.memo:
            shown = pieces(text, -order) if order < 0 else text
            got = self.det.lingua.scores([shown], subset, low=order == 3)
            self.memo[key] = got[0] if got else []
        return self.memo[key]


def ranked(dist: dict[str, float]) -> list[str]:
    return sorted(dist, key=lambda k: -dist[k])


def shortlist(det: L.LanguageDetector, u: Any, tri: Values, li_tri: dict[str, float], p: Policy
              ) -> frozenset[str] | None:
    """The detector's ``_shortlist`` with the policy's constants (or the cheap mix)."""
    top: list[str] = []
    if p.mix_within is not None:
        mixed = {k: (0.3 * u.ft.get(k, 0.0) + 0.7 * li_tri.get(k, 0.0)) * det.prior.get(k, 1.0)
                 for k in set(u.ft) | set(li_tri)}
        if mixed:
            best = max(mixed.values())
            top = [k for k in ranked(mixed) if mixed[k] >= p.mix_within * best][:p.n]
    else:
        best = 0.0
        for code, value in tri:
            if code in u.cands and code not in top:
                best = best or value
                if value < p.ratio * best:
                    break
                top.append(code)
                if len(top) >= p.n:
                    break
        top += ranked(u.ft)[:2]
    top += [k for k, v in det.prior.items() if v > 1.0 and k in u.cands]
    short = frozenset(top) & det.lingua.codes
    return short if len(short) >= 2 else None


def lingua_view(lingua: Lingua, u: Any, p: Policy) -> tuple[dict[str, float], frozenset[str], frozenset[str], int]:
    """lingua's distribution for one text under the policy, the trigram and full-model languages it loads, and
    the n-gram order of those full models (5: all)."""
    det = lingua.det
    codes = det.lingua.codes
    if u.shortlist:
        pass_langs = u.cands & codes
        if p.ft_candidates is not None and u.ft:
            pass_langs &= frozenset(ranked(u.ft)[:p.ft_candidates] + [k for k, v in det.prior.items() if v > 1.0])
        tri = lingua(u.text, pass_langs, 3)
        li_tri = det._lingua_dist(tri, u.cands)
        if p.agree is not None and li_tri and u.ft and ranked(li_tri)[0] == ranked(u.ft)[0] and \
                li_tri[ranked(li_tri)[0]] >= p.agree:
            return li_tri, pass_langs, frozenset(), 5
        sub = shortlist(det, u, tri, li_tri, p)
        if sub is None and p.mix_within is not None:
            return li_tri, pass_langs, frozenset(), 5  # one language left in the mix: the trigram view stands
        order = p.short_pieces or 5
        full = lingua(u.text, sub, -order if order < 5 else 5)
        return det._lingua_dist(full, u.cands), pass_langs, (sub or codes) & codes, order
    if u.low:
        return det._lingua_dist(lingua(u.text, u.subset, 3), u.cands), u.subset & codes, frozenset(), 5
    order = p.medium_pieces or 5
    full = lingua(u.text, u.subset, -order if order < 5 else 5)
    return det._lingua_dist(full, u.cands), frozenset(), u.subset & codes, order


@dataclass
class Bucket:
    languages: tuple[str, ...] | None
    texts: list[str]
    gold: list[str | None]
    decided: list[str | None] = field(default_factory=list)  # the answer when lingua is not asked, else None
    records: dict[int, Any] = field(default_factory=dict)  # text index -> the detector's _Unsure for it
    detector: list[str] = field(default_factory=list)  # the detector's own answers


def record(name: str, b: Bucket) -> None:
    det = L.LanguageDetector(languages=b.languages)
    b.detector = [g.lang for g in det.detect_batch(b.texts)]
    seen: list[Any] = []
    det._lingua_stage = seen.extend  # type: ignore[method-assign]  # stop before lingua: what it would be asked
    mixed = det._mix
    det._mix = lambda u: L.LangGuess("?", 0.0, f"u{next(i for i, s in enumerate(seen) if s is u)}")  # type: ignore
    first = det.detect_batch(b.texts)
    det._mix = mixed  # type: ignore[method-assign]
    for i, g in enumerate(first):
        if g.method.startswith("u"):
            b.records[i] = seen[int(g.method[1:])]
            b.decided.append(None)
        else:
            b.decided.append(g.lang)
    print(f"  {name}: {len(b.texts)} texts, {len(b.records)} reach lingua", file=sys.stderr)


def replay(b: Bucket, p: Policy, linguas: dict[Any, Lingua]) -> tuple[list[str], dict[str, set[str]]]:
    lingua = linguas.setdefault(b.languages, Lingua(L.LanguageDetector(languages=b.languages)))
    answers = list(b.decided)
    loads: dict[str, set[str]] = {"trigram": set(), "full": set(), "1-3": set(), "1-4": set()}
    for i, rec in b.records.items():
        li, tri_langs, full_langs, order = lingua_view(lingua, rec, p)
        u = copy.copy(rec)
        u.li = li
        answers[i] = lingua.det._mix(u).lang
        loads["trigram"] |= tri_langs
        loads["full" if order == 5 else f"1-{order}"] |= full_langs
    return [a or L.UND for a in answers], loads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["dev", "test"], default="dev")
    ap.add_argument("--per-lang", type=int, default=150)
    ap.add_argument("--reviews", type=int, default=1000)
    args = ap.parse_args()

    items = load_items(args.per_lang, 0, args.split)
    reviews = load_reviews(args.reviews, 0, args.split)
    buckets: dict[str, Bucket] = {}
    for set_name, langs in (("43", L.CORE_LANGUAGES), ("80", None)):
        for field_name, its in (("whole", items), ("short", items), ("reviews", reviews)):
            key = "whole" if field_name == "reviews" else field_name
            buckets[f"{field_name} ({set_name})"] = Bucket(langs, [it[key] for it in its], [it["gold"] for it in its])
    fifty = [r["text"] for r in shared.womens_clothing(limit=30)] + [r["text"] for r in shared.prdect_reviews(limit=20)]
    starts = {"first 1,200 reviews": cold_texts(False), "1,200 reviews + sentences": cold_texts(True),
              "50 reviews (babelcart detect)": fifty}
    for name, texts in starts.items():
        buckets[name] = Bucket(None, texts, [None] * len(texts))
    print(f"recording ({args.split} split)", file=sys.stderr)
    for name, b in buckets.items():
        record(name, b)

    linguas: dict[Any, Lingua] = {}
    scored = [n for n in buckets if n not in starts]
    rows, out = [], {}
    base: dict[str, int] = {}
    for pname, p in POLICIES.items():
        right, loads_of = {}, {}
        for name, b in buckets.items():
            answers, loads = replay(b, p, linguas)
            if name in starts:
                loads_of[name] = {k: sorted(v) for k, v in loads.items() if v}
            else:
                right[name] = sum(a == g for a, g in zip(answers, b.gold, strict=True))
            if pname == next(iter(POLICIES)):
                diff = sum(a != d for a, d in zip(answers, b.detector, strict=True))
                if diff:
                    raise SystemExit(f"the replay of the detector's constants differs from the detector on {diff} "
                                     f"texts of {name}: the simulation no longer mirrors langid.py")
        base = base or right
        out[pname] = {"right": right, "loads": loads_of, "policy": {k: v for k, v in vars(p).items() if k != "loads"}}
        full = [len(loads_of[s].get("full", [])) for s in starts]
        partial = [len(loads_of[s].get("1-3", []) or loads_of[s].get("1-4", [])) for s in starts]
        rows.append([pname, " / ".join(map(str, full)), " / ".join(map(str, partial)),
                     " / ".join(str(len(loads_of[s].get("trigram", []))) for s in starts)]
                    + [f"{right[n]} ({right[n] - base[n]:+d})" for n in scored])
    header = ["policy", "full models: 1,200 rev / +sent / 50", "1-k-gram only", "trigram"] + scored
    table = markdown_table(header, rows)
    print(f"\n## lingua models loaded vs right answers ({args.split} split; self-check passed: the detector's "
          "constants replay to its answers exactly)\n")
    print(table)
    print(f"\nTexts per set: whole / short {len(items)}, reviews {len(reviews)}.")
    print(load_note())
    write_result(f"langid_shortlist_{args.split}", {"args": vars(args), "table": table, "policies": out})


if __name__ == "__main__":
    main()
