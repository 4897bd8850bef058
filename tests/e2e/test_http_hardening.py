"""The HTTP layer against hostile and malformed clients (issue 11 items 1, 3-7
and 9, issue 14 item 5, and rate limiting). Raw sockets where a client
library would refuse to send the bytes. Every answer must be the JSON error
envelope with the right status, and the connection must end promptly: never
a hang, never HTML, never two status lines."""
import json
import os
import socket
import subprocess
import threading
import time

import requests

from conftest import ADMIN_KEY, Client, Server, VDB_BIN, assert_error, free_port

KEY = ADMIN_KEY.encode()


def raw(port, data, timeout=5, source="127.0.0.1"):
    """Sends data, reads until the server closes; returns (bytes, seconds)."""
    s = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
    s.settimeout(timeout)
    t0 = time.time()
    out = b""
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        out += b"<TIMEOUT>"
    except ConnectionResetError:
        pass
    finally:
        s.close()
    return out, time.time() - t0


def parse(resp):
    """Status and JSON body of one raw response; asserts a single status line."""
    assert resp.count(b"HTTP/1.1 ") == 1, resp[:300]
    head, _, body = resp.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    assert b"content-type: application/json" in head.lower(), head
    doc = json.loads(body)
    assert doc["code"] == f"HTTP_{status}" and doc["detail"], doc
    return status, doc


def expect(port, data, status, timeout=5):
    out, took = raw(port, data, timeout)
    assert b"<TIMEOUT>" not in out, f"no answer in {timeout}s"
    got, doc = parse(out)
    assert got == status, (got, doc)
    assert took < 3, took
    return doc


