"""Auth (401/403, both headers, key management) and the tenant matrix: a
per-user key for user A against each of user B's stores on every endpoint
gets 404 (or 403 on admin-only routes), B is unchanged, and A's listings
and metrics never name B."""
import numpy as np
import pytest

from conftest import ADMIN_KEY, API_KEY, Client, assert_error

PUBLIC = ["/", "/health", "/vectors/health", "/performance/health", "/monitoring/health",
          "/admin/health", "/docs", "/openapi.json"]


@pytest.mark.parametrize("path", PUBLIC)
def test_public_allowlist(anon, path):
    assert anon.get(path).status_code == 200


def test_401_missing_and_wrong_key(server, anon):
    r = anon.get("/admin/list_stores")
    assert_error(r, 401)
    assert r.headers["WWW-Authenticate"] == "Bearer"
    bad = Client(server.url, "wrong-key")
    assert_error(bad.get("/vectors/users"), 401)
    bad_bearer = Client(server.url, "wrong-key", bearer=True)
    assert_error(bad_bearer.post("/vectors/query", json={}), 401)
    basic = anon.get("/vectors/users", headers={"Authorization": "Basic abc"})
    assert_error(basic, 401)


def test_both_headers_accepted(server):
    for c in (Client(server.url, ADMIN_KEY), Client(server.url, ADMIN_KEY, bearer=True),
              Client(server.url, API_KEY), Client(server.url, API_KEY, bearer=True)):
        assert c.get("/vectors/ping").status_code == 200


def test_api_key_cannot_manage_keys(apikey):
    assert_error(apikey.post("/admin/keys", json={"user_id": "x"}), 403)
    assert_error(apikey.get("/admin/keys"), 403)
    assert apikey.get("/admin/list_stores").status_code == 200  # but sees every store


def test_key_lifecycle(server, admin):
    r = admin.post("/admin/keys", json={"user_id": "keyuser"})
    assert r.status_code == 200
    key, key_id = r.json()["api_key"], r.json()["key_id"]
    listed = admin.get("/admin/keys", params={"user_id": "keyuser"}).json()["keys"]
    assert [k["key_id"] for k in listed] == [key_id]
    assert key not in str(listed)
    user = Client(server.url, key)
    assert user.get("/vectors/ping").status_code == 200
    assert_error(user.get("/admin/keys"), 403)
    assert_error(admin.post("/admin/keys", json={"user_id": "../x"}), 422)
    r = admin.delete("/admin/keys", params={"key_id": key_id})
    assert r.json()["revoked"] == 1
    assert_error(user.get("/vectors/ping"), 401)
    assert_error(admin.delete("/admin/keys", params={"key_id": key_id}), 404)
    # the key file holds hashes only
    text = open(server.data_dir + "/.vdb_auth.json").read()
    assert key not in text and ADMIN_KEY not in text


@pytest.fixture(scope="module")
def tenants(server, admin):
    keys = {}
    for u in ("tenant_a", "tenant_b"):
        keys[u] = Client(server.url, admin.post("/admin/keys", json={"user_id": u}).json()["api_key"])
    b = keys["tenant_b"]
    assert b.post("/admin/create_store", json={"user_id": "tenant_b", "model_id": "secret",
                                               "dimension": 3}).status_code == 200
    assert b.post("/vectors/add", json={"user_id": "tenant_b", "model_id": "secret",
                                        "vectors": [[1, 0, 0], [0, 1, 0]],
                                        "metadata": [{"id": "b1"}, {"id": "b2"}]}).status_code == 200
    a = keys["tenant_a"]
    assert a.post("/vectors/add", json={"user_id": "tenant_a", "model_id": "mine",
                                        "vectors": [[1, 0, 0]]}).status_code == 200
    return keys


B = {"user_id": "tenant_b", "model_id": "secret"}
STORE_CALLS = [
    ("post", "/vectors/add", {"json": {**B, "vectors": [[1, 1, 1]]}}),
    ("post", "/vectors/query", {"json": {**B, "query": [1, 0, 0]}}),
    ("post", "/vectors/batch_query", {"json": {**B, "queries": [[1, 0, 0]]}}),
    ("post", "/vectors/stream_query", {"json": {**B, "queries": [[1, 0, 0]]}}),
    ("get", "/vectors/count", {"params": B}),
    ("post", "/vectors/delete", {"json": {**B, "ids": ["b1"]}}),
    ("get", "/vectors/stats", {"params": B}),
    ("post", "/vectors/benchmark", {"params": {**B, "num_vectors": 10, "num_queries": 2}}),
    ("post", "/vectors/create", {"json": B}),
    ("post", "/admin/create_store", {"json": B}),
    ("delete", "/admin/store", {"params": B}),
    ("delete", "/admin/store", {"json": B}),
    ("get", "/admin/store/stats", {"params": B}),
    ("post", "/admin/add_test_vectors", {"json": {**B, "vectors": [[1, 1, 1]]}}),
    ("post", "/admin/optimize_store", {"json": B}),
    ("post", "/performance/warmup", {"json": B}),
    ("post", "/performance/benchmark", {"json": {**B, "num_vectors": 10, "num_queries": 2}}),
    ("post", "/performance/optimize", {"json": B}),
    ("get", "/admin/export_zip", {"params": B}),
    ("post", "/admin/import_zip", {"params": {**B, "overwrite": "true"}, "data": b"PK",
                                   "headers": {"Content-Type": "application/zip"}}),
]
ADMIN_ONLY = [("get", "/admin/system_stats"), ("get", "/config"), ("get", "/debug/routes"),
              ("get", "/monitoring/status"), ("get", "/admin/keys"), ("post", "/admin/keys")]


