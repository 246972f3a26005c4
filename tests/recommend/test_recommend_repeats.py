"""Re-buying customers: the hybrid's repeat signal, implicit factors (fold-in, npz), batch output."""

from __future__ import annotations

import numpy as np
import pytest

from babelcart.apps.factorization import ImplicitMF
from babelcart.apps.ranking_metrics import capped_recall_at_k
from babelcart.apps.recommend import Ev, Recommender, batch_recommendations

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
    assert rows[3]["error"] and rows[4]["error"] == "line is not valid JSON"