def test_framing_errors_are_json_and_close(server):
    p = server.port
    post = b"POST /vectors/query HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY + b"\r\n"
    expect(p, post + b"Content-Length: -1\r\n\r\n", 400)
    expect(p, post + b"Content-Length: abc\r\n\r\n", 400)
    expect(p, post + b"Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}abc", 400)
    expect(p, post + b"Content-Length: 2, 2\r\n\r\n{}", 400)
    expect(p, post + b"Transfer-Encoding: gzip\r\n\r\nabc", 400)
    expect(p, post + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400)
    expect(p, post + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"ffffffffffffffff\r\nabc", 400)
    expect(p, post + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"zz\r\nabc", 400)
    expect(p, b"GET /health HTTP/1.1\r\nX-A: " + b"a" * 70000 + b"\r\n\r\n", 431)
    expect(p, b"GET /health HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400)  # obsolete folding
    expect(p, b"GET  /health HTTP/1.1\r\n\r\n", 400)
    expect(p, b"GET /health HTTP/2.0\r\n\r\n", 505)


def test_chunked_body_within_limits_works(server, store):
    uid, mid = store
    body = json.dumps({"user_id": uid, "model_id": mid, "vectors": [[1, 2, 3, 4]]}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                      for i in range(0, len(body), 7))
    out, _ = raw(server.port, b"POST /vectors/add HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY +
                 b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                 b"Connection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 "), out[:300]


def test_nul_in_api_key_is_refused(server):
    expect(server.port, b"GET /admin/keys HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY +
           b"\x00garbage\r\n\r\n", 400)


def test_nul_or_bad_utf8_in_any_query_parameter_is_422(admin, store):
    uid, mid = store
    admin.post("/vectors/add", json={"user_id": uid, "model_id": mid, "vectors": [[1, 2, 3, 4]]})
    gets = ["/vectors/count", "/vectors/stats", "/admin/store/stats", "/admin/list_stores",
            "/vectors/models", "/admin/export_zip", "/performance/stats", "/admin/keys"]
    for bad in ("%00../../etc", "%ff%fe", "%c0%af"):
        for path in gets:
            q = f"user_id={uid}{bad}&model_id={mid}"
            r = admin.get(path + "?" + q)
            assert_error(r, 422)
        r = admin.delete(f"/admin/store?user_id={uid}&model_id={mid}{bad}")
        assert_error(r, 422)
    assert admin.get("/vectors/count", params={"user_id": uid, "model_id": mid}).json()["count"] == 1


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_keyless_huge_body_refused_before_reading(server):
    before = rss_kib(server.proc.pid)
    socks = []
    for _ in range(6):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.settimeout(3)
        s.sendall(b"POST /vectors/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 262144000\r\n\r\n" + b"[" * 65536)
        socks.append(s)
    for s in socks:
        t0 = time.time()
        got = s.recv(4096)
        assert got.startswith(b"HTTP/1.1 401 "), got[:200]
        assert time.time() - t0 < 2
        s.close()
    assert rss_kib(server.proc.pid) - before < 32 * 1024  # nothing near 6 x 250 MB buffered


def test_json_body_rules(admin, store):
    uid, mid = store
    good = json.dumps({"user_id": uid, "model_id": mid, "vectors": [[1, 2, 3, 4]]}).encode()
    h = {"Content-Type": "application/json"}
    assert_error(admin.post("/vectors/add", data=good[:-1] + b"\x00}", headers=h), 400)
    assert_error(admin.post("/vectors/add", data=good + b"\x00", headers=h), 400)
    assert_error(admin.post("/vectors/add", data=good, headers={"Content-Type": "application/jsonx"}), 415)
    assert_error(admin.post("/vectors/add", data=good, headers={"Content-Type": "text/plain"}), 415)
    r = requests.post(admin.base + "/vectors/add", data=good,
                      headers={"X-API-Key": ADMIN_KEY, "Content-Type": ""})
    assert_error(r, 415)
    r = admin.post("/vectors/add", data=good,
                   headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text
    assert admin.get("/vectors/count", params={"user_id": uid, "model_id": mid}).json()["count"] == 1


def test_null_for_a_scalar_field_is_refused(admin):
    r = admin.post("/admin/create_store", json={"user_id": "nullu", "model_id": "m", "dimension": None})
    assert "null" in assert_error(r, 422)["detail"]
    assert_error(admin.get("/vectors/count", params={"user_id": "nullu", "model_id": "m"}), 404)
    r = admin.post("/vectors/query", json={"user_id": "nullu", "model_id": "m", "query": [1.0],
                                           "k": None})
    assert_error(r, 422)


def test_performance_stats_honours_and_validates_names(admin):
    for uid in ("ps_a", "ps_b"):
        admin.post("/vectors/add", json={"user_id": uid, "model_id": "m", "vectors": [[1.0, 2.0]]})
    stores = admin.get("/performance/stats", params={"user_id": "ps_a"}).json()["stores"]
    assert stores and all(s["user_id"] == "ps_a" for s in stores)
    stores = admin.get("/performance/stats", params={"user_id": "ps_b", "model_id": "m"}).json()["stores"]
    assert [(s["user_id"], s["model_id"]) for s in stores] == [("ps_b", "m")]
    assert admin.get("/performance/stats", params={"user_id": "ps_b", "model_id": "zz"}).json()["stores"] == []
    assert_error(admin.get("/performance/stats", params={"user_id": ""}), 422)
    assert_error(admin.get("/performance/stats", params={"user_id": "../etc"}), 422)
    assert_error(admin.get("/performance/stats", params={"model_id": "a/b"}), 422)


def test_second_server_on_a_taken_port_fails(server, fresh_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VECTOR_DB", "VDB_"))}
    env.update({"VECTOR_DB_DATA_DIR": fresh_dir, "PORT": str(server.port), "HOST": "127.0.0.1",
                "VECTOR_DB_ADMIN_KEY": "other-admin-key-0123456789"})
    p = subprocess.run([VDB_BIN, "serve"], env=env, capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert "in use" in (p.stdout + p.stderr)
    # the first server still answers every request with its own key
    for _ in range(10):
        assert Client(server.url, ADMIN_KEY).get("/admin/keys").status_code == 200


def test_rate_limits(fresh_dir):
    srv = Server(fresh_dir, env={"VDB_RATE_ADMIN": "2", "VDB_RATE_PUBLIC": "3",
                                 "VDB_RATE_QUERY": "1000"}).start()
    try:
        c = Client(srv.url, ADMIN_KEY)
        codes = [c.get("/admin/stats").status_code for _ in range(4)]
        assert codes[:2] == [200, 200] and 429 in codes[2:], codes
        r = c.get("/admin/stats")
        body = assert_error(r, 429)
        assert "Rate limit exceeded" in body["detail"]
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers["X-RateLimit-Limit"] == "2"
        assert r.headers["X-RateLimit-Remaining"] == "0"
        assert int(r.headers["X-RateLimit-Reset"]) >= int(time.time())
        # other classes and other keys have their own buckets
        assert c.get("/vectors/ping").status_code == 200
        time.sleep(1.1)
        assert c.get("/admin/stats").status_code == 200  # refilled
        anon = Client(srv.url)
        codes = [anon.get("/health").status_code for _ in range(6)]
        assert codes[:3] == [200] * 3 and 429 in codes[3:], codes
        time.sleep(1.1)
        text = c.get("/monitoring/metrics").text
        assert 'vdb_rate_limited_total{class="admin"}' in text
        line = [l for l in text.splitlines() if l.startswith('vdb_rate_limited_total{class="public"}')][0]
        assert float(line.split()[-1]) >= 1
    finally:
        assert srv.stop() == 0


def test_idle_and_half_closed_connections_do_not_lock_out(fresh_dir):
    """Small CI version of the attack (the long one is tests/e2e/attack.py):
    more idle sockets than the connection limit, slow-header and slow-body
    senders and a burst of half-closed sockets, all from 127.0.0.2; a normal
    keep-alive-less client on 127.0.0.1 keeps being served quickly."""
    from attack import Attack, measure
    srv = Server(fresh_dir, env={"VDB_MAX_CONNECTIONS": "256", "VDB_HEADER_TIMEOUT_S": "2",
                                 "VDB_MAX_CONN_PER_PEER": "128", "VDB_HTTP_THREADS": "2"}).start()
    try:
        with Attack(srv.port, source="127.0.0.2", idle=400, slow_header=60, slow_body=60,
                    half_closed=300):
            time.sleep(1.0)
            lat, errors = measure(srv.port, seconds=6)
        lat.sort()
        p99 = lat[int(len(lat) * 0.99) - 1]
        assert errors == 0 and len(lat) > 50, (errors, len(lat))
        assert p99 < 0.25, p99  # the issue's bar is 100 ms; CI machines are shared
        m = Client(srv.url, ADMIN_KEY).get("/monitoring/metrics").text
        line = [l for l in m.splitlines()
                if l.startswith('vdb_http_connections_total{outcome="refused_per_peer"}')][0]
        assert float(line.split()[-1]) > 0  # the per-address bound did the work
    finally:
        assert srv.stop() == 0


def test_issue_attack_keeps_p99_under_100ms(fresh_dir):
    """Issue 11's bar with the server's default limits (1,024 connections,
    256 per address): 1,500 idle sockets spread over six addresses (250
    each, under the per-address bound, so the total limit and the eviction
    of idle connections do the work), 200 slowloris and 100 slow-body
    senders and bursts of half-closed sockets, while a client without
    keep-alive (a new connection per request) measures. It must see 0
    errors and p99 < 100 ms. The bound is relaxed only by the machine's own
    noise: when the same client's p99 with no attack is already above
    50 ms (other jobs on a shared CI machine), the bound is twice that
    baseline; a lockout costs seconds, so the test still fails on one."""
    from attack import Attack, measure
    srv = Server(fresh_dir).start()
    try:
        base, base_errors = measure(srv.port, seconds=2)
        base.sort()
        base_p99 = base[int(len(base) * 0.99) - 1]
        idle_sources = [f"127.0.0.{31 + i}" for i in range(6)]
        with Attack(srv.port, source=idle_sources, idle=1500, rate=1000) as idle, \
             Attack(srv.port, source=["127.0.0.37", "127.0.0.38"], slow_header=200,
                    slow_body=100, half_closed=300):
            deadline = time.time() + 10
            while idle.opened < 1500 and time.time() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)
            lat, errors = measure(srv.port, seconds=8)
            m = Client(srv.url, ADMIN_KEY).get("/monitoring/metrics").text
        lat.sort()
        p99 = lat[int(len(lat) * 0.99) - 1]
        bound = max(0.100, 2 * base_p99)
        print(f"baseline p99 {base_p99 * 1e3:.1f} ms; under attack {len(lat)} requests, "
              f"p50 {lat[len(lat) // 2] * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms, "
              f"max {lat[-1] * 1e3:.1f} ms, errors {errors}; bound {bound * 1e3:.0f} ms")
        assert base_errors == 0 and errors == 0 and len(lat) > 100, (errors, len(lat))
        assert p99 < bound, (p99, base_p99)
        # The attack reached the server's limits (not absorbed by the
        # per-address bound alone): idle connections were evicted.
        line = [l for l in m.splitlines()
                if l.startswith('vdb_http_connections_total{outcome="evicted_idle"}')][0]
        assert float(line.split()[-1]) > 0, m
    finally:
        assert srv.stop() == 0


def test_big_bodies_reuse_buffers_across_connections(server, admin):
    """Bodies of 1 MiB and more are received into buffers kept from earlier
    requests on any connection (http_conn.c spare_take/spare_put): a
    shorter body after a longer one, on a new connection each time, must be
    read as exactly its own bytes, never the stale rest of the buffer."""
    uid, mid = "spare_user", "spare_model"
    r = admin.post("/admin/create_store", json={"user_id": uid, "model_id": mid, "dimension": 64})
    assert r.status_code == 200, r.text
    rng = __import__("random").Random(12)

    def body(rows):
        vecs = [[rng.uniform(-1, 1) for _ in range(64)] for _ in range(rows)]
        return vecs, json.dumps({"user_id": uid, "model_id": mid, "vectors": vecs}).encode()

    def post(data):
        # A new connection per request (no session), so reuse is across
        # connections.
        return requests.post(server.url + "/vectors/add", data=data, timeout=120,
                             headers={"X-API-Key": ADMIN_KEY,
                                      "Content-Type": "application/json"})

    big_vecs, big = body(2400)
    small_vecs, small = body(1000)
    assert len(big) > 2 << 20 and 1 << 20 < len(small) < len(big) // 2
    assert post(big).status_code == 200
    r = post(small)
    assert r.status_code == 200, r.text
    # The long body cut short: its valid-looking rest is still in the kept
    # buffer, and must not be read.
    r = post(big[:len(big) - 100])
    assert r.status_code in (400, 422), r.text
    r = admin.get(f"/admin/store/stats?user_id={uid}&model_id={mid}")
    stats = r.json()
    assert stats.get("vector_count", stats.get("data", {}).get("vector_count")) == 3400, stats
    for vecs in (big_vecs, small_vecs):
        for row in (0, 7, len(vecs) - 1):
            r = admin.post("/vectors/query", json={"user_id": uid, "model_id": mid,
                                                    "query": vecs[row], "k": 1})
            assert r.status_code == 200, r.text
            assert r.json()["results"][0]["similarity_score"] > 0.99999, r.text
    admin.delete(f"/admin/store?user_id={uid}&model_id={mid}")