@pytest.mark.parametrize("method,path,kw", STORE_CALLS, ids=[c[1] for c in STORE_CALLS])
def test_tenant_matrix_store_routes(tenants, admin, server, method, path, kw):
    routes = [r["path"] for r in admin.get("/debug/routes").json()["routes"]]
    if path not in routes:
        pytest.skip(f"{path} not served")
    a = tenants["tenant_a"]
    r = getattr(a, method)(path, **kw)
    assert_error(r, 404)
    assert "tenant_b/secret" in r.json()["detail"] or "not found" in r.json()["detail"].lower()
    # B unchanged
    c = admin.get("/vectors/count", params=B).json()
    assert c["count"] == 2
    res = admin.post("/vectors/query", json={**B, "query": [0, 1, 0], "k": 1}).json()["results"]
    assert res[0]["id"] == "b2"


@pytest.mark.parametrize("method,path", ADMIN_ONLY)
def test_tenant_admin_only_routes(tenants, method, path):
    a = tenants["tenant_a"]
    assert_error(getattr(a, method)(path), 403)


def test_tenant_listings_and_metrics_never_name_b(tenants, admin):
    a = tenants["tenant_a"]
    for path, params in [("/admin/list_stores", None), ("/admin/list_stores", {"user_id": "tenant_b"}),
                         ("/admin/stats", None), ("/vectors/users", None),
                         ("/vectors/models", {"user_id": "tenant_b"}), ("/monitoring/stores", None),
                         ("/monitoring/metrics", None), ("/monitoring/metrics", {"format": "json"}),
                         ("/performance/stats", None), ("/health", None)]:
        r = a.get(path, params=params)
        assert r.status_code == 200, (path, r.text)
        assert "tenant_b" not in r.text and "secret" not in r.text, (path, r.text)
    assert "tenant_a" in a.get("/admin/list_stores").text
    # the admin sees both
    assert "tenant_b" in admin.get("/admin/list_stores").text
    assert "tenant_b" in admin.get("/monitoring/metrics").text


def test_tenant_own_store_full_access(tenants):
    a = tenants["tenant_a"]
    mine = {"user_id": "tenant_a", "model_id": "own2"}
    assert a.post("/admin/create_store", json={**mine, "dimension": 2}).status_code == 200
    assert a.post("/vectors/add", json={**mine, "vectors": [[1, 2]]}).json()["total_vectors"] == 1
    assert a.get("/admin/store/stats", params=mine).json()["vectors"] == 1
    assert a.delete("/admin/store", json=mine).status_code == 200
    assert_error(a.get("/vectors/count", params=mine), 404)


def test_keys_cli_shares_the_key_file_with_the_server(server, admin):
    import subprocess
    import time
    from conftest import VDB_BIN
    run = lambda *a: subprocess.run([VDB_BIN, "keys", *a, "--data-dir", server.data_dir],
                                    capture_output=True, text=True, timeout=30)
    p = run("create", "cli_user")
    assert p.returncode == 0, p.stderr
    fields = {k: v.strip() for k, v in (l.split(": ", 1) for l in p.stdout.splitlines() if ": " in l)}
    key, key_id = fields["api_key"], fields["key_id"]
    c = Client(server.url, key)
    # Accepted at its first use: an unknown key makes the server look at
    # the key file, so a client handed a key never sees a 401 for it.
    assert c.get("/vectors/ping").status_code == 200
    listed = admin.get("/admin/keys", params={"user_id": "cli_user"}).json()["keys"]
    assert [k["key_id"] for k in listed] == [key_id]
    # a key created over HTTP shows up in the CLI listing
    http_id = admin.post("/admin/keys", json={"user_id": "cli_user"}).json()["key_id"]
    out = run("list", "cli_user").stdout
    assert key_id in out and http_id in out
    assert run("revoke", key_id).returncode == 0
    deadline = time.time() + 5
    while c.get("/vectors/ping").status_code != 401 and time.time() < deadline:
        time.sleep(0.2)
    assert_error(c.get("/vectors/ping"), 401)
    assert run("revoke-user", "cli_user").returncode == 0
    deadline = time.time() + 5
    while admin.get("/admin/keys", params={"user_id": "cli_user"}).json()["keys"] and \
            time.time() < deadline:
        time.sleep(0.2)
    assert admin.get("/admin/keys", params={"user_id": "cli_user"}).json()["keys"] == []
    assert run("revoke", "nonexistent").returncode == 1
    assert run("create", "../bad").returncode == 1
