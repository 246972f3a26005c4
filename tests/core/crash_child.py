"""Child process of the fault-injection tests: save one version of a model, an index or a recommender,
and kill itself with SIGKILL when the save reaches a given step (``none`` = finish normally).

Usage: ``python crash_child.py KIND FOLDER GENERATION STEP`` with KIND in model, index, recommender.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np

from babelcart import fsutil

#: The items of each generation: a loaded copy must hold exactly one of these sets.
ITEMS = {"old": ["a1", "a2", "a3"], "new": ["b1", "b2", "b3", "b4", "b5"]}


def save_model(folder: Path, generation: str) -> None:
    from babelcart.models.folder import save_model_folder

    n = len(ITEMS[generation])
    save_model_folder(folder, config={"task": "classify", "labels": ITEMS[generation], "generation": generation},
                      arrays={"coef": np.full((n, 4), float(n), dtype=np.float32)},
                      metrics={"n": n}, card=f"# {generation}\n")


def save_index(folder: Path, generation: str) -> None:
    from babelcart.apps.search import SearchIndex
    from babelcart.encoders import get_encoder

    products = [{"id": i, "title": f"product {i} {generation}", "lang": "en"} for i in ITEMS[generation]]
    SearchIndex.build(products, encoder=get_encoder("hash:32"), detect_doc_lang=False).save(folder)


def save_recommender(folder: Path, generation: str) -> None:
    from babelcart.apps.recommend import Recommender

    items = ITEMS[generation]
    products: list[dict[str, Any]] = [{"id": i, "title": f"item {i}"} for i in items]
    events = [{"user_id": f"u{u}", "item_id": items[(u + j) % len(items)], "type": "click",
               "ts": 1_700_000_000 + u * 100_000 + j * 60} for u in range(4) for j in range(2)]
    Recommender(click_model=False).fit(events, products).save(folder)


SAVERS = {"model": save_model, "index": save_index, "recommender": save_recommender}


def main(kind: str, folder: str, generation: str, step: str) -> None:
    def stop_at(reached: str) -> None:
        if reached == step:
            os.kill(os.getpid(), signal.SIGKILL)

    fsutil._fault_hook = stop_at
    SAVERS[kind](Path(folder), generation)


if __name__ == "__main__":
    main(*sys.argv[1:5])
