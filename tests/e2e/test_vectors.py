"""/vectors endpoints: success paths and every error status they produce."""
import json

import numpy as np
import pytest

from conftest import assert_error


def add(client, uid, mid, vecs, metas=None):
    body = {"user_id": uid, "model_id": mid, "vectors": [list(map(float, v)) for v in vecs]}
    if metas is not None:
        body["metadata"] = metas
    return client.post("/vectors/add", json=body)


def test_add_query_roundtrip(admin, store):
    uid, mid = store
    vecs = np.eye(4)
    r = add(admin, uid, mid, vecs, [{"id": f"v{i}", "tag": i % 2} for i in range(4)])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["vectors_added"] == 4 and body["total_vectors"] == 4
    assert body["ids"] == ["v0", "v1", "v2", "v3"]
    assert body["processing_time_ms"] >= 0
    r = admin.post("/vectors/query", json={"user_id": uid, "model_id": mid,
                                           "query": [1, 0.1, 0, 0], "k": 2})
    assert r.status_code == 200
    res = r.json()
    assert res["total_vectors_searched"] == 4
    items = res["results"]
    assert [i["id"] for i in items] == ["v0", "v1"]
    first = items[0]
    assert first["rank"] == 1 and first["metadata"] == {"id": "v0", "tag": 0}
    assert first["tag"] == 0  # flat copy of metadata keys
    cos = 1 / np.sqrt(1.01)
    assert abs(first["similarity_score"] - cos) < 1e-5
    assert abs(first["distance"] - (1 - cos)) < 1e-5
    assert isinstance(first["index"], int)


def test_generated_ids_and_upsert(admin, store):
    uid, mid = store
    r = add(admin, uid, mid, [[1, 2, 3, 4], [4, 3, 2, 1]])  # no metadata: ids generated
    ids = r.json()["ids"]
    assert len(ids) == 2 and all(len(i) == 36 for i in ids)
    add(admin, uid, mid, [[1, 1, 1, 1]], [{"id": "same"}])
    r = add(admin, uid, mid, [[0, 0, 0, 1]], [{"id": "same", "v": 2}])
    assert r.json()["total_vectors"] == 3  # upsert replaced
    r = admin.post("/vectors/query", json={"user_id": uid, "model_id": mid,
                                           "query": [0, 0, 0, 1], "k": 1})
    assert r.json()["results"][0]["metadata"] == {"id": "same", "v": 2}


def test_filter_batch_stream(admin, store):
    uid, mid = store
    add(admin, uid, mid, np.eye(4), [{"id": f"d{i}", "src": "a" if i < 2 else "b"}
                                    for i in range(4)])
    q = {"user_id": uid, "model_id": mid, "query": [0, 0, 1, 0], "k": 4,
         "filter_metadata": {"src": "a"}}
    res = admin.post("/vectors/query", json=q).json()["results"]
    assert {i["id"] for i in res} == {"d0", "d1"}
    res = admin.post("/vectors/query", json={**q, "filter_metadata": None}).json()["results"]
    assert res[0]["id"] == "d2" and len(res) == 4
    b = {"user_id": uid, "model_id": mid, "queries": [[1, 0, 0, 0], [0, 0, 0, 1]], "k": 1}
    r = admin.post("/vectors/batch_query", json=b)
    body = r.json()
    assert body["total_queries"] == 2 and body["avg_query_time_ms"] >= 0
    assert [row[0]["id"] for row in body["results"]] == ["d0", "d3"]
    r = admin.post("/vectors/stream_query", json=b)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(l) for l in r.text.splitlines()]
    assert [l[0]["id"] for l in lines] == ["d0", "d3"]


