"""The ``onnx:<export folder>`` encoder and the ONNX classifier: onnxruntime + ``tokenizers``, no torch.

An export folder is written by ``babelcart export DIR --onnx [--int8]`` (see :mod:`babelcart.export`)::

    model.onnx / model.int8.onnx   the graph (pooling and L2 norm inside for encoders, logits for classifiers)
    tokenizer/tokenizer.json       the fast tokenizer
    config.json                    format, kind, labels, prefixes, max_length, pad id, validation numbers

>>> enc = get_encoder("onnx:models/e5-onnx")            # doctest: +SKIP   (int8 when present)
>>> enc = get_encoder("onnx:models/e5-onnx?precision=fp32")  # doctest: +SKIP
>>> clf = load_onnx_classifier("models/intent-onnx")    # doctest: +SKIP
>>> clf.predict(["where is my parcel?"])[0]["pred"]     # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np

from babelcart.encoders.base import BatchedEncoder, Role
from babelcart.fsutil import read_json_config

logger = logging.getLogger(__name__)

FORMAT = "babelcart-onnx"
FORMAT_VERSION = 1
MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}


class OnnxModelError(ValueError):
    """An export folder that is missing, incomplete, from a newer version or corrupted."""


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching in tests
        raise ImportError("onnxruntime is not installed: install babelcart[onnx]") from exc
    return onnxruntime


def _import_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError as exc:  # pragma: no cover
        raise ImportError("tokenizers is not installed: pip install tokenizers (a core babelcart dependency)") from exc
    return tokenizers


def read_export_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``config.json`` of an export folder; raise :class:`OnnxModelError` with the reason."""
    folder = Path(path)
    if not folder.is_dir():
        raise OnnxModelError(f"ONNX export folder not found: {folder}")
    cfg_path = folder / "config.json"
    cfg = read_json_config(cfg_path, OnnxModelError, missing=f"{folder} has no config.json: not a babelcart ONNX "
                                                             "export (run `babelcart export`)")
    if cfg.get("format") != FORMAT:
        raise OnnxModelError(f"{cfg_path} is not a babelcart ONNX export (format {cfg.get('format')!r})")
    if int(cfg.get("format_version", 0)) > FORMAT_VERSION:
        raise OnnxModelError(f"{folder} was written by a newer babelcart (format_version "
                             f"{cfg['format_version']} > {FORMAT_VERSION}); upgrade babelcart")
    for key in ("kind", "max_length", "pad_id"):
        if key not in cfg:
            raise OnnxModelError(f"{cfg_path} lacks {key!r}")
    if cfg["kind"] not in ("encoder", "classifier"):
        raise OnnxModelError(f"{cfg_path}: unknown kind {cfg['kind']!r}")
    if not (folder / "tokenizer" / "tokenizer.json").is_file():
        raise OnnxModelError(f"{folder} lacks tokenizer/tokenizer.json")
    return cfg


def pick_model_file(folder: Path, precision: str = "auto") -> tuple[Path, str]:
    """``model.int8.onnx`` when present (``auto``), else ``model.onnx``; or exactly the precision asked."""
    if precision not in ("auto", "fp32", "int8"):
        raise ValueError(f"precision must be 'auto', 'fp32' or 'int8', not {precision!r}")
    order = ["int8", "fp32"] if precision == "auto" else [precision]
    for p in order:
        f = folder / MODEL_FILES[p]
        if f.is_file():
            return f, p
    wanted = " or ".join(MODEL_FILES[p] for p in order)
    raise OnnxModelError(f"{folder} has no {wanted} (export it with `babelcart export --onnx"
                         f"{' --int8' if precision == 'int8' else ''}`)")


