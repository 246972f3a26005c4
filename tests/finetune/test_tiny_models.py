"""The tiny models' tokenizers come out the same in every process, so seeded tests are reproducible."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VOCABS = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tiny_models import tiny_bert_tokenizer, tiny_xlmr_tokenizer
print(json.dumps([sorted(f().get_vocab().items()) for f in (tiny_bert_tokenizer, tiny_xlmr_tokenizer)]))
"""


def test_tokenizer_vocabularies_are_identical_across_processes() -> None:
    here = str(Path(__file__).resolve().parent)
    runs = [subprocess.run([sys.executable, "-c", VOCABS, here], capture_output=True, text=True, check=True,
                           timeout=120).stdout.splitlines()[-1] for _ in range(2)]
    assert runs[0] == runs[1]  # the tokenizers trainers' tie order changes from process to process


def test_every_corpus_word_is_one_piece_and_unknown_words_fall_back_to_characters() -> None:
    from tiny_models import tiny_bert_tokenizer, tiny_xlmr_tokenizer

    bert = tiny_bert_tokenizer()
    assert bert.tokenize("great product") == ["great", "product"]
    assert bert.tokenize("dog") == ["d", "##o", "##g"]
    xlmr = tiny_xlmr_tokenizer()
    assert xlmr.tokenize("great dress") == ["▁great", "▁dress"]
    assert xlmr.tokenize("dog") == ["▁", "d", "o", "g"]
    assert xlmr.pad_token_id == 1  # XLM-R positions start after the pad id
