"""Recommender pieces: sessions, co-occurrence, time decay, similar items, click model, cold start, persistence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from babelcart.apps.ranking_metrics import capped_recall_at_k, ndcg_at_k, recall_at_k
from babelcart.apps.recommend import (
    EVENT_WEIGHTS,
    ClickModel,
    CoOccurrence,
    Ev,
    Recommender,
    SimilarItems,
    UserProfiles,
    decay,
    evaluate,
    sessionize,
    time_split,
    to_events,
    top_indices,
)

H = 3600.0
DAY = 86400.0


def test_sessionize_splits_on_gap_and_dedupes() -> None:
    evs = [Ev("u", "a", "view", 0), Ev("u", "b", "view", 600), Ev("u", "a", "click", 700),
           Ev("u", "c", "view", 700 + 3 * H), Ev("v", "c", "view", 10)]
    assert sessionize(evs, gap_s=1800) == [["a", "b"], ["c"], ["c"]]
    assert sessionize(evs, gap_s=None) == [["a", "b", "c"], ["c"]]


def test_cooccurrence_on_hand_made_session_log() -> None:
    # sessions: {a,b} {a,b} {a,c} {d}; the last u1 event is 5 h later -> its own session
    evs = [Ev("u1", "a", "view", 0), Ev("u1", "b", "view", 60), Ev("u1", "d", "view", 5 * H),
           Ev("u2", "a", "view", 0), Ev("u2", "b", "cart", 30),
           Ev("u3", "c", "view", 0), Ev("u3", "a", "view", 100)]
    co = CoOccurrence(gap_s=1800, measure="cosine").fit(evs)
    assert co.n_sessions_ == 4
    sim = dict(co.similar("a"))
    assert sim["b"] == pytest.approx(2 / math.sqrt(3 * 2))
    assert sim["c"] == pytest.approx(1 / math.sqrt(3 * 1))
    assert co.similar("d") == [] and co.similar("unknown") == []
    assert [i for i, _ in co.similar("a")] == ["b", "c"]
    lift = CoOccurrence(gap_s=1800, measure="lift").fit(evs)
    assert dict(lift.similar("c"))["a"] == pytest.approx(1 * 4 / (1 * 3))
    s = co.scores({"b": 2.0})
    assert s[co.index_["a"]] == pytest.approx(2 * 2 / math.sqrt(6)) and s[co.index_["c"]] == 0


def test_time_decay_math() -> None:
    assert decay(0.0, 10.0) == pytest.approx(1.0)
    assert decay(10.0, 10.0) == pytest.approx(0.5)
    assert decay(30.0, 10.0) == pytest.approx(0.125)
    assert decay(-5.0, 10.0) == pytest.approx(1.0)  # future events are not boosted
    assert decay(1e9, None) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        decay(1.0, 0.0)
    now = 100 * DAY
    evs = [Ev("u", "a", "purchase", now - 14 * DAY), Ev("u", "a", "view", now), Ev("u", "b", "cart", now - 28 * DAY)]
    w = UserProfiles(half_life_days=14).fit(evs, now=now).weights_["u"]
    assert w["a"] == pytest.approx(EVENT_WEIGHTS["purchase"] * 0.5 + EVENT_WEIGHTS["view"])
    assert w["b"] == pytest.approx(EVENT_WEIGHTS["cart"] * 0.25)
    assert EVENT_WEIGHTS["view"] < EVENT_WEIGHTS["click"] < EVENT_WEIGHTS["cart"] < EVENT_WEIGHTS["purchase"]


def test_similar_items_category_and_price_rescoring() -> None:
    v = np.asarray([[1, 0, 0], [0.95, 0.31, 0], [0.9, 0.43, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ids = ["q", "near_other_cat", "next_same_cat", "far", "farther"]
    plain = SimilarItems(category_bonus=0, price_penalty=0).fit(ids, v)
    assert plain.similar("q", 1)[0][0] == "near_other_cat"
    cats = ["shoe", "bag", "shoe", "shoe", "bag"]
    aware = SimilarItems(category_bonus=1.0, price_penalty=0).fit(ids, v, categories=cats)
    assert aware.similar("q", 1)[0][0] == "next_same_cat"
    prices = [10.0, 10.0, 1000.0, 10.0, 10.0]
    both = SimilarItems(category_bonus=1.0, price_penalty=1.0).fit(ids, v, categories=cats, prices=prices)
    assert both.similar("q", 1)[0][0] == "near_other_cat"  # a 100x price gap outweighs the category bonus
    assert "q" not in [i for i, _ in both.similar("q", 5)]
    assert both.similar("nope") == []


def test_history_scores_equal_the_mean_of_rescored_rows() -> None:
    """The linear-time history score must match its definition: the weighted mean of every anchor's rescored
    row, each anchor's own cell left out; with categories and prices, some missing."""
    rng = np.random.default_rng(3)
    n = 300
    v = rng.normal(size=(n, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ids = [f"i{j}" for j in range(n)]
    cats = [None if rng.random() < 0.2 else f"c{rng.integers(6)}" for _ in range(n)]
    prices = [None if rng.random() < 0.15 else float(rng.uniform(1, 80)) for _ in range(n)]
    sim = SimilarItems(category_bonus=0.7, price_penalty=0.4, max_history=20).fit(
        ids, v, categories=cats, prices=prices)
    cos = v.astype(np.float64) @ v.T.astype(np.float64)
    np.testing.assert_allclose(sim.cos_std_, cos.std(axis=1), atol=1e-6)
    weights = {f"i{j}": float(rng.uniform(0.1, 3)) for j in rng.choice(n, 30, replace=False)}
    top = sorted(((w, sim.index_[i]) for i, w in weights.items()), reverse=True)[:20]
    w = np.asarray([x[0] for x in top])
    rows = sim.rescore(np.asarray([x[1] for x in top]))
    rows[np.isinf(rows)] = np.nan
    expected = np.nansum(rows * w[:, None], axis=0) / w.sum()
    np.testing.assert_allclose(sim.history_scores(weights), expected, atol=1e-5)
    assert not sim.history_scores({"unknown": 1.0}).any()


def test_top_indices_match_a_stable_full_sort_with_ties() -> None:
    s = np.random.default_rng(0).normal(size=500)
    s[:40] = s[40]  # a block of ties across the cut
    s[100:120] = -np.inf
    for m in (0, 1, 7, 45, 499, 500, 900):
        assert top_indices(s, m)[:m].tolist() == np.argsort(-s, kind="stable")[:m].tolist()


def test_click_model_learns_planted_signal_and_round_trips(tmp_path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    y = (rng.random(2000) < 1 / (1 + np.exp(-3 * X[:, 1]))).astype(int)  # only feature 1 matters
    m = ClickModel(feature_names=["a", "b", "c"], kind="logistic").fit(X, y)
    w = m.weights()
    assert w["b"] > 1.0 and abs(w["a"]) < 0.3 and abs(w["c"]) < 0.3
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, m.score(X)) > 0.8
    m.save(tmp_path / "cm.json")
    m2 = ClickModel.load(tmp_path / "cm.json")
    assert np.allclose(m2.score(X[:10]), m.score(X[:10]))
    (tmp_path / "bad.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ValueError, match="unsupported"):
        ClickModel.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="positive and negative"):
        ClickModel(feature_names=["a", "b", "c"]).fit(X, np.ones(2000))


def test_lambdarank_click_model_ranks_by_planted_signal_and_round_trips(tmp_path) -> None:
    pytest.importorskip("lightgbm")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6000, 3))
    groups = np.repeat(np.arange(200), 30)  # 200 ranking lists of 30 candidates
    y = (X[:, 2] + 0.3 * rng.normal(size=6000) > 1.0).astype(int)  # only feature c matters
    m = ClickModel(feature_names=["a", "b", "c"], kind="lambdarank").fit(X, y, groups)
    assert m.kind_ == "lambdarank" and m.best_iteration_ >= 1
    w = m.weights()
    assert w["c"] > 0.8 and w["c"] == max(w.values())
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, m.score(X)) > 0.9
    m.save(tmp_path / "lr.json")
    assert np.allclose(ClickModel.load(tmp_path / "lr.json").score(X[:50]), m.score(X[:50]))
    with pytest.raises(ValueError, match="contiguous"):
        ClickModel(feature_names=["a", "b", "c"], kind="lambdarank").fit(X, y, np.tile(np.arange(200), 30))
    with pytest.raises(ValueError, match="needs groups"):
        ClickModel(feature_names=["a", "b", "c"], kind="lambdarank").fit(X, y)