def test_count_delete_stats(admin, store):
    uid, mid = store
    add(admin, uid, mid, np.eye(4), [{"id": f"d{i}", "g": i // 2} for i in range(4)])
    r = admin.get("/vectors/count", params={"user_id": uid, "model_id": mid})
    assert r.json() == {"count": 4, "vectors": 4, "metadata": 4}
    r = admin.post("/vectors/delete", json={"user_id": uid, "model_id": mid, "ids": ["d0", "nope"]})
    assert r.json() == {"deleted_count": 1, "deleted": 1, "remaining_count": 3}
    r = admin.post("/vectors/delete", json={"user_id": uid, "model_id": mid,
                                            "filter_metadata": {"g": 1}})
    assert r.json()["deleted"] == 2 and r.json()["remaining_count"] == 1
    res = admin.post("/vectors/query", json={"user_id": uid, "model_id": mid,
                                             "query": [1, 0, 0, 0], "k": 10}).json()["results"]
    assert [i["id"] for i in res] == ["d1"]  # deleted ones never come back
    st = admin.get("/vectors/stats", params={"user_id": uid, "model_id": mid}).json()
    assert st["store_stats"]["vector_count"] == 1 and st["store_stats"]["dimension"] == 4
    assert "query_latency" in st["performance_info"]
    # empty filter / nothing to delete: refused, nothing removed
    r = admin.post("/vectors/delete", json={"user_id": uid, "model_id": mid, "filter_metadata": {}})
    assert_error(r, 422)
    assert admin.get("/vectors/count", params={"user_id": uid, "model_id": mid}).json()["count"] == 1


def test_autocreate_on_add_and_create_users_models(admin):
    r = add(admin, "auto_u", "auto_m", [[0.5] * 7])
    assert r.status_code == 200 and r.json()["total_vectors"] == 1
    st = admin.get("/admin/store/stats", params={"user_id": "auto_u", "model_id": "auto_m"}).json()
    assert st["dimension"] == 7 and st["metric"] == "cosine"
    r = admin.post("/vectors/create", json={"user_id": "auto_u", "model_id": "second"})
    assert r.status_code == 200
    assert "auto_u" in admin.get("/vectors/users").json()
    assert admin.get("/vectors/models", params={"user_id": "auto_u"}).json() == ["auto_m", "second"]
    assert admin.get("/vectors/ping").json() == {"status": "pong"}
    assert_error(admin.post("/vectors/create", json={"user_id": "auto_u", "model_id": "second"}), 409)


def test_health_public(anon):
    r = anon.get("/vectors/health")
    assert r.status_code == 200 and r.json()["status"] == "healthy"
    assert {"stores_active", "total_vectors", "memory_usage_mb"} <= set(r.json())


# ---- errors ----

def test_400_malformed_json_and_duplicate_keys(admin, store):
    uid, mid = store
    h = {"Content-Type": "application/json"}
    assert_error(admin.post("/vectors/add", data=b'{"user_id": "x",', headers=h), 400)
    dup = b'{"user_id": "%s", "user_id": "%s", "model_id": "%s", "query": [1,0,0,0]}' % (
        uid.encode(), uid.encode(), mid.encode())
    assert_error(admin.post("/vectors/query", data=dup, headers=h), 400)
    deep = b'{"user_id": "a", "model_id": "b", "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    assert_error(admin.post("/vectors/query", data=deep, headers=h), 400)
    assert_error(admin.post("/vectors/query", data=b"[1,2]", headers=h), 422)


def test_415_wrong_content_type(admin, store):
    uid, mid = store
    r = admin.post("/vectors/add", data="user_id=a", headers={"Content-Type": "text/plain"})
    assert_error(r, 415)


def test_413_body_too_large(fresh_dir):
    from conftest import Server, Client, ADMIN_KEY
    srv = Server(fresh_dir, env={"VDB_MAX_BODY_BYTES": "10000"}).start()
    try:
        c = Client(srv.url, ADMIN_KEY)
        big = {"user_id": "u", "model_id": "m", "vectors": [[0.1] * 4] * 2000}
        assert_error(c.post("/vectors/add", json=big), 413)
        # chunked upload without Content-Length is cut off too
        def gen():
            yield b'{"user_id": "u", "model_id": "m", "vectors": ['
            for _ in range(2000):
                yield b"[0.1, 0.2, 0.3, 0.4],"
            yield b"[1,2,3,4]]}"
        r = c.post("/vectors/add", data=gen(), headers={"Content-Type": "application/json"})
        assert_error(r, 413)
        assert c.get("/health").status_code == 200
    finally:
        assert srv.stop() == 0


@pytest.mark.parametrize("body,needle", [
    ({"vectors": [[1, 2, 3]]}, "dimension"),                          # wrong dim
    ({"vectors": [[1, 2, 3, float("nan")]]}, None),                   # NaN is not JSON
    ({"vectors": [[1, 2, 3, 1e39]]}, "finite"),                       # overflows float32
    ({"vectors": [[1, 2, 3, "x"]]}, "number"),
    ({"vectors": []}, "empty"),
    ({"vectors": [[1, 2, 3, 4]], "metadata": [{}, {}]}, "same length"),
    ({"vectors": [[1, 2, 3, 4]], "metadata": ["x"]}, "object"),
    ({"vectors": [[1, 2, 3, 4], [1, 2, 3]]}, "components"),
])
def test_422_bad_vectors(admin, store, body, needle):
    uid, mid = store
    payload = {"user_id": uid, "model_id": mid, **body}
    if needle is None:
        r = admin.post("/vectors/add", data=json.dumps(payload, allow_nan=True),
                       headers={"Content-Type": "application/json"})
        assert r.status_code in (400, 422), r.text
        return
    r = admin.post("/vectors/add", json=payload)
    err = assert_error(r, 422)
    assert needle in err["detail"], err
    assert admin.get("/vectors/count", params={"user_id": uid, "model_id": mid}).json()["count"] == 0


@pytest.mark.parametrize("k", [0, -1, 1001, "5", 2.5])
def test_422_bad_k(admin, store, k):
    uid, mid = store
    r = admin.post("/vectors/query", json={"user_id": uid, "model_id": mid,
                                           "query": [1, 0, 0, 0], "k": k})
    assert_error(r, 422)


@pytest.mark.parametrize("uid", ["..", ".", "a/b", "../etc", "x" * 65, "", "ü", "a b"])
def test_422_bad_names(admin, uid):
    r = admin.post("/vectors/add", json={"user_id": uid, "model_id": "m", "vectors": [[1.0]]})
    assert_error(r, 422)
    r = admin.get("/vectors/count", params={"user_id": "ok", "model_id": uid})
    assert_error(r, 422)


def test_422_missing_fields_and_batch_limit(admin, store):
    uid, mid = store
    assert_error(admin.post("/vectors/query", json={"user_id": uid, "query": [1, 0, 0, 0]}), 422)
    assert_error(admin.get("/vectors/count", params={"user_id": uid}), 422)
    assert_error(admin.post("/vectors/query", json={"user_id": uid, "model_id": mid}), 422)
    assert_error(admin.post("/vectors/query", json={"user_id": uid, "model_id": mid,
                                                    "query": [1, 0, 0]}), 422)
    assert_error(admin.post("/vectors/query", json={"user_id": uid, "model_id": mid,
                                                    "query": [1, 0, 0, 0],
                                                    "filter_metadata": {"a": {"$bogus": 1}}}), 422)
    big = {"user_id": uid, "model_id": mid, "queries": [[1, 0, 0, 0]] * 10001}
    assert_error(admin.post("/vectors/batch_query", json=big), 422)


def test_404_unknown_store_and_path(admin, anon):
    assert_error(admin.get("/vectors/count", params={"user_id": "nobody", "model_id": "none"}), 404)
    assert_error(admin.post("/vectors/query", json={"user_id": "nobody", "model_id": "none",
                                                    "query": [1.0]}), 404)
    assert_error(anon.get("/no/such/path"), 404)


def test_405_wrong_method(admin):
    r = admin.get("/vectors/add")
    assert_error(r, 405)
    assert "POST" in r.headers["Allow"]


# ---- the float-array fast path (src/api/floatparse.c) ----

def raw(admin, path, text):
    return admin.post(path, data=text.encode(), headers={"Content-Type": "application/json"})


def test_fast_path_equivalent_forms(admin, store):
    uid, mid = store
    body = ('{ "metadata" : [ {"id": "s1", "note": "\\"vectors\\": [[9]]"} ] ,\n'
            f'"user_id":"{uid}", "model_id" :"{mid}", "vectors":\t[ [ 1 , -0.5e0,2E-1 ,\n 0 ] ] }}')
    r = raw(admin, "/vectors/add", body)
    assert r.status_code == 200, r.text
    q = raw(admin, "/vectors/query",
            f'{{"query":[1,-0.5,0.2,0.0],"k":1,"user_id":"{uid}","model_id":"{mid}"}}')
    top = q.json()["results"][0]
    assert top["id"] == "s1" and top["note"] == '"vectors": [[9]]'
    assert top["similarity_score"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("vectors,status", [
    ("[[1, 2, 3, 01]]", 400), ("[[1, 2, 3, 1.]]", 400), ("[[1, 2, 3, -]]", 400),
    ("[[1, 2, 3, 1e]]", 400), ("[[1, 2, 3, .5]]", 400), ("[[1, 2, 3, 4]", 400),
    ("[[1, 2, 3, 4],]", 400), ("[[1, 2, 3, NaN]]", 400), ("[[1, 2, 3, Infinity]]", 400),
    ("[[1, 2, 3, null]]", 422), ("[[1, 2, 3, [4]]]", 422), ("[[]]", 422), ("[1, 2, 3, 4]", 422),
    ("[[1, 2, 3, 4e40]]", 422), ("[[1, 2, 3, -4e40]]", 422),
])
def test_fast_path_rejects(admin, store, vectors, status):
    uid, mid = store
    r = raw(admin, "/vectors/add", f'{{"user_id":"{uid}","model_id":"{mid}","vectors":{vectors}}}')
    assert_error(r, status)
    assert admin.get("/vectors/count", params={"user_id": uid, "model_id": mid}).json()["count"] == 0


def test_fast_path_duplicate_member_and_tiny_values(admin, store):
    uid, mid = store
    r = raw(admin, "/vectors/add", f'{{"user_id":"{uid}","model_id":"{mid}",'
                                   '"vectors":[[1,2,3,4]],"vectors":[[1,2,3,4]]}')
    assert_error(r, 400)
    r = raw(admin, "/vectors/add", f'{{"user_id":"{uid}","model_id":"{mid}",'
                                   '"vectors":[[1e-50,2,3,4]]}')
    assert r.status_code == 200  # underflow to 0 is a finite float32


def test_422_too_many_result_items(admin, store):
    uid, mid = store
    add(admin, uid, mid, [[1, 2, 3, 4]])
    r = admin.post("/vectors/batch_query", json={"user_id": uid, "model_id": mid,
                                                 "queries": [[1, 0, 0, 0]] * 1001, "k": 1000})
    assert "result items" in assert_error(r, 422)["detail"]


# ---- big bodies: the parallel row parser (floatparse.c parse_rest_parallel) ----

def test_big_body_parallel_parse_and_errors_mid_body(admin):
    """A 1,000 x 384 add (~8 MB, parsed in slices on the pool) stores every
    value; the same body spoiled at row 617 is refused with the serial
    parser's status, envelope and row index, and adds nothing."""
    uid, mid = "bigbody_user", "bigbody_model"
    r = admin.post("/admin/create_store", json={"user_id": uid, "model_id": mid, "dimension": 384})
    assert r.status_code == 200, r.text
    rng = np.random.default_rng(5)
    vecs = rng.standard_normal((1000, 384)).astype(np.float32)
    text = json.dumps({"user_id": uid, "model_id": mid, "vectors": vecs.tolist()})
    row = text.index("[", text.index('"vectors"'))
    for _ in range(618):  # the matrix's "[" then rows 0..617
        row = text.index("[", row + 1)
    num = text.index(",", text.index(",", text.index(",", row) + 1) + 1) + 1  # component 3
    end = num + min(text.index(",", num), text.index("]", num)) - num
    spoiled = [("1.e5", 400, "malformed JSON in vectors[617][3]"),
               ("null", 422, "vectors[617][3] is not a number"),
               ("1e39", 422, "vectors[617][3] (1e39) is not a finite float32"),
               ("1]", 422, "vectors[617] has 4 components, expected 384")]
    for value, status, detail in spoiled:
        bad = text[:num] + value.ljust(end - num) + text[end:]
        assert len(bad) > (1 << 20)
        body = assert_error(raw(admin, "/vectors/add", bad), status)
        assert detail in body["detail"], body
    count = admin.get("/vectors/count", params={"user_id": uid, "model_id": mid}).json()["count"]
    assert count == 0
    r = raw(admin, "/vectors/add", text)
    assert r.status_code == 200, r.text
    assert r.json()["vectors_added"] == 1000
    for i in (0, 617, 999):
        q = admin.post("/vectors/query", json={"user_id": uid, "model_id": mid,
                                               "query": vecs[i].tolist(), "k": 1})
        top = q.json()["results"][0]
        assert top["similarity_score"] == pytest.approx(1.0, abs=1e-6)
        assert top["index"] == i
