"""Persistence across restarts, graceful shutdown, the generated admin key,
.env loading, and 503 for a store another process holds."""
import os
import re
import signal
import threading

import numpy as np

from conftest import ADMIN_KEY, Client, Server, assert_error


def test_restart_persistence(fresh_dir):
    srv = Server(fresh_dir).start()
    c = Client(srv.url, ADMIN_KEY)
    ids = {"user_id": "persist", "model_id": "m"}
    vecs = np.random.RandomState(1).rand(300, 32).astype(np.float32)
    assert c.post("/admin/create_store", json={**ids, "dimension": 32, "metric": "l2"}).status_code == 200
    r = c.post("/vectors/add", json={**ids, "vectors": vecs.tolist(),
                                     "metadata": [{"id": f"p{i}", "n": i} for i in range(300)]})
    assert r.status_code == 200
    c.post("/vectors/delete", json={**ids, "ids": ["p5"]})
    before = c.post("/vectors/query", json={**ids, "query": vecs[7].tolist(), "k": 3}).json()
    assert srv.stop(signal.SIGINT) == 0
    srv.start()
    c = Client(srv.url, ADMIN_KEY)
    assert c.get("/vectors/count", params=ids).json()["count"] == 299
    after = c.post("/vectors/query", json={**ids, "query": vecs[7].tolist(), "k": 3}).json()
    assert [i["id"] for i in after["results"]] == [i["id"] for i in before["results"]]
    assert after["results"][0]["id"] == "p7" and after["results"][0]["metadata"] == {"id": "p7", "n": 7}
    st = c.get("/admin/store/stats", params=ids).json()
    assert st["metric"] == "euclidean" and st["dimension"] == 32
    r = c.post("/vectors/query", json={**ids, "query": vecs[5].tolist(), "k": 300})
    assert "p5" not in [i["id"] for i in r.json()["results"]]
    assert srv.stop() == 0


def test_graceful_shutdown_finishes_in_flight(fresh_dir):
    srv = Server(fresh_dir).start()
    c = Client(srv.url, ADMIN_KEY)
    ids = {"user_id": "g", "model_id": "m"}
    c.post("/admin/create_store", json={**ids, "dimension": 64, "index": "flat"})
    result = {}

    def slow():
        result["r"] = c.post("/performance/benchmark",
                             json={**ids, "num_vectors": 50000, "num_queries": 1000})

    t = threading.Thread(target=slow)
    t.start()
    import time
    time.sleep(0.3)
    rc = srv.stop()
    t.join()
    assert rc == 0
    assert result["r"].status_code == 200, result["r"].text
    assert result["r"].json()["benchmark_results"]["num_vectors"] == 50000


def test_generated_admin_key_printed_once(fresh_dir):
    srv = Server(fresh_dir).start(keys=False)
    assert srv.stop() == 0
    lines = srv.output.splitlines()
    key = lines[lines.index([l for l in lines if "generated admin key" in l][0]) + 1].strip()
    assert key.startswith("vdb_") and len(key) > 40
    assert key not in open(os.path.join(fresh_dir, ".vdb_auth.json")).read()
    srv.start(keys=False)
    try:
        assert Client(srv.url, key).get("/admin/keys").status_code == 200
        assert_error(Client(srv.url, "vdb_wrong").get("/admin/keys"), 401)
    finally:
        assert srv.stop() == 0
    assert "generated admin key" not in srv.output  # only at first start


def test_dotenv_and_flags(fresh_dir):
    work = os.path.join(fresh_dir, "cwd")
    os.mkdir(work)
    with open(os.path.join(work, ".env"), "w") as f:
        f.write("# seed-style .env\nVECTOR_DB_API_KEY=\"from-dotenv-key\"\nVDB_MAX_K=7\n")
    srv = Server(os.path.join(fresh_dir, "data"), cwd=work).start(keys=False)
    try:
        c = Client(srv.url, "from-dotenv-key")
        assert c.get("/vectors/ping").status_code == 200
        c.post("/vectors/add", json={"user_id": "u", "model_id": "m", "vectors": [[1.0]]})
        assert_error(c.post("/vectors/query", json={"user_id": "u", "model_id": "m",
                                                    "query": [1.0], "k": 8}), 422)
    finally:
        assert srv.stop() == 0


