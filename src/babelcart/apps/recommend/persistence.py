"""The recommender's folder: written atomically as JSON and npz/npy arrays, never pickle.

    config.json        format version, the constructor's parameters (all of them: ``Recommender.get_params()``
                       reads them from the signature), the catalog (ids, titles, categories, prices), counts
    users.json         every user's decayed item weights and order times
    cooc.npz           the co-occurrence matrix (CSR) and item counts
    items.npz          popularity, recent popularity, repeat rate, first and last event time per item
    vectors.npy        the catalog's embeddings (when fitted with vectors)
    mf.npz             the factorization's user and item factors (when ``mf`` is on)
    click_model.json   the learned blend (when trained)

Arrays load with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from babelcart.apps.recommend.click_model import ClickModel
from babelcart.apps.recommend.factorization import ImplicitMF
from babelcart.apps.recommend.history import UserHistory, UserProfiles
from babelcart.apps.recommend.signals import CoOccurrence
from babelcart.apps.recommend.state import FitState
from babelcart.fsutil import atomic_dir, recover_dir

FORMAT_VERSION = 3


@dataclass
class SavedRecommender:
    """Everything a fitted recommender keeps: its parameters, the catalog, the vectors, the blend and the state."""

    params: dict[str, Any]
    item_ids: list[str]
    titles: list[Any]
    categories: list[str | None]
    prices: list[float | None]
    vectors: np.ndarray | None
    click_model: ClickModel | None
    state: FitState
    n_events: int


def save_folder(path: str | Path, saved: SavedRecommender) -> None:
    """Write ``saved`` to the folder ``path`` atomically (see the module docstring)."""
    st = saved.state
    with atomic_dir(path) as tmp:
        cfg = {"format_version": FORMAT_VERSION, "task": "recommend", "params": saved.params,
               "item_ids": saved.item_ids, "titles": saved.titles, "categories": saved.categories,
               "prices": saved.prices, "now": st.now, "n_events": saved.n_events,
               "n_sessions": st.cooc.n_sessions_, "has_vectors": saved.vectors is not None,
               "has_click_model": saved.click_model is not None,
               "mf": None if st.mf is None else {"params": st.mf.get_params(),
                                                 "users": sorted(st.user_rows, key=st.user_rows.__getitem__)}}
        (tmp / "config.json").write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
        m = st.cooc.matrix_.tocsr()
        np.savez(tmp / "cooc.npz", data=m.data, indices=m.indices, indptr=m.indptr,
                 shape=np.asarray(m.shape), item_counts=st.cooc.item_counts_)
        np.savez(tmp / "items.npz", popularity=st.popularity, recent_popularity=st.recent_popularity,
                 repeat_rate=st.repeat_rate, last_ts=st.last_ts, first_ts=st.first_ts)
        if saved.vectors is not None:
            np.save(tmp / "vectors.npy", saved.vectors)
        if st.mf is not None:
            np.savez(tmp / "mf.npz", user_factors=st.mf.user_factors_, item_factors=st.mf.item_factors_)
        users = {u: {"weights": h.weights, "item_times": h.item_times, "order_times": h.order_times}
                 for u, h in st.users.items()}
        (tmp / "users.json").write_text(json.dumps({"now": st.now, "users": users}, ensure_ascii=False),
                                        encoding="utf-8")
        if saved.click_model is not None:
            saved.click_model.save(tmp / "click_model.json")


def read_folder(path: str | Path) -> SavedRecommender:
    """Read a folder written by :func:`save_folder`; checks the format version and the files."""
    path = recover_dir(path)
    cfg_path = path / "config.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"not a recommender folder (no config.json): {path}")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if cfg.get("task") != "recommend" or cfg.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not a babelcart recommender of format {FORMAT_VERSION} "
                         f"(task={cfg.get('task')!r}, format_version={cfg.get('format_version')!r}); "
                         "train it again with `babelcart recommend train`")
    needed = ["cooc.npz", "items.npz", "users.json"]
    needed += ["vectors.npy"] if cfg["has_vectors"] else []
    needed += ["click_model.json"] if cfg["has_click_model"] else []
    needed += ["mf.npz"] if cfg["mf"] else []
    missing = [f for f in needed if not (path / f).exists()]
    if missing:
        raise FileNotFoundError(f"{path}: recommender folder is missing {', '.join(missing)}")
    params = cfg["params"]
    item_ids = list(cfg["item_ids"])
    vectors = np.load(path / "vectors.npy", allow_pickle=False) if cfg["has_vectors"] else None
    click_model = ClickModel.load(path / "click_model.json") if cfg["has_click_model"] else None
    with np.load(path / "cooc.npz", allow_pickle=False) as z:
        cooc = CoOccurrence(gap_s=params["session_gap_s"], measure=params["cooc_measure"])
        cooc.item_ids_, cooc.index_ = item_ids, {iid: j for j, iid in enumerate(item_ids)}
        cooc.matrix_ = sparse.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
        cooc.item_counts_ = z["item_counts"]
    cooc.n_sessions_ = int(cfg["n_sessions"])
    raw = json.loads((path / "users.json").read_text(encoding="utf-8"))
    users = {u: UserHistory(dict(h["weights"]), {i: [float(t) for t in ts] for i, ts in h["item_times"].items()},
                            [float(t) for t in h["order_times"]])
             for u, h in raw["users"].items()}
    profiles = UserProfiles(half_life_days=params["half_life_days"], type_weights=params["type_weights"])
    profiles.now_, profiles.weights_ = float(raw["now"]), {u: h.weights for u, h in users.items()}
    mf, rows = None, {}
    if cfg["mf"]:
        mf = ImplicitMF.from_arrays(cfg["mf"]["params"], path / "mf.npz")
        rows = {u: r for r, u in enumerate(cfg["mf"]["users"])}
    with np.load(path / "items.npz", allow_pickle=False) as z:
        state = FitState(cooc, profiles, z["popularity"], z["recent_popularity"], z["repeat_rate"],
                         z["last_ts"], z["first_ts"], float(cfg["now"]), users, mf, rows)
    return SavedRecommender(params, item_ids, cfg["titles"], cfg["categories"], cfg["prices"], vectors,
                            click_model, state, int(cfg["n_events"]))
