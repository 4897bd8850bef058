"""The query result cache: repeated queries hit, any write to the store makes
its cached answers unreachable (the next query sees the new vector), the
figures are real in /performance/cache/stats and the Prometheus metrics, and
clearing empties it (admin only)."""
from conftest import assert_error


def cache_stats(admin):
    r = admin.get("/performance/cache/stats")
    assert r.status_code == 200, r.text
    return r.json()["cache"]


def test_cache_hits_invalidation_and_clear(admin, apikey, store):
    uid, mid = store
    r = admin.post("/vectors/add", json={"user_id": uid, "model_id": mid,
                                         "vectors": [[1, 0, 0, 0], [0, 1, 0, 0]],
                                         "metadata": [{"id": "a"}, {"id": "b"}]})
    assert r.status_code == 200, r.text
    q = {"user_id": uid, "model_id": mid, "query": [0.9, 0.1, 0, 0], "k": 5}
    before = cache_stats(admin)
    first = admin.post("/vectors/query", json=q).json()
    second = admin.post("/vectors/query", json=q).json()
    after = cache_stats(admin)
    assert first["results"] == second["results"]
    assert after["hits"] == before["hits"] + 1
    assert after["misses"] >= before["misses"] + 1
    assert after["entries"] >= 1

    # A different k or filter is a different question.
    q2 = dict(q, k=1)
    assert len(admin.post("/vectors/query", json=q2).json()["results"]) == 1

    # A write invalidates: the new, closer vector shows up at once.
    r = admin.post("/vectors/add", json={"user_id": uid, "model_id": mid,
                                         "vectors": [[0.9, 0.1, 0, 0]], "metadata": [{"id": "c"}]})
    assert r.status_code == 200
    third = admin.post("/vectors/query", json=q).json()
    assert third["results"][0]["id"] == "c"
    assert len(third["results"]) == 3

    # A delete too.
    assert admin.post("/vectors/delete", json={"user_id": uid, "model_id": mid,
                                               "ids": ["c"]}).status_code == 200
    assert admin.post("/vectors/query", json=q).json()["results"][0]["id"] == "a"

    metrics = admin.get("/monitoring/metrics").text
    assert "cache_hits_total" in metrics and "cache_misses_total" in metrics

    assert_error(apikey.post("/performance/cache/clear"), 403)
    r = admin.post("/performance/cache/clear")
    assert r.status_code == 200 and r.json()["status"] == "cleared"
    assert cache_stats(admin)["entries"] == 0


def test_explain_reports_the_filter_plan(admin, store):
    uid, mid = store
    vecs = [[float(i % 7), 1.0, float(i % 3), 0.5] for i in range(40)]
    meta = [{"id": f"e{i}", "group": i % 4} for i in range(40)]
    assert admin.post("/vectors/add", json={"user_id": uid, "model_id": mid, "vectors": vecs,
                                            "metadata": meta}).status_code == 200
    body = {"user_id": uid, "model_id": mid, "query": [1, 1, 1, 0.5], "k": 3,
            "filter_metadata": {"group": 2}, "explain": True}
    r = admin.post("/vectors/query", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert all(item["group"] == 2 for item in out["results"])
    assert "match" in out["explain"]  # e.g. "exact over candidates; exactly 10 matches; ..."
    assert "explain" not in admin.post("/vectors/query", json=dict(body, explain=False)).json()
