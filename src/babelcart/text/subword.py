"""A shared multilingual subword tokenizer (BPE or Unigram) trained with language-balanced sampling.

Big languages would otherwise take the whole vocabulary. Each language ``l`` with ``n_l`` training texts is
sampled with probability ``p_l ∝ n_l ** (1 / T)`` (XLM-R / mT5 style): ``T = 1`` keeps the natural mix,
larger ``T`` flattens it towards uniform. The sampled corpus has as many texts as the input (small languages
are drawn with replacement). Pre-tokenization is SentencePiece-like (``Metaspace``, NFKC), so languages
written without spaces work too.

Fertility is reported per language: tokens per word for languages written with spaces, tokens per
character (non-space) for Chinese, Japanese, Thai, Lao, Khmer and Burmese, or whenever a text is mostly
written without spaces.

Saved folder: ``tokenizer.json`` (the ``tokenizers`` file) + ``babelcart_tokenizer.json`` (format version,
model, vocab size, temperature, sampling probabilities, fertility).

>>> tok = train_tokenizer(["hello world"] * 50 + ["你好世界"] * 5, ["en"] * 50 + ["zh"] * 5,
...                       vocab_size=60, model="unigram")  # doctest: +SKIP
>>> tok.encode("hello 世界")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import regex

from babelcart.fsutil import atomic_dir, recover_dir
from babelcart.text.scripts import UNSPACED_CLASS

logger = logging.getLogger(__name__)

__all__ = ["SubwordTokenizer", "fertility", "load_tokenizer", "sampling_probs", "train_tokenizer"]

FORMAT_VERSION = 1
CONFIG_FILE = "babelcart_tokenizer.json"
TOKENIZER_FILE = "tokenizer.json"
SPECIAL_TOKENS = ["<unk>", "<pad>", "<s>", "</s>"]
#: Languages measured per character (written without spaces between words).
CHAR_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "yue", "wuu", "bo"})
_UNSPACED_RE = regex.compile(f"[{UNSPACED_CLASS}]")


def sampling_probs(counts: dict[str, int], temperature: float) -> dict[str, float]:
    """``p_l ∝ n_l ** (1/T)``.

    >>> {k: round(v, 3) for k, v in sampling_probs({"en": 900, "id": 100}, 2.0).items()}
    {'en': 0.75, 'id': 0.25}
    """
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    langs = sorted(counts)
    w = np.array([counts[k] for k in langs], dtype=np.float64) ** (1.0 / temperature)
    if w.sum() <= 0:
        raise ValueError("no training texts")
    return {k: float(v) for k, v in zip(langs, w / w.sum(), strict=True)}


def _per_char(text: str, lang: str | None) -> bool:
    if lang in CHAR_LANGS:
        return True
    sample = text[:500]
    if not sample:
        return False
    return len(_UNSPACED_RE.findall(sample)) > 0.3 * len(sample.replace(" ", ""))


@dataclass
class SubwordTokenizer:
    """A trained tokenizer plus its training report."""

    tokenizer: Any
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    def encode(self, text: str) -> list[str]:
        """Subword pieces of ``text``."""
        return list(self.tokenizer.encode(text).tokens)

    def encode_ids(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids)))

    def save(self, path: str | Path) -> Path:
        """Write ``tokenizer.json`` and the config into ``path`` atomically."""
        path = Path(path)
        with atomic_dir(path) as tmp:
            self.tokenizer.save(str(tmp / TOKENIZER_FILE))
            (tmp / CONFIG_FILE).write_text(json.dumps(self.config, ensure_ascii=False, indent=2), encoding="utf-8")
        return path


def load_tokenizer(path: str | Path) -> SubwordTokenizer:
    """Load a folder written by :meth:`SubwordTokenizer.save`; clear errors for missing or foreign files."""
    from tokenizers import Tokenizer

    path = recover_dir(path)
    if not path.is_dir():
        raise FileNotFoundError(f"tokenizer folder not found: {path}")
    for name in (TOKENIZER_FILE, CONFIG_FILE):
        if not (path / name).exists():
            raise FileNotFoundError(f"{path} is not a babelcart tokenizer folder: {name} is missing")
    try:
        config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path / CONFIG_FILE} is not valid JSON: {exc}") from exc
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: tokenizer format version {version!r}, this babelcart reads {FORMAT_VERSION}")
    return SubwordTokenizer(tokenizer=Tokenizer.from_file(str(path / TOKENIZER_FILE)), config=config)


def fertility(tok: SubwordTokenizer, texts: Sequence[str], langs: Sequence[str | None]) -> dict[str, dict[str, Any]]:
    """Per language: ``fertility`` (tokens per word, or per character for unspaced scripts), ``unit``, counts."""
    tokens: dict[str, int] = defaultdict(int)
    units: dict[str, int] = defaultdict(int)
    kind: dict[str, Counter[str]] = defaultdict(Counter)
    for text, lang in zip(texts, langs, strict=True):
        key = lang or "und"
        if not text.strip():
            continue
        per_char = _per_char(text, lang)
        n_units = len(text.replace(" ", "")) if per_char else len(text.split())
        tokens[key] += len(tok.encode(text))
        units[key] += n_units
        kind[key]["char" if per_char else "word"] += 1
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(tokens):
        unit = kind[key].most_common(1)[0][0]
        out[key] = {"fertility": round(tokens[key] / max(units[key], 1), 3), "unit": unit,
                    "tokens": tokens[key], unit + "s": units[key], "texts": sum(kind[key].values())}
    return out


def train_tokenizer(
    texts: Sequence[str], langs: Sequence[str | None] | None = None, *, vocab_size: int = 8000,
    model: str = "unigram", temperature: float = 3.0, seed: int = 0, eval_fraction: float = 0.1,
    show_progress: bool = False,
) -> SubwordTokenizer:
    """Train a shared tokenizer on ``texts`` (one language code per text, or None) and measure fertility.

    Fertility is measured on a held-out ``eval_fraction`` per language (on the training texts when a
    language has fewer than 10 texts).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if model not in ("bpe", "unigram"):
        raise ValueError("model must be 'bpe' or 'unigram'")
    if vocab_size < len(SPECIAL_TOKENS) + 10:
        raise ValueError("vocab_size is too small")
    langs_l: list[str] = [(lg or "und") for lg in (langs or [None] * len(texts))]
    if len(langs_l) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(langs_l)} languages")
    by_lang: dict[str, list[str]] = defaultdict(list)
    for t, lg in zip(texts, langs_l, strict=True):
        if isinstance(t, str) and t.strip():
            by_lang[lg].append(t)
    if not by_lang:
        raise ValueError("no non-empty training texts")
    rng = np.random.default_rng(seed)
    train: dict[str, list[str]] = {}
    held: dict[str, list[str]] = {}
    for lg, items in by_lang.items():
        order = rng.permutation(len(items))
        n_eval = int(len(items) * eval_fraction) if len(items) >= 10 else 0
        held[lg] = [items[i] for i in order[:n_eval]] or items
        train[lg] = [items[i] for i in order[n_eval:]]
    probs = sampling_probs({lg: len(v) for lg, v in train.items()}, temperature)
    total = sum(len(v) for v in train.values())
    sample: list[str] = []
    drawn: dict[str, int] = {}
    for lg, p in probs.items():
        k = max(1, round(p * total))
        idx = rng.choice(len(train[lg]), size=k, replace=k > len(train[lg]))
        sample.extend(train[lg][i] for i in idx)
        drawn[lg] = k
    rng.shuffle(sample)  # type: ignore[arg-type]

    if model == "bpe":
        tk = Tokenizer(models.BPE(unk_token="<unk>"))
        trainer: Any = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                           show_progress=show_progress)
    else:
        tk = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                          unk_token="<unk>", show_progress=show_progress)
    tk.normalizer = normalizers.NFKC()
    tk.pre_tokenizer = pre_tokenizers.Metaspace()
    tk.decoder = decoders.Metaspace()
    try:
        tk.train_from_iterator(sample, trainer=trainer, length=len(sample))
    except Exception as exc:  # tokenizers raises a bare Exception for e.g. a vocabulary below the alphabet
        raise ValueError(f"tokenizer training failed ({exc}); try a larger --vocab-size") from exc
    tok = SubwordTokenizer(tokenizer=tk)
    held_texts = [t for lg in held for t in held[lg]]
    held_langs = [lg for lg in held for _ in held[lg]]
    fert = fertility(tok, held_texts, held_langs)
    tok.config = {
        "format_version": FORMAT_VERSION, "model": model, "vocab_size": tok.vocab_size,
        "requested_vocab_size": vocab_size, "temperature": temperature, "seed": seed,
        "languages": {lg: {"texts": len(by_lang[lg]), "p": round(probs[lg], 4), "sampled": drawn[lg]}
                      for lg in sorted(probs)},
        "fertility": fert,
    }
    logger.info("trained %s tokenizer with %d pieces on %d sampled texts", model, tok.vocab_size, len(sample))
    return tok
