"""The declared recall target over HTTP: create_store setting, the admin
route that changes it, the per-request override on query / batch_query /
stream_query and the batch API's /v1/batch/vectors/query, the explain line, stats and metrics."""
import numpy as np

from conftest import assert_error


def test_target_recall_over_http(admin):
    ids = {"user_id": "rt", "model_id": "m"}
    r = admin.post("/admin/create_store", json={**ids, "dimension": 8, "target_recall": 0.95})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["config"]["target_recall"] == 0.95
    assert_error(admin.post("/admin/create_store",
                            json={"user_id": "rt", "model_id": "bad", "dimension": 8,
                                  "target_recall": 1.5}), 422)
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((50, 8)).tolist()
    assert admin.post("/vectors/add", json={**ids, "vectors": vecs}).status_code == 200
    q = vecs[3]
    r = admin.post("/vectors/query", json={**ids, "query": q, "k": 5, "explain": True,
                                           "target_recall": 0.9})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "target 0.9" in body["explain"] and "exact scan" in body["explain"]
    assert len(body["results"]) == 5
    for bad in (0, -1, 1.01, "x", True):
        assert_error(admin.post("/vectors/query", json={**ids, "query": q,
                                                        "target_recall": bad}), 422)
    r = admin.post("/vectors/batch_query", json={**ids, "queries": [q, q], "k": 3,
                                                 "target_recall": 1.0})
    assert r.status_code == 200, r.text
    assert_error(admin.post("/vectors/batch_query", json={**ids, "queries": [q],
                                                          "target_recall": 2}), 422)
    r = admin.post("/vectors/stream_query", json={**ids, "queries": [q], "k": 3,
                                                  "target_recall": 0.97})
    assert r.status_code == 200, r.text
    # The batch API takes the same per-request target (issue 9: "and the
    # batch API when it exists"); target 1.0 is exact, so the query's own
    # row comes back first.
    r = admin.post("/v1/batch/vectors/query", json={**ids, "queries": [q, vecs[7]], "k": 3,
                                                     "target_recall": 1.0})
    assert r.status_code == 200, r.text
    groups = r.json()["results"]
    assert [len(g["results"]) for g in groups] == [3, 3]
    assert groups[0]["results"][0]["index"] == 3 and groups[1]["results"][0]["index"] == 7
    for bad in (0, 1.5, "x"):
        assert_error(admin.post("/v1/batch/vectors/query", json={**ids, "queries": [q],
                                                                 "target_recall": bad}), 422)
    # A wrong length is a dimension error decided by code, not message text.
    body = assert_error(admin.post("/vectors/query", json={**ids, "query": [1.0, 2.0]}), 422)
    assert "dimension is 8" in body["detail"]
    body = assert_error(admin.post("/vectors/batch_query", json={**ids, "queries": [[1.0]]}), 422)
    assert "dimension is 8" in body["detail"]

    st = admin.get("/admin/store/stats", params=ids).json()
    assert st["recall"]["target_recall"] == 0.95
    assert st["recall"]["calibrated"] is False  # 50 rows: exact, nothing to calibrate
    assert st["recall"]["queries_by_plan"]["exact"] >= 1
    r = admin.post("/admin/store/target_recall", json={**ids, "target_recall": 0.999})
    assert r.status_code == 200, r.text
    assert r.json()["recall"]["target_recall"] == 0.999
    assert_error(admin.post("/admin/store/target_recall", json={**ids, "target_recall": 0}), 422)
    assert_error(admin.post("/admin/store/target_recall", json={**ids}), 422)
    assert_error(admin.post("/admin/store/target_recall",
                            json={"user_id": "rt", "model_id": "nope", "target_recall": 0.9}), 404)
    text = admin.get("/monitoring/metrics").text
    assert 'vdb_store_target_recall{user_id="rt",model_id="m"} 0.999' in text
    assert "vdb_store_recall_lower_bound" in text
