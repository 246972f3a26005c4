"""Every constructor parameter survives save → load: persistence reads them from the signature (``get_params``),
so a new parameter is saved without anyone listing it. Each parameter here gets a value that is not its default;
a parameter added without one fails ``test_every_parameter_has_a_non_default_value``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import sparse

from babelcart.apps.recommend import EVENT_WEIGHTS, ClickModel, Ev, ImplicitMF, Recommender
from babelcart.params import Params, param_names

DAY = 86400.0

RECOMMENDER = {
    "half_life_days": 45.0, "session_gap_s": 600.0, "cooc_measure": "lift", "category_bonus": 0.25,
    "price_penalty": 0.75, "n_candidates": 30, "click_model": False, "ranker": "logistic", "label_days": 14.0,
    "label_windows": 3, "max_train_users": 100, "type_weights": {"view": 0.5, "click": 1.5, "cart": 3.0, "purchase": 9.0},
    "repeats": False, "mf": "bpr", "mf_factors": 8, "mf_regularization": 0.1, "mf_iterations": 3, "recent_days": 7.0,
    "max_negatives": 50, "random_state": 7,
}
CLICK_MODEL = {"feature_names": ["a", "b"], "kind": "logistic", "C": 0.5, "max_iter": 200, "n_estimators": 50,
               "random_state": 3}
IMPLICIT_MF = {"kind": "bpr", "factors": 4, "regularization": 0.2, "iterations": 2, "alpha": 2.0,
               "learning_rate": 0.05, "random_state": 5, "num_threads": 1}
DEFAULTS_OF_NONE = {"type_weights": EVENT_WEIGHTS}  # parameters whose default None stands for this value


def _assert_params(obj: Params, expected: dict[str, Any]) -> None:
    for name in param_names(type(obj)):
        assert getattr(obj, name) == expected[name], f"{type(obj).__name__}.{name} did not survive save → load"
    assert obj.get_params() == expected


@pytest.mark.parametrize(("cls", "values"), [(Recommender, RECOMMENDER), (ClickModel, CLICK_MODEL),
                                             (ImplicitMF, IMPLICIT_MF)])
def test_every_parameter_has_a_non_default_value(cls: type, values: dict[str, Any]) -> None:
    params = inspect.signature(cls).parameters
    assert list(values) == param_names(cls), f"give every parameter of {cls.__name__} a non-default value here"
    for name, value in values.items():
        default = params[name].default
        assert value != default and value != DEFAULTS_OF_NONE.get(name), f"{cls.__name__}.{name} is its default"


def _world() -> tuple[list[dict[str, Any]], list[Ev]]:
    rng = np.random.default_rng(0)
    products = [{"id": f"p{i}", "title": f"item {i}", "category": f"c{i % 3}", "price": float(3 + i)}
                for i in range(30)]
    events = [Ev(f"u{u}", f"p{int(rng.integers(30))}", str(rng.choice(list(EVENT_WEIGHTS))),
                 float(rng.integers(0, int(20 * DAY)))) for u in range(25) for _ in range(8)]
    return products, events


def test_recommender_parameters_survive_save_and_load(tmp_path: Path) -> None:
    products, events = _world()
    rec = Recommender(**RECOMMENDER).fit(events, products)
    _assert_params(rec, RECOMMENDER)
    rec.save(tmp_path / "rec")
    back = Recommender.load(tmp_path / "rec")
    _assert_params(back, RECOMMENDER)
    for user in ("u1", "u4", "stranger"):
        assert back.recommend_user(user, k=5).items == rec.recommend_user(user, k=5).items


def test_click_model_parameters_survive_save_and_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    m = ClickModel(**CLICK_MODEL).fit(X, y)
    m.save(tmp_path / "cm.json")
    back = ClickModel.load(tmp_path / "cm.json")
    _assert_params(back, CLICK_MODEL)
    assert np.array_equal(back.score(X), m.score(X))


def test_click_model_files_without_parameters_still_load(tmp_path: Path) -> None:
    """Files written before the parameters were saved hold the feature names, the kind and C."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    m = ClickModel(**CLICK_MODEL).fit(X, (X[:, 0] > 0).astype(int))
    old = {k: v for k, v in m.to_dict().items() if k != "params"} | {"feature_names": ["a", "b"], "C": 0.5}
    (tmp_path / "old.json").write_text(json.dumps(old))
    back = ClickModel.load(tmp_path / "old.json")
    assert back.feature_names == ["a", "b"] and back.C == 0.5 and back.kind == "logistic"
    assert np.array_equal(back.score(X), m.score(X))


def test_implicit_mf_parameters_survive_save_and_load(tmp_path: Path) -> None:
    m = ImplicitMF(**IMPLICIT_MF).fit(sparse.random(20, 10, density=0.3, format="csr", random_state=0))
    np.savez(tmp_path / "mf.npz", user_factors=m.user_factors_, item_factors=m.item_factors_)
    back = ImplicitMF.from_arrays(json.loads(json.dumps(m.get_params())), tmp_path / "mf.npz")
    _assert_params(back, IMPLICIT_MF)
    assert np.array_equal(back.scores_for_user(3), m.scores_for_user(3))


def test_get_params_refuses_a_signature_it_cannot_read() -> None:
    class Loose(Params):
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    with pytest.raises(TypeError, match="kwargs"):
        Loose().get_params()