def _planted_world(n_users: int = 150, seed: int = 0) -> tuple[list[dict], list[Ev], np.ndarray]:
    """Users stick to one of 5 categories; vectors carry the category. Category must be learned from data."""
    rng = np.random.default_rng(seed)
    n_items, n_cats = 100, 5
    products = [{"id": f"p{i}", "title": f"item {i}", "category": f"c{i % n_cats}", "price": float(5 + i)}
                for i in range(n_items)]
    centers = rng.normal(size=(n_cats, 16))
    vec = centers[np.arange(n_items) % n_cats] + 0.7 * rng.normal(size=(n_items, 16))
    vec = (vec / np.linalg.norm(vec, axis=1, keepdims=True)).astype(np.float32)
    events: list[Ev] = []
    for u in range(n_users):
        cat = int(rng.integers(n_cats))
        t = float(rng.integers(0, int(5 * DAY)))
        for _ in range(12):
            item = int(rng.integers(n_items // n_cats)) * n_cats + cat
            t += float(rng.integers(60, int(3 * H)))
            events.append(Ev(f"u{u}", f"p{item}", str(rng.choice(list(EVENT_WEIGHTS))), t))
    return products, events, vec


@pytest.fixture(scope="module")
def world() -> tuple[list[dict], list[Ev], np.ndarray, Recommender, list[Ev], list[Ev]]:
    products, events, vec = _planted_world()
    train, test = time_split(events, test_frac=0.25)
    rec = Recommender(n_candidates=50, repeats=False).fit(train, products, vec)
    return products, events, vec, rec, train, test


def test_hybrid_click_model_beats_baselines_on_planted_world(world) -> None:
    products, events, vec, rec, train, test = world
    assert rec.click_model_ is not None
    assert rec.click_model_.weights()["cat_affinity"] > 0  # it found the planted signal
    res = evaluate(rec, train, test, k=10)
    assert res["hybrid"]["recall@10"] > 2 * res["popularity"]["recall@10"]
    assert res["hybrid"]["recall@10"] > 2 * res["random"]["recall@10"]
    assert res["profile"]["ndcg@10"] > res["random"]["ndcg@10"]
    assert 0 < res["popularity"]["coverage"] < res["random"]["coverage"] <= 1.0
    out = rec.recommend_user("u3", k=10)
    assert out.strategy == "hybrid+click_model" and len(out.items) == 10
    seen = {e.item_id for e in train if e.user_id == "u3"}
    assert not seen & {it["id"] for it in out.items}


def test_cold_start_unknown_ids_and_history_override(world) -> None:
    products, events, vec, rec, train, test = world
    cold = rec.recommend_user("stranger", k=5)
    assert cold.cold_start and cold.strategy == "popularity" and "cold start" in cold.message
    assert len(cold.items) == 5
    pop_top = rec.recommend_user("stranger", k=5, method="popularity").items
    assert [i["id"] for i in cold.items] == [i["id"] for i in pop_top]
    unknown = rec.recommend_item("no-such-item", k=5)
    assert unknown.items == [] and "unknown item" in unknown.message
    # a live history (e.g. fresh events from the store) personalises a user the fit never saw
    hist = [{"user_id": "new", "item_id": "p3", "type": "purchase", "ts": "2025-01-01T00:00:00Z"},
            {"user_id": "new", "item_id": "p8", "type": "cart", "ts": "2025-01-01T00:05:00Z"}]
    warm = rec.recommend_user("new", k=10, history=hist)
    assert not warm.cold_start
    assert sum(it["category"] == "c3" for it in warm.items) >= 6
    with pytest.raises(ValueError, match="unknown method"):
        rec.recommend_user("u1", method="magic")


def test_item_recommendations_stay_in_category(world) -> None:
    products, events, vec, rec, train, test = world
    out = rec.recommend_item("p0", k=10)
    assert out.strategy == "similar+cooc" and "p0" not in [i["id"] for i in out.items]
    assert sum(it["category"] == "c0" for it in out.items) >= 8


def test_save_load_round_trip(world, tmp_path) -> None:
    products, events, vec, rec, train, test = world
    rec.save(tmp_path / "rec")
    assert not list((tmp_path / "rec").glob("*.pkl"))
    back = Recommender.load(tmp_path / "rec")
    for u in ("u1", "u7", "stranger"):
        assert back.recommend_user(u, k=10).items == rec.recommend_user(u, k=10).items
    assert back.recommend_item("p4", k=5).items == rec.recommend_item("p4", k=5).items
    (tmp_path / "rec" / "cooc.npz").unlink()
    with pytest.raises(FileNotFoundError, match="cooc.npz"):
        Recommender.load(tmp_path / "rec")
    with pytest.raises(FileNotFoundError, match="config.json"):
        Recommender.load(tmp_path / "nothing")


def test_bad_events_and_inputs() -> None:
    good = {"user_id": "u", "item_id": "p0", "type": "view", "ts": "2025-01-01T00:00:00Z"}
    evs, errs = to_events([good, {**good, "type": "like"}, {**good, "ts": "later"}, {"error": "bad json"}],
                          on_error="skip")
    assert len(evs) == 1 and [i for i, _ in errs] == [1, 2, 3]
    with pytest.raises(ValueError, match="event 1"):
        to_events([good, {**good, "type": "like"}])
    with pytest.raises(ValueError, match="duplicate product ids"):
        Recommender().fit([good], [{"id": "p0"}, {"id": "p0"}])
    with pytest.raises(ValueError, match="non-empty"):
        Recommender().fit([good], [])
    rec = Recommender().fit([good, {**good, "item_id": "ghost"}], [{"id": "p0", "title": "x"}, {"id": "p1"}])
    assert rec.n_unknown_item_events_ == 1 and rec.click_model_ is None  # too few events: rank fusion
    assert rec.recommend_user("u", k=3).strategy == "hybrid+rrf"
    with pytest.raises(RuntimeError, match="not fitted"):
        Recommender().recommend_user("u")


def test_metrics() -> None:
    assert recall_at_k(["a", "b", "c"], {"a", "c"}, 2) == pytest.approx(0.5)
    assert recall_at_k(["a", "b"], {"a"}, 10) == 1.0 and recall_at_k(["a"], set(), 10) == 0.0
    # the two recalls differ only in the denominator: |relevant| vs min(k, |relevant|)
    many = {"a", "b", "x", "y"}
    assert recall_at_k(["a", "b", "c"], many, 2) == pytest.approx(2 / 4)
    assert capped_recall_at_k(["a", "b", "c"], many, 2) == pytest.approx(2 / 2)
    assert capped_recall_at_k(["c", "a"], {"a"}, 2) == 1.0 and capped_recall_at_k(["a"], set(), 2) == 0.0
    assert ndcg_at_k(["a", "b"], {"a"}, 2) == pytest.approx(1.0)
    assert ndcg_at_k(["b", "a"], {"a"}, 2) == pytest.approx(1 / math.log2(3))
    with pytest.raises(ValueError):
        time_split([Ev("u", "a", "view", 0)], test_frac=1.5)


@pytest.mark.slow
def test_similar_items_are_cross_lingual_with_e5(e5) -> None:
    """The default encoder puts a French dress next to an English one, ahead of same-language electronics."""
    from babelcart.apps.recommend import embed_products

    products = [{"id": "en-dress", "title": "Red summer dress, cotton, knee length", "category": "dress"},
                {"id": "fr-dress", "title": "Robe d'été rouge en coton, longueur genou", "category": "dress"},
                {"id": "zh-phones", "title": "蓝牙无线耳机 降噪", "category": "audio"},
                {"id": "en-phones", "title": "Wireless bluetooth headphones, noise cancelling", "category": "audio"},
                {"id": "de-drill", "title": "Akku-Bohrschrauber mit zwei Akkus", "category": "tools"}]
    vecs = embed_products(products, e5)
    plain = SimilarItems(category_bonus=0, price_penalty=0).fit([p["id"] for p in products], vecs)
    assert plain.similar("en-dress", 1)[0][0] == "fr-dress"
    assert plain.similar("zh-phones", 1)[0][0] == "en-phones"