def test_503_store_locked_by_another_process(fresh_dir):
    one = Server(fresh_dir).start()
    two = Server(fresh_dir).start()
    try:
        a, b = Client(one.url, ADMIN_KEY), Client(two.url, ADMIN_KEY)
        ids = {"user_id": "lock", "model_id": "m"}
        assert a.post("/vectors/add", json={**ids, "vectors": [[1.0, 2.0]]}).status_code == 200
        body = assert_error(b.get("/vectors/count", params=ids), 503)
        # One line: the lock file's pid comes without its newline (issue 14).
        assert re.search(r"\(pid \d+\)$", body["detail"]), body
        assert a.get("/vectors/count", params=ids).json()["count"] == 1
    finally:
        assert one.stop() == 0
        assert two.stop() == 0
    # ... and so is the log line that reports it.
    assert re.search(r"WARN  GET /vectors/count -> 503: .*\(pid \d+\)\n", two.output), two.output


def test_warmup_on_start_opens_stores(fresh_dir):
    srv = Server(fresh_dir).start()
    Client(srv.url, ADMIN_KEY).post("/vectors/add", json={"user_id": "w", "model_id": "m",
                                                          "vectors": [[1.0, 2.0]]})
    assert srv.stop() == 0
    srv.extra_env = {"MLX_WARMUP_ON_STARTUP": "true"}
    srv.start()
    try:
        h = Client(srv.url, ADMIN_KEY).get("/performance/health").json()
        assert h["stores_loaded"] == 1
    finally:
        assert srv.stop() == 0
    srv.extra_env = {}
    srv.start()
    try:
        assert Client(srv.url, ADMIN_KEY).get("/performance/health").json()["stores_loaded"] == 0
    finally:
        assert srv.stop() == 0


def test_slow_client_is_timed_out(fresh_dir):
    import socket
    import time
    srv = Server(fresh_dir, env={"VDB_HEADER_TIMEOUT_S": "1"}).start()
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /vectors/add HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")  # never finishes
        s.settimeout(5)
        t0 = time.time()
        data = b""
        while True:  # the server answers 408 and closes the connection
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 408 ") and time.time() - t0 < 4
        assert b'"code":"HTTP_408"' in data
        assert Client(srv.url, ADMIN_KEY).get("/vectors/ping").status_code == 200
    finally:
        assert srv.stop() == 0


def test_connection_limit(fresh_dir):
    """At the limit, a new connection takes the slot of the connection that
    has waited longest without sending a request (idle sockets must not
    lock real clients out); when every slot is busy it gets a JSON 503."""
    import socket
    srv = Server(fresh_dir, env={"VDB_MAX_CONNECTIONS": "4", "VDB_HTTP_THREADS": "1"}).start()
    held = []
    try:
        for _ in range(4):
            held.append(socket.create_connection(("127.0.0.1", srv.port)))
        import time
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", srv.port))
        extra.settimeout(3)
        extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = extra.recv(100)
        assert got.startswith(b"HTTP/1.1 200 ")
        held[0].settimeout(3)
        assert held[0].recv(100) == b""  # the oldest idle one was dropped
    finally:
        for s in held:
            s.close()
    try:
        import time
        time.sleep(0.2)
        assert Client(srv.url, ADMIN_KEY).get("/vectors/ping").status_code == 200
    finally:
        assert srv.stop() == 0


def test_507_disk_full(fresh_dir):
    import subprocess
    tiny = os.path.join(fresh_dir, "tiny")
    os.mkdir(tiny)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", tiny],
                      capture_output=True).returncode != 0:
        import pytest
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    srv = Server(tiny, cwd=fresh_dir)
    try:
        srv.start()
        c = Client(srv.url, ADMIN_KEY)
        ids = {"user_id": "full", "model_id": "m"}
        c.post("/admin/create_store", json={**ids, "dimension": 256, "index": "flat"})
        batch = np.random.rand(200, 256).astype(np.float32).tolist()
        statuses = []
        for _ in range(40):
            r = c.post("/vectors/add", json={**ids, "vectors": batch})
            statuses.append(r.status_code)
            if r.status_code != 200:
                break
        assert statuses[-1] == 507, statuses
        assert_error(r, 507)
        # still serving reads; the acknowledged vectors are all there
        n = c.get("/vectors/count", params=ids).json()["count"]
        assert n == 200 * (len(statuses) - 1)
        assert c.get("/health").status_code == 200
        srv.stop()
    finally:
        if srv.proc is not None:
            srv.stop()
        subprocess.run(["umount", tiny])
