"""Re-buying customers: the hybrid's repeat signal, implicit factors (fold-in, npz), batch output."""

from __future__ import annotations

import numpy as np
import pytest

from babelcart.apps.ranking_metrics import capped_recall_at_k
from babelcart.apps.recommend import Ev, ImplicitMF, Recommender, batch_recommendations

DAY = 86400.0


def _rebuy_world(seed: int = 0) -> tuple[list[dict], list[Ev], list[Ev]]:
    """Each customer has 3 staples re-bought every week and tries random popular items once in a while."""
    rng = np.random.default_rng(seed)
    products = [{"id": f"p{i}", "title": f"item {i}", "price": 1.0 + i % 7} for i in range(60)]
    events: list[Ev] = []
    for u in range(80):
        staples = rng.choice(60, size=3, replace=False)
        for week in range(20):
            t = week * 7 * DAY + float(rng.integers(0, int(DAY)))
            for j in staples:
                if rng.random() < 0.8:
                    events.append(Ev(f"u{u}", f"p{j}", "purchase", t, float(rng.integers(1, 12))))
            if rng.random() < 0.5:
                events.append(Ev(f"u{u}", f"p{int(rng.integers(0, 10))}", "purchase", t))
    cut = 16 * 7 * DAY
    return products, [e for e in events if e.ts < cut], [e for e in events if e.ts >= cut]


@pytest.fixture(scope="module")
def rebuy():
    products, train, test = _rebuy_world()
    rec = Recommender(mf_factors=8, mf_iterations=5).fit(train, products)
    return products, train, test, rec


def _recall(rec: Recommender, test: list[Ev], **kw) -> float:
    bought: dict[str, set[str]] = {}
    for e in test:
        bought.setdefault(e.user_id, set()).add(e.item_id)
    return float(np.mean([capped_recall_at_k([i["id"] for i in rec.recommend_user(u, 5, **kw).items], r, 5)
                          for u, r in bought.items()]))


def test_hybrid_brings_back_what_customers_rebuy(rebuy) -> None:
    products, train, test, rec = rebuy
    assert rec.click_model_ is not None and rec.repeats
    hybrid = _recall(rec, test)
    assert hybrid > 0.6
    assert hybrid > 2 * _recall(rec, test, method="popularity")
    assert hybrid > _recall(rec, test, exclude_seen=True) + 0.3  # without repeats it cannot reach the staples
    assert _recall(rec, test, method="repeat") > 0.6


def test_factors_fold_in_matches_a_fitted_user_and_round_trips(rebuy, tmp_path) -> None:
    products, train, test, rec = rebuy
    mf = rec.state_.mf
    assert isinstance(mf, ImplicitMF) and mf.item_factors_.shape == (60, 8)
    h = rec.state_.users["u3"]
    fitted = mf.scores_for_user(rec.state_.user_rows["u3"])
    items = np.asarray([rec.index_[i] for i in h.orders])
    folded = mf.item_factors_ @ mf.fold_in(items, np.log1p(np.asarray(list(h.orders.values()), dtype=float)))
    assert np.corrcoef(fitted, folded)[0, 1] > 0.9  # one ALS user step ≈ the user's fitted factors
    rec.save(tmp_path / "rec")
    assert (tmp_path / "rec" / "mf.npz").exists() and not list((tmp_path / "rec").glob("*.pkl"))
    back = Recommender.load(tmp_path / "rec")
    for u in ("u1", "u40", "stranger"):
        assert back.recommend_user(u, k=5).items == rec.recommend_user(u, k=5).items
    with pytest.raises(ValueError, match="kind"):
        ImplicitMF(kind="svd")


def test_batch_output_keeps_order_and_notes(rebuy) -> None:
    products, train, test, rec = rebuy
    fresh = [{"user_id": "late", "item_id": "p7", "type": "purchase", "ts": f"1970-04-{d:02d}T00:00:00Z"}
             for d in (1, 8, 15, 22)]  # a weekly staple, as the customers the model learned from
    rows = list(batch_recommendations(rec, ["u1", '{"user_id": "late"}', "ghost", "", "{broken"], k=4,
                                      history_of=lambda u: fresh if u == "late" else []))
    assert [r["user_id"] for r in rows] == ["u1", "late", "ghost", None, None]
    assert "note" not in rows[0] and len(rows[0]["results"]) == 4
    assert "from the database" in rows[1]["note"] and "p7" in [x["id"] for x in rows[1]["results"]]
    assert "cold start" in rows[2]["note"]
    assert rows[3] == {"error": "line 4 is blank", "line": 4, "user_id": None, "results": []}
    assert rows[4]["error"] == "line 5 is not valid JSON" and rows[4]["line"] == 5


@pytest.mark.parametrize("chunk_size", [1, 7, 500])
def test_recommend_users_gives_the_one_by_one_answers(rebuy, chunk_size: int) -> None:
    products, train, test, rec = rebuy
    late = [Ev("late", "p7", "purchase", 16 * 7 * DAY + d * DAY) for d in (1, 8)]
    users = ["u1", "ghost", "u40", "late", "u3", "u1"] + [f"u{i}" for i in range(10, 30)]
    histories = [late if u == "late" else None for u in users]
    many = rec.recommend_users(users, 5, histories=histories, chunk_size=chunk_size)
    one = [rec.recommend_user(u, 5, history=h) for u, h in zip(users, histories, strict=True)]
    assert [r.as_dict() for r in many] == [r.as_dict() for r in one]
    assert many[0].strategy == "hybrid+click_model" and many[1].cold_start
    assert "p7" in [i["id"] for i in many[3].items]
    with pytest.raises(ValueError, match="histories"):
        rec.recommend_users(["u1"], 5, histories=[])


def test_recommend_users_without_a_click_model_fuses_ranks(rebuy) -> None:
    products, train, test, _ = rebuy
    rec = Recommender(mf_factors=8, mf_iterations=5, click_model=False).fit(train, products)
    users = ["u1", "ghost", "u2"]
    many = rec.recommend_users(users, 5, chunk_size=2)
    assert [r.as_dict() for r in many] == [rec.recommend_user(u, 5).as_dict() for u in users]
    assert many[0].strategy == "hybrid+rrf"


def test_batch_keeps_the_other_lines_when_one_user_fails(rebuy, monkeypatch) -> None:
    products, train, test, rec = rebuy
    plain = rec.recommend_user

    def flaky(user_id: str, k: int = 10, **kw):
        if user_id == "u2":
            raise RuntimeError("disk on fire")
        return plain(user_id, k, **kw)

    def broken_batch(*args, **kw):
        raise RuntimeError("batch failed")

    monkeypatch.setattr(rec, "recommend_user", flaky)
    monkeypatch.setattr(rec, "recommend_users", broken_batch)
    rows = list(batch_recommendations(rec, ["u1", "u2", "", "u3"], k=3, chunk_lines=2))
    assert [r["user_id"] for r in rows] == ["u1", "u2", None, "u3"]
    assert len(rows[0]["results"]) == 3 and len(rows[3]["results"]) == 3
    assert rows[1]["results"] == [] and "disk on fire" in rows[1]["error"] and rows[1]["line"] == 2
    assert "line" not in rows[0]
