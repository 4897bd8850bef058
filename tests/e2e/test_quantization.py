"""Per-store quantization over HTTP: the create_store setting (and its
refusal of bad values), exact queries on an int8 store equal to a float
twin's through adds, upserts and deletes (answered on the codes: the stats
count them), the admin route that changes it, and persistence across a
server restart."""
import numpy as np

from conftest import ADMIN_KEY, Client, Server, assert_error


def _exact(client, ids, q, k=10):
    r = client.post("/vectors/query", json={**ids, "query": q, "k": k, "exact": True})
    assert r.status_code == 200, r.text
    return [(h["id"], h["distance"]) for h in r.json()["results"]]


def _same_up_to_ties(got, want):
    assert len(got) == len(want)
    for i, ((gid, gd), (wid, wd)) in enumerate(zip(got, want)):
        tol = 1e-5 * (1 + abs(wd))
        assert abs(gd - wd) <= tol, (i, got, want)
        tied = any(abs(want[j][1] - wd) <= tol for j in (i - 1, i + 1) if 0 <= j < len(want))
        assert gid == wid or tied, (i, got, want)


def test_quantization_setting_and_exact_answers(admin):
    q8 = {"user_id": "qz", "model_id": "int8"}
    fl = {"user_id": "qz", "model_id": "float"}
    r = admin.post("/admin/create_store", json={**q8, "dimension": 24, "metric": "euclidean",
                                                "quantization": "int8"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["config"]["quantization"] == "int8"
    r = admin.post("/admin/create_store", json={**fl, "dimension": 24, "metric": "euclidean"})
    assert r.json()["data"]["config"]["quantization"] == "auto"  # the default: measured per store
    st = admin.get("/admin/store/stats", params=fl).json()["quantization"]
    # Below the graph threshold nothing is calibrated: auto has decided nothing, keeps no codes.
    assert st["kind"] == "auto" and st["effective"] == "undecided" and st["bytes"] == 0, st
    for bad in ("int4", "", 8, True):
        body = assert_error(admin.post("/admin/create_store",
                                       json={"user_id": "qz", "model_id": "bad", "dimension": 24,
                                             "quantization": bad}), 422)
        assert "/" not in body["detail"] or "quantization" in body["detail"]
    assert_error(admin.get("/admin/store/stats", params={"user_id": "qz", "model_id": "bad"}), 404)

    rng = np.random.default_rng(5)
    centres = rng.standard_normal((8, 24)) * 3
    vecs = (centres[rng.integers(0, 8, 600)] + rng.standard_normal((600, 24))).astype(np.float32)
    ids = [f"v{i}" for i in range(600)]
    for store in (q8, fl):
        r = admin.post("/vectors/add", json={**store, "vectors": vecs.tolist(),
                                             "metadata": [{"id": i} for i in ids]})
        assert r.status_code == 200, r.text
    queries = (centres[rng.integers(0, 8, 12)] + rng.standard_normal((12, 24))).tolist()
    for q in queries:
        _same_up_to_ties(_exact(admin, q8, q), _exact(admin, fl, q))
    st = admin.get("/admin/store/stats", params=q8).json()["quantization"]
    assert st["kind"] == "int8" and st["rows"] == 600 and st["exact_queries"] >= 12
    assert 0 < st["reranked_rows"] < 12 * 600 // 2  # the bounds pruned
    assert st["bytes_per_row"] < 24 * 4 / 2

    # Upserts and deletes keep the codes in step with the rows.
    up = rng.standard_normal((50, 24)).tolist()
    for store in (q8, fl):
        assert admin.post("/vectors/add", json={**store, "vectors": up, "metadata":
                                                [{"id": i} for i in ids[:50]]}).status_code == 200
        assert admin.post("/vectors/delete", json={**store, "ids": ids[100:200]}).status_code == 200
    for q in queries + up[:3]:
        _same_up_to_ties(_exact(admin, q8, q), _exact(admin, fl, q))

    # The admin route changes it; bad input changes nothing.
    r = admin.post("/admin/store/quantization", json={**q8, "quantization": "binary"})
    assert r.status_code == 200, r.text
    assert r.json()["quantization"]["kind"] == "binary"
    for q in queries[:4]:
        _same_up_to_ties(_exact(admin, q8, q), _exact(admin, fl, q))
    assert_error(admin.post("/admin/store/quantization", json={**q8, "quantization": "int3"}), 422)
    assert_error(admin.post("/admin/store/quantization", json={**q8}), 422)
    assert_error(admin.post("/admin/store/quantization",
                            json={"user_id": "qz", "model_id": "nope", "quantization": "int8"}), 404)
    assert admin.get("/admin/store/stats", params=q8).json()["quantization"]["kind"] == "binary"
    r = admin.post("/admin/store/quantization", json={**q8, "quantization": "int8"})
    assert r.json()["quantization"]["kind"] == "int8"


def test_quantization_persists_across_restart(fresh_dir):
    srv = Server(fresh_dir).start()
    try:
        c = Client(srv.url, ADMIN_KEY)
        ids = {"user_id": "qp", "model_id": "m"}
        assert c.post("/admin/create_store", json={**ids, "dimension": 8,
                                                   "quantization": "int8"}).status_code == 200
        vecs = np.random.default_rng(2).standard_normal((100, 8)).tolist()
        assert c.post("/vectors/add", json={**ids, "vectors": vecs}).status_code == 200
        before = _exact(c, ids, vecs[7])
        assert srv.stop() == 0
        srv.start()
        c = Client(srv.url, ADMIN_KEY)
        st = c.get("/admin/store/stats", params=ids).json()["quantization"]
        assert st["kind"] == "int8" and st["rows"] == 100  # codes rebuilt at open
        assert _exact(c, ids, vecs[7]) == before
        assert c.get("/admin/store/stats", params=ids).json()["quantization"]["exact_queries"] == 1
    finally:
        srv.stop()


def test_cli_create_quantization(tmp_path):
    import glob
    import json
    import subprocess

    from conftest import VDB_BIN
    data = str(tmp_path / "data")
    res = subprocess.run([VDB_BIN, "create", "--data-dir", data, "--user", "u", "--model", "m",
                          "--dim", "8", "--quantization", "int8"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "quantization int8" in res.stdout
    manifests = glob.glob(f"{data}/**/store.json", recursive=True)
    assert len(manifests) == 1
    with open(manifests[0]) as f:
        assert json.load(f)["index"]["quantization"] == "int8"
    res = subprocess.run([VDB_BIN, "create", "--data-dir", data, "--user", "u", "--model", "x",
                          "--dim", "8", "--quantization", "int4"], capture_output=True, text=True)
    assert res.returncode == 2 and "quantization" in res.stderr
    assert len(glob.glob(f"{data}/**/store.json", recursive=True)) == 1
