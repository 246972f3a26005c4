"""A frozen-encoder model at inference: encoder vectors, per-language alignment, then the heads.

>>> clf = load_model("models/sentiment")                 # doctest: +SKIP
>>> clf.predict(["很好用", "Sehr schlecht"])              # doctest: +SKIP
[{'pred': 'pos', 'scores': {'neg': 0.08, 'pos': 0.92}, 'lang': 'zh'}, ...]

A refitted model (``train --method finetune`` on classify) is a head model that carries its fine-tuned encoder
in a subfolder (``encoder.bundled`` in ``config.json``); :func:`bundled_encoder` opens it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from babelcart.encoders import get_encoder
from babelcart.encoders.base import pinned_spec, vectors_id
from babelcart.encoders.hf import HFEncoder
from babelcart.encoders.onnx import OnnxEncoder
from babelcart.models.folder import ModelLoadError, load_head_arrays, read_config
from babelcart.models.multitask import TransferModel
from babelcart.models.predictor import RecordsMixin, check_texts
from babelcart.text.languages import resolve_languages


class HeadClassifier(RecordsMixin):
    """A frozen encoder + alignment + heads. ``predict`` returns one dict per text."""

    def __init__(self, path: Path, config: dict[str, Any], model: TransferModel, encoder: Any) -> None:
        self.path = path
        self.config = config
        self.model = model
        self.encoder = encoder
        self.task: str = config["task"]
        self.tasks: list[str] = list(config["tasks"])
        self.labels: list[Any] = list(config["labels"])
        self.encoder_spec: str = config["encoder"]["spec"]
        self.role: str = config["encoder"].get("role", "query")
        self.text_field: str = config.get("text_field", "text")
        self.source_lang: str | None = config.get("source_lang")

    @property
    def heads(self) -> list[str]:
        return [h.name for h in self.model.heads]

    def predict(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
        """Predict for ``texts``; ``langs[i]`` (or None to detect) gives each text's language."""
        texts = check_texts(texts, langs)
        if not texts:
            return []
        resolved = resolve_languages(texts, langs)
        X = self.encoder.encode(texts, role=self.role)
        rows = self.model.outputs(self.model.features(X, resolved))
        for row, lang in zip(rows, resolved, strict=True):
            row["lang"] = lang
        return rows


def load_head_model(folder: Path, cfg: dict[str, Any], *, encoder: Any = None,
                    cache_dir: str | None = None) -> HeadClassifier:
    """The head model in ``folder`` (its ``config.json`` already read as ``cfg``), checked against its encoder."""
    for key in ("task", "tasks", "labels", "encoder", "model"):
        if key not in cfg:
            raise ModelLoadError(f"{folder}/config.json is incomplete: {key!r} is missing")
    arrays = load_head_arrays(folder, cfg)
    try:
        model = TransferModel.from_arrays(arrays, cfg["model"])
    except (KeyError, ValueError) as exc:
        raise ModelLoadError(f"{folder} is corrupted or incomplete: {exc}") from exc
    spec, dim = cfg["encoder"]["spec"], int(cfg["encoder"]["dim"])
    _check_dims(folder, model, dim)
    bundled = bool(cfg["encoder"].get("bundled"))
    if bundled and (encoder is None or vectors_id(encoder).partition("#")[0] != cfg["encoder"].get("build")):
        encoder = bundled_encoder(folder, cfg, cache_dir=cache_dir)  # the model's own fine-tuned encoder
    build = cfg["encoder"].get("build")
    pinned = spec if bundled else pinned_spec(spec, build)  # the build it was trained on, if the default moved
    if encoder is not None and pinned != spec and encoder.spec == spec and vectors_id(encoder) != build:
        encoder = None  # the given default encoder no longer makes the model's vectors; its own build still can
    if encoder is None:
        encoder = get_encoder(pinned, cache_dir=cache_dir) if cache_dir else get_encoder(pinned)
    if encoder.spec not in (spec, pinned) or int(encoder.dim) != dim:
        raise ModelLoadError(f"{folder} was trained with encoder {spec!r} ({dim}-d) but the given encoder is "
                             f"{encoder.spec!r} ({encoder.dim}-d); use the same encoder")
    if build is not None and not bundled and vectors_id(encoder) != build:
        raise ModelLoadError(f"{folder} was trained on vectors of {build}, but encoder {spec!r} now gives "
                             f"{vectors_id(encoder)}: retrain the model (babelcart train ...) so its head sees "
                             "the vectors it will serve")
    return HeadClassifier(folder, cfg, model, encoder)


def _check_dims(folder: Path, model: TransferModel, dim: int) -> None:
    for hs in model.heads:
        probe = np.zeros((1, dim), dtype=np.float32)
        try:
            hs.head.logits(probe)
        except ValueError as exc:
            raise ModelLoadError(f"{folder}: head {hs.name!r} does not fit the {dim}-d encoder in config.json "
                                 f"({exc})") from exc
    for name, mu in getattr(model.aligner.centering_, "means_", {}).items():
        if mu.shape != (dim,):
            raise ModelLoadError(f"{folder}: centering statistics for {name} have shape {mu.shape}, not ({dim},)")


def bundled_encoder(folder: str | Path, cfg: dict[str, Any], *, cache_dir: str | None = None,
                    precision: str | None = None) -> Any:
    """The encoder a refitted model folder carries, named as its ``config.json`` names it: the fine-tuned
    transformer, or in an ONNX export (``"format": "onnx"``) its ONNX encoder (``precision``: fp32, int8 or, by
    default, the one the export chose)."""
    folder = Path(folder)
    enc_cfg = cfg["encoder"]
    sub = folder / enc_cfg["bundled"]
    if enc_cfg.get("format") == "onnx":
        if not (sub / "config.json").is_file():
            raise ModelLoadError(f"{folder} is incomplete: its ONNX encoder {sub} is missing")
        enc: Any = OnnxEncoder(str(sub), precision=precision or enc_cfg.get("precision"), cache_dir=cache_dir)
        vectors = f"{enc_cfg['build']}#{enc.precision}"  # int8 vectors are not the fp32 ones
    else:
        if not (sub / "encoder" / "config.json").is_file():
            raise ModelLoadError(f"{folder} is incomplete: its fine-tuned encoder {sub / 'encoder'} is missing")
        ft = read_config(sub)
        enc = HFEncoder(str(sub / "encoder"), query_prefix=ft.get("query_prefix", ""),
                        passage_prefix=ft.get("passage_prefix", ""), max_length=ft.get("max_length", 512),
                        cache_dir=cache_dir)
        vectors = enc_cfg["build"]
    enc.spec, enc.cache_spec = enc_cfg["spec"], vectors
    return enc
