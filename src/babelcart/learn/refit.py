"""Fine-tune, then the frozen head on the fine-tuned encoder: ``train --method finetune``'s default.

The fine-tuned model's own head sees its encoder's raw vectors. The frozen head (``train --method head``) adds what
transfer needs on top of any encoder: per-language centering with the unlabeled target text, label-shift handling,
calibration. Refitting it on the fine-tuned encoder's vectors keeps both (``benchmarks/finetune_recipes.py``, rows
"head refitted"; numbers in ``docs/finetune.md``).

A refitted model is a head model folder (``config.json`` method ``head``) that carries its encoder:

    config.json      encoder: {"spec": "bundled:finetune/encoder", "bundled": "finetune", "build": ..., ...}
    head.safetensors
    finetune/        the complete fine-tuned model folder (it also loads alone, with its own head)

``build`` is new for every fine-tune, so cached vectors of one fine-tuned encoder never serve another.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from babelcart.fsutil import atomic_dir, atomic_write_text
from babelcart.learn.config import TrainConfig, prepare_config
from babelcart.learn.frozen import train_frozen
from babelcart.models.folder import read_config
from babelcart.models.frozen import bundled_encoder

logger = logging.getLogger(__name__)

#: The fine-tuned folder's name inside a refitted model folder.
BUNDLED = "finetune"


def refit_head(cfg: TrainConfig, finetuned: str | Path, *, calibration_holdout: int = 0) -> Path:
    """Train the frozen head of ``cfg`` on the vectors of the fine-tuned model folder ``finetuned`` and write
    ``cfg.out``: the head, with the fine-tuned folder moved inside it. ``calibration_holdout``: how many of the
    ``cfg.dev`` rows are source labels the fine-tune held out (recorded; 0 when ``dev`` is the user's)."""
    finetuned = Path(finetuned)
    work = Path(tempfile.mkdtemp(prefix=".refit-", dir=finetuned.parent))
    try:
        moved = work / BUNDLED
        shutil.move(str(finetuned), moved)
        enc_cfg = {"spec": f"bundled:{BUNDLED}/encoder", "bundled": BUNDLED, "build": f"bundled:{uuid.uuid4().hex}"}
        encoder = bundled_encoder(work, {"encoder": enc_cfg}, cache_dir=cfg.cache_dir)
        # the fine-tune did the self-training and the contrastive term; the head keeps --parallel for Procrustes only
        head_cfg = replace(cfg, method="head", out=work / "head", self_train_rounds=0,
                           parallel=cfg.parallel if cfg.align == "procrustes" else [])
        head = train_frozen(prepare_config(head_cfg, encoder), encoder)
        with atomic_dir(cfg.out) as dst:
            shutil.copytree(head, dst, dirs_exist_ok=True)
            shutil.move(str(moved), dst / BUNDLED)
            config = json.loads((dst / "config.json").read_text(encoding="utf-8"))
            config["encoder"].update(enc_cfg)
            config["finetune"] = {**_summary(read_config(dst / BUNDLED)), "calibration_holdout": calibration_holdout}
            atomic_write_text(dst / "config.json", json.dumps(config, indent=2, ensure_ascii=False))
            card = (dst / "README.md").read_text(encoding="utf-8") if (dst / "README.md").exists() else ""
            atomic_write_text(dst / "README.md", card.rstrip() + "\n\n" + _card(config["finetune"]) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("frozen head refitted on the fine-tuned encoder: %s", cfg.out)
    return Path(cfg.out)


def _summary(ft: dict[str, Any]) -> dict[str, Any]:
    train = ft.get("train") or {}
    return {"encoder_spec": ft.get("encoder_spec"), "head": ft.get("head"), "n_train": train.get("n_train"),
            "epochs_run": train.get("epochs_run"), "lr": train.get("lr"), "linear_probe": bool(train.get("linear_probe")),
            "dev": (ft.get("metrics") or {}).get("dev")}


def _card(summary: dict[str, Any]) -> str:
    return "\n".join([
        "## Encoder: fine-tuned, inside this folder", "",
        f"The head above runs on the vectors of `{BUNDLED}/encoder`, fine-tuned from `{summary['encoder_spec']}` on "
        f"{summary['n_train']} labelled rows ({summary['epochs_run']} epochs, lr {summary['lr']}, linear probe first: "
        f"{summary['linear_probe']}). `{BUNDLED}/` is the complete fine-tuned model; it loads alone with its own "
        "head. `babelcart export` exports this folder with the encoder in ONNX."
        + (f" The head's temperature was fitted on {summary['calibration_holdout']} source labels kept out of "
           "fine-tuning (`--finetune-holdout`)." if summary.get("calibration_holdout") else ""),
    ])