class TextBatcher:
    """Tokenizes texts into padded ``int64`` numpy arrays with ``tokenizers`` (no transformers)."""

    def __init__(self, tokenizer_json: str | os.PathLike[str], *, max_length: int, pad_id: int,
                 pad_token: str | None = None) -> None:
        tk = _import_tokenizers()
        try:
            tok = tk.Tokenizer.from_file(str(tokenizer_json))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises plain Exception subclasses
            raise OnnxModelError(f"cannot read tokenizer {tokenizer_json}: {exc}") from exc
        tok.enable_truncation(max_length=int(max_length))
        tok.no_padding()
        self.tokenizer = tok
        self.max_length = int(max_length)
        self.pad_id = int(pad_id)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of every text (special tokens added, truncated, not padded)."""
        return [e.ids for e in self.tokenizer.encode_batch([str(t) for t in texts])]

    def pad(self, seqs: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """``input_ids`` / ``attention_mask`` padded to the longest sequence (at least one column)."""
        width = max([len(x) for x in seqs] + [1])
        ids = np.full((len(seqs), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=np.int64)
        for i, x in enumerate(seqs):
            ids[i, :len(x)] = x
            mask[i, :len(x)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.pad(self.encode(texts))


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def make_session(model_file: Path, *, threads: int | None = None) -> Any:
    """An onnxruntime CPU session with full graph optimization; a corrupted file gives a clear error."""
    ort = _import_ort()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: shape-merge warnings on dynamic axes are noise
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(model_file), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ort raises its own Fail/InvalidProtobuf types
        raise OnnxModelError(f"cannot load ONNX model {model_file} (corrupted or incomplete file?): {exc}") from exc


class OnnxRunner:
    """What the encoder and the classifier share: config, tokenizer, session, a lock."""

    def __init__(self, path: str | os.PathLike[str], *, precision: str = "auto", threads: int | None = None,
                 expect_kind: str, micro_batch: int = 8) -> None:
        if micro_batch < 1:
            raise ValueError(f"micro_batch must be at least 1, not {micro_batch}")
        self.micro_batch = int(micro_batch)
        self.path = Path(path).expanduser()
        self.config = read_export_config(self.path)
        if self.config["kind"] != expect_kind:
            raise OnnxModelError(f"{self.path} holds an ONNX {self.config['kind']}, not an {expect_kind}"
                                 if expect_kind == "encoder" else
                                 f"{self.path} holds an ONNX {self.config['kind']}, not a {expect_kind}")
        self.model_file, self.precision = pick_model_file(self.path, precision)
        env_threads = os.environ.get("BABELCART_ONNX_THREADS")
        self.threads = threads or (int(env_threads) if env_threads else available_cores())
        self.session = make_session(self.model_file, threads=self.threads)
        self.batcher = TextBatcher(self.path / "tokenizer" / "tokenizer.json", max_length=self.config["max_length"],
                                   pad_id=self.config["pad_id"], pad_token=self.config.get("pad_token"))
        self._input_names = {i.name for i in self.session.get_inputs()}

    def run(self, texts: Sequence[str]) -> np.ndarray:
        """Graph output for ``texts`` in order. Texts of the same token length run together, up to
        ``micro_batch`` at a time, so no text is ever padded: a text's output does not depend on its batch
        mates (on CPU a batch of 8 is about as efficient per text as a batch of 64, and padding is waste)."""
        seqs = self.batcher.encode(texts)
        out: np.ndarray | None = None
        for idx in length_buckets([len(x) for x in seqs], self.micro_batch):
            feeds = {k: v for k, v in self.batcher.pad([seqs[i] for i in idx]).items() if k in self._input_names}
            res = np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)  # run() is thread-safe
            if out is None:
                out = np.zeros((len(texts), *res.shape[1:]), dtype=np.float32)
            out[idx] = res
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def length_buckets(lengths: Sequence[int], size: int) -> list[list[int]]:
    """Indices grouped by equal length, at most ``size`` a group, in order of length then position."""
    groups: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        groups.setdefault(n, []).append(i)
    return [ids[s:s + size] for n in sorted(groups) for ids in [groups[n]] for s in range(0, len(ids), size)]


def _parse_arg(arg: str) -> tuple[str, dict[str, str]]:
    path, _, query = arg.partition("?")
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    return path, params


class OnnxEncoder(BatchedEncoder):
    """Encoder over an ONNX export folder (spec ``onnx:<folder>``, ``onnx:<folder>?precision=fp32``).

    Picks ``model.int8.onnx`` when present unless ``precision`` says otherwise; adds the exported
    query/passage prefixes; tokenizes with ``tokenizers`` so serving needs neither torch nor transformers.
    """

    def __init__(self, arg: str = "", *, precision: str | None = None, threads: int | None = None,
                 micro_batch: int | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        path, params = _parse_arg(arg)
        if not path:
            raise ValueError("the onnx encoder needs a folder: onnx:<export folder>")
        precision = precision or params.get("precision", "auto")
        threads = threads or (int(params["threads"]) if "threads" in params else None)
        micro = micro_batch or int(params.get("micro_batch", 8))
        self._runner = OnnxRunner(path, precision=precision, threads=threads, expect_kind="encoder",
                                   micro_batch=micro)
        self.config = self._runner.config
        self.dim = int(self.config["dim"])
        self.precision = self._runner.precision
        self.spec = f"onnx:{path}?precision={self.precision}"
        self.prefixes: dict[str, str] = dict(self.config.get("prefixes") or {})

    def _embed(self, texts: list[str], role: Role) -> np.ndarray:
        prefix = self.prefixes.get(role, "")
        out = self._runner.run([prefix + t for t in texts])
        if out.shape != (len(texts), self.dim):
            raise OnnxModelError(f"ONNX model returned shape {out.shape}, expected {(len(texts), self.dim)}")
        return out
