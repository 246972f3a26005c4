"""Tiny transformer models and tokenizers built IN CODE (no network), saved to a local folder.

Colleagues may import this module, e.g. from ``tests/export``::

    from tests.finetune.tiny_models import build_tiny_bert   # with the repo root on sys.path
    path = build_tiny_bert(tmp_path / "bert")                 # a folder AutoModel/AutoTokenizer load offline
    enc = get_encoder(f"hf:{path}")

Every builder is deterministic for a given ``seed`` and takes well under a second.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: A small multilingual corpus the tokenizers' vocabularies are built from (shopping-flavoured, several scripts).
CORPUS: tuple[str, ...] = (
    "great product, fast shipping, would buy again",
    "terrible quality, broke after one day, very bad",
    "the dress fits well and the colour is lovely",
    "the shoes are too small and the seller did not answer",
    "where is my order? I want a refund",
    "bluetooth headphones with good battery life",
    "produk bagus, pengiriman cepat, sangat puas",
    "kualitas buruk, barang rusak, kecewa sekali",
    "das Kleid ist schön und passt gut",
    "schlechte Qualität, nach einem Tag kaputt",
    "el producto es excelente y llegó rápido",
    "la calidad es mala y no funciona",
    "le produit est très bien, livraison rapide",
    "质量很好，物流很快，非常满意",
    "质量太差了，用了一天就坏了",
    "とても良い商品です、また買います",
    "品質が悪い、すぐに壊れた",
    "good good good great excellent love",
    "bad bad awful poor worst hate",
    "query: passage: red blue green black white",
)

SPECIAL_BERT = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SPECIAL_XLMR = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def _corpus(sentences: Sequence[str] | None) -> list[str]:
    return list(CORPUS) + list(sentences or [])


def _pieces(tok: Any, sentences: Sequence[str] | None) -> Counter[str]:
    """The corpus's words as ``tok``'s own normalizer and pre-tokenizer cut them, with their counts."""
    words: Counter[str] = Counter()
    for text in _corpus(sentences):
        norm = tok.normalizer.normalize_str(text) if tok.normalizer is not None else text
        words.update(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(norm))
    return words


def _by_count(counts: Counter[str]) -> list[str]:
    """Most frequent first, ties in code-point order: the same list in every process (the ``tokenizers``
    trainers break ties by hash order, which changes from run to run)."""
    return sorted(counts, key=lambda w: (-counts[w], w))


def tiny_bert_tokenizer(sentences: Sequence[str] | None = None, *, vocab_size: int = 400):
    """A WordPiece tokenizer (BERT style: [CLS] ... [SEP], lowercase, CJK split) over ``sentences``: the special
    tokens, every character (alone and as a ``##`` continuation), then whole words by frequency."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = _pieces(tok, sentences)
    chars = sorted({c for w in words for c in w})
    vocab = list(SPECIAL_BERT) + chars + [f"##{c}" for c in chars]
    vocab += [w for w in _by_count(words) if len(w) > 1][:max(0, vocab_size - len(vocab))]
    tok.model = models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]")
    tok.add_special_tokens(SPECIAL_BERT)
    tok.decoder = decoders.WordPiece()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=512,
    )


def tiny_xlmr_tokenizer(sentences: Sequence[str] | None = None, *, vocab_size: int = 400):
    """A Unigram tokenizer (XLM-R style: <s> ... </s>, metaspace) over ``sentences``: the special tokens,
    whole words scored by log frequency, and every character as a costly fallback."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    words = _pieces(tok, sentences)
    chars: Counter[str] = Counter(c for w, n in words.items() for c in w for _ in range(n))
    total_words, total_chars = sum(words.values()), sum(chars.values())
    pieces = [(t, 0.0) for t in SPECIAL_XLMR]
    pieces += [(c, math.log(chars[c] / total_chars) - 10.0) for c in sorted(chars)]
    pieces += [(w, math.log(words[w] / total_words)) for w in _by_count(words) if len(w) > 1]
    pieces = pieces[:max(vocab_size, len(SPECIAL_XLMR) + len(chars))]
    tok.model = models.Unigram(pieces, unk_id=SPECIAL_XLMR.index("<unk>"), byte_fallback=False)
    tok.add_special_tokens(SPECIAL_XLMR)
    tok.decoder = decoders.Metaspace()
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        cls_token="<s>", sep_token="</s>", mask_token="<mask>", model_max_length=512,
    )


def _save_random_init(path: Path, model_cls: Any, config: Any, tokenizer: Any, seed: int) -> Path:
    """Save ``model_cls(config)``, randomly initialised with torch seeded by ``seed``, and ``tokenizer`` to ``path``."""
    import torch

    torch.manual_seed(seed)
    model_cls(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_bert(
    path: str | Path, *, sentences: Sequence[str] | None = None, hidden_size: int = 32, num_layers: int = 2,
    num_heads: int = 2, intermediate_size: int = 64, max_position: int = 128, seed: int = 0,
) -> Path:
    """Save a randomly initialised tiny BERT + WordPiece tokenizer to ``path``; returns ``path``.

    The folder loads with ``AutoModel.from_pretrained(path)`` / ``AutoTokenizer.from_pretrained(path)``.
    ``max_position`` is small on purpose so tests exercise truncation (texts beyond it must not crash).
    """
    from transformers import BertConfig, BertModel

    path = Path(path)
    tokenizer = tiny_bert_tokenizer(sentences)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, intermediate_size=intermediate_size,
        max_position_embeddings=max_position, pad_token_id=tokenizer.pad_token_id,
    )
    tokenizer.model_max_length = max_position
    return _save_random_init(path, BertModel, config, tokenizer, seed)


def build_tiny_xlmr(
    path: str | Path, *, sentences: Sequence[str] | None = None, hidden_size: int = 32, num_layers: int = 2,
    num_heads: int = 2, intermediate_size: int = 64, max_position: int = 130, seed: int = 0,
) -> Path:
    """Save a randomly initialised tiny XLM-RoBERTa + Unigram tokenizer to ``path``; returns ``path``.

    XLM-R positions start at ``pad_token_id + 1``, so ``max_position`` = usable length + 2.
    """
    from transformers import XLMRobertaConfig, XLMRobertaModel

    path = Path(path)
    tokenizer = tiny_xlmr_tokenizer(sentences)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, intermediate_size=intermediate_size,
        max_position_embeddings=max_position, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    tokenizer.model_max_length = max_position - 2
    return _save_random_init(path, XLMRobertaModel, config, tokenizer, seed)


def build_tiny_sentence_transformer(path: str | Path, *, base: str | Path | None = None, seed: int = 0,
                                    prompts: dict[str, str] | None = None) -> Path:
    """Save a tiny sentence-transformers model (Transformer + mean Pooling + Normalize) to ``path``.

    ``base`` is an existing tiny HF folder (built with :func:`build_tiny_bert` beside ``path`` when omitted).
    ``prompts`` (e.g. ``{"query": "query: ", "passage": "passage: "}``) are stored in the model's config.
    """
    from sentence_transformers import SentenceTransformer
    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, Pooling, Transformer  # type: ignore[no-redef]

    path = Path(path)
    if base is None:
        base = build_tiny_bert(path.with_name(path.name + "-base"), seed=seed)
    word = Transformer(str(base))
    dim_fn = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pool = Pooling(dim_fn(), pooling_mode="mean")
    model = SentenceTransformer(modules=[word, pool, Normalize()], prompts=prompts, device="cpu")
    model.save(str(path))
    return path
