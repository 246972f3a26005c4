"""``/v1/recommend/user/{id}`` serves the model folder that ``recommend train`` wrote, with the CLI's ranking."""

from __future__ import annotations

import numpy as np

from babelcart.apps.recommend import Ev, Recommender, batch_recommendations

DAY = 86400.0


def _auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_user_route_equals_batch_cli_on_the_same_model(make_client, keys, tmp_path) -> None:
    rng = np.random.default_rng(1)
    products = [{"id": f"p{i}", "title": f"item {i}", "price": 1.0 + i} for i in range(20)]
    events = [Ev(f"u{u}", f"p{(u + int(rng.integers(0, 3))) % 20}", "purchase", w * 7 * DAY + u)
              for u in range(30) for w in range(10)]
    Recommender(mf_factors=4, mf_iterations=3).fit(events, products).save(tmp_path / "rec")
    batch = {r["user_id"]: r for r in batch_recommendations(Recommender.load(tmp_path / "rec"),
                                                            ["u2", "u17", "ghost"], k=5)}
    c = make_client(recommender_dir=tmp_path / "rec")
    for u in ("u2", "u17", "ghost"):
        r = c.get(f"/v1/recommend/user/{u}?k=5", headers=_auth(keys["read"]))
        assert r.status_code == 200, r.text
        assert [(x["id"], x["score"]) for x in r.json()["results"]] == [
            (x["id"], x["score"]) for x in batch[u]["results"]]
    assert "cold start" in batch["ghost"]["note"]
