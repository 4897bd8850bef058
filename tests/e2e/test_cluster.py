"""The 3-node cluster of deploy/cluster/ (vdb nodes behind Debian's HAProxy)
on loopback: the seed quickstart through the proxy, tenant placement by the
map and by consistent hashing, per-user key isolation across nodes, a
runtime `set map` without reload, `vdb cluster status`, the aggregator for
cluster-wide routes, the tenant write freeze, `vdb cluster move` under a
concurrent writer and interrupted by kill -9 (of the mover and of a node),
and a dead node's tenants failing alone.
Skipped when haproxy is not installed (scripts/install-deps.sh test)."""
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import zipfile

import pytest
import requests

import conftest
from test_quickstart import QUICKSTART

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.join(HERE, "../../deploy/cluster")
NODES = ("node1", "node2", "node3")

pytestmark = pytest.mark.skipif(
    shutil.which("haproxy") is None,
    reason="haproxy not installed (apt-get install -y haproxy, or scripts/install-deps.sh test)")


class Cluster:
    def __init__(self, run_dir):
        self.dir = run_dir
        self.proxy_port = conftest.free_port()
        self.ports = {n: conftest.free_port() for n in NODES}
        self.agg_port = conftest.free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("VECTOR_DB", "VDB_"))}
        self.env.update({"VDB_BIN": os.path.abspath(conftest.VDB_BIN),
                         "VDB_PROXY_PORT": str(self.proxy_port),
                         "VDB_AGG_PORT": str(self.agg_port),
                         "VECTOR_DB_ADMIN_KEY": conftest.ADMIN_KEY,
                         "VECTOR_DB_API_KEY": conftest.API_KEY,
                         "LOG_LEVEL": "warning", "VDB_THREADS": "2"})
        for n, p in self.ports.items():
            self.env[f"VDB_{n.upper()}_PORT"] = str(p)

    def script(self, *args, check=True):
        r = subprocess.run([os.path.join(DEPLOY, args[0]), *args[1:]], capture_output=True,
                           text=True, timeout=30, env=self.env)
        if check:
            assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
        return r

    @property
    def url(self):
        return f"http://127.0.0.1:{self.proxy_port}"

    def node_url(self, n):
        return f"http://127.0.0.1:{self.ports[n]}"

    def haproxy_pid(self):
        with open(os.path.join(self.dir, "haproxy.pid")) as f:
            return int(f.read().split()[0])

    def vdb(self, *args, env=None, timeout=120):
        """Runs `vdb ARGS` with the cluster's environment."""
        e = dict(self.env, **(env or {}))
        return subprocess.run([self.env["VDB_BIN"], *args], capture_output=True, text=True,
                              timeout=timeout, env=e)

    def node_pid(self, n):
        with open(os.path.join(self.dir, f"{n}.pid")) as f:
            return int(f.read())

    def kill9_node(self, n):
        pid = self.node_pid(n)
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)

    def restart_node(self, n):
        """Starts node n again on its port and data directory (after a kill)."""
        env = dict(self.env, VECTOR_DB_DATA_DIR=os.path.join(self.dir, n), HOST="127.0.0.1",
                   PORT=str(self.ports[n]))
        # Through a shell that exits at once, as start.sh does: the node is
        # then not pytest's child, so stop.sh's `kill -0` never waits on a
        # zombie.
        log = os.path.join(self.dir, f"{n}.log")
        out = subprocess.run(["bash", "-c", f'nohup "$VDB_BIN" serve >> "{log}" 2>&1 < /dev/null '
                              '& echo $!'], env=env, capture_output=True, text=True, check=True)
        with open(os.path.join(self.dir, f"{n}.pid"), "w") as f:
            f.write(out.stdout.strip())
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if requests.get(self.node_url(n) + "/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{n} did not come back")

    def owners(self, user):
        """Nodes that hold a store of `user`, asked directly (not via the proxy)."""
        out = []
        for n in NODES:
            r = requests.get(self.node_url(n) + "/admin/list_stores", params={"user_id": user},
                             headers={"X-API-Key": conftest.ADMIN_KEY}, timeout=10)
            assert r.status_code == 200, r.text
            if r.json()["total"] > 0:
                out.append(n)
        return out


@pytest.fixture(scope="module")
def cluster():
    with tempfile.TemporaryDirectory(prefix="vdb-cluster-") as tmp:
        c = Cluster(tmp)
        c.script("start.sh", tmp)
        try:
            yield c
        finally:
            r = c.script("stop.sh", tmp, check=False)
            assert r.returncode == 0, r.stdout + r.stderr


def admin(c):
    return conftest.Client(c.url, conftest.ADMIN_KEY)


def routed_to(c, user, key=conftest.ADMIN_KEY):
    r = requests.get(c.url + "/vectors/models", params={"user_id": user},
                     headers={"X-API-Key": key}, timeout=10)
    return r.headers.get("X-Vdb-Node"), r


def create(c, user, model="m", dim=4):
    r = admin(c).post("/admin/create_store",
                      json={"user_id": user, "model_id": model, "dimension": dim})
    assert r.status_code == 200, r.text
    return r.headers["X-Vdb-Node"]


def test_quickstart_through_proxy(cluster):
    ns = {"BASE_URL": cluster.url, "API_KEY": conftest.API_KEY}
    exec(QUICKSTART, ns)
    assert ns["response"].status_code == 200
    results = ns["results"]["results"]
    assert len(results) == 5 and results[0]["id"] == "doc_0"
    assert results[0]["similarity_score"] > 0.999
    # All three requests (JSON bodies) reached one node, the one that owns the
    # tenant, and a query-string request for the same tenant goes there too.
    owners = cluster.owners("test_user")
    assert len(owners) == 1
    assert ns["response"].headers["X-Vdb-Node"] == owners[0]
    node, r = routed_to(cluster, "test_user")
    assert node == owners[0] and r.json() == ["test_model"]
    cnt = admin(cluster).get("/vectors/count", params={"user_id": "test_user",
                                                       "model_id": "test_model"})
    assert cnt.json()["count"] == 100 and cnt.headers["X-Vdb-Node"] == owners[0]


def test_map_and_hash_placement(cluster):
    cluster.script("place.sh", cluster.dir, "pinned_a", "node1")
    cluster.script("place.sh", cluster.dir, "pinned_b", "node3")
    assert create(cluster, "pinned_a") == "node1"
    assert create(cluster, "pinned_b") == "node3"
    assert cluster.owners("pinned_a") == ["node1"]
    assert cluster.owners("pinned_b") == ["node3"]
    # Tenants not in the map: consistent hashing, stable, one owner each, and
    # spread over more than one node (20 tenants on one node of 3 by chance
    # is ~3e-9 for a uniform hash).
    seen = set()
    for i in range(20):
        user = f"hashed_{i}"
        first, _ = routed_to(cluster, user)
        assert first in NODES
        assert create(cluster, user) == first           # body routing == query routing
        assert cluster.owners(user) == [first]
        assert routed_to(cluster, user)[0] == first      # stable
        seen.add(first)
    assert len(seen) >= 2
    with open(os.path.join(cluster.dir, "placement.map")) as f:
        assert sorted(f.read().split("\n")) == ["", "pinned_a node1", "pinned_b node3"]


def test_per_user_keys_isolated_across_nodes(cluster):
    cluster.script("place.sh", cluster.dir, "iso_a", "node1")
    cluster.script("place.sh", cluster.dir, "iso_b", "node2")
    create(cluster, "iso_a", dim=3)
    create(cluster, "iso_b", dim=3)

    def new_key(user):
        out = cluster.script("keys.sh", cluster.dir, "create", user).stdout
        return next(line.split()[1] for line in out.splitlines() if line.startswith("api_key:"))

    ka, kb = new_key("iso_a"), new_key("iso_b")
    a, b = conftest.Client(cluster.url, ka), conftest.Client(cluster.url, kb)
    q = {"model_id": "m", "query": [0.1, 0.2, 0.3], "k": 1}
    # The nodes accept a new key at once; HAProxy's keys.map swap may lag.
    deadline = time.time() + 5
    while time.time() < deadline:
        ra = a.post("/vectors/query", json={"user_id": "iso_a", **q})
        rb = b.post("/vectors/query", json={"user_id": "iso_b", **q})
        if ra.status_code == 200 and rb.status_code == 200:
            break
        time.sleep(0.2)
    assert ra.status_code == 200 and ra.headers["X-Vdb-Node"] == "node1", ra.text
    assert rb.status_code == 200 and rb.headers["X-Vdb-Node"] == "node2", rb.text
    # A's key reaching B's node (and B's reaching A's) is a 404, as on one node.
    for client, other, node in ((a, "iso_b", "node2"), (b, "iso_a", "node1")):
        r = client.post("/vectors/query", json={"user_id": other, **q})
        assert r.status_code == 404 and r.headers["X-Vdb-Node"] == node, r.text
        assert "error" in r.json()
        r = client.get("/vectors/count", params={"user_id": other, "model_id": "m"})
        assert r.status_code == 404, r.text
        r = client.post("/vectors/add", json={"user_id": other, "model_id": "m",
                                              "vectors": [[1, 2, 3]], "metadata": [{"id": "x"}]})
        assert r.status_code == 404, r.text
    assert admin(cluster).get("/vectors/count", params={"user_id": "iso_b", "model_id": "m"}
                              ).json()["count"] == 0
    # A request naming no tenant is routed as its per-user key's tenant
    # (keys.map, both headers); the admin key's still spread round robin.
    for key, user, node in ((ka, "iso_a", "node1"), (kb, "iso_b", "node2")):
        for client in (conftest.Client(cluster.url, key),
                       conftest.Client(cluster.url, key, bearer=True)):
            for _ in range(3):
                r = client.get("/vectors/users")
                assert r.status_code == 200 and r.headers["X-Vdb-Node"] == node, r.text
                assert r.json() == [user], r.text
    with open(os.path.join(cluster.dir, "keys.map")) as f:
        text = f.read()
    assert ka not in text and kb not in text and "iso_a" in text and "iso_b" in text


def test_tenant_matrix_through_proxy(cluster):
    """The single-node tenant matrix (test_auth_tenants) through HAProxy,
    with A and B on different nodes: A's per-user key on every store route
    of B reaches B's node and gets 404 there, B is unchanged, admin-only
    routes are 403, and the merged listings never name B."""
    from test_auth_tenants import ADMIN_ONLY, STORE_CALLS
    cluster.script("place.sh", cluster.dir, "tenant_a", "node1")
    cluster.script("place.sh", cluster.dir, "tenant_b", "node2")

    def new_key(user):
        out = cluster.script("keys.sh", cluster.dir, "create", user).stdout
        return next(line.split()[1] for line in out.splitlines() if line.startswith("api_key:"))

    a = conftest.Client(cluster.url, new_key("tenant_a"))
    b = conftest.Client(cluster.url, new_key("tenant_b"))
    B = {"user_id": "tenant_b", "model_id": "secret"}
    # Both keys work at once on every node (an unknown key makes a node look
    # at its key file): no wait. CI once saw A's key refused on node1 while
    # the test waited for B's alone.
    assert a.get("/vectors/ping").status_code == 200
    assert b.get("/vectors/ping").status_code == 200
    r = b.post("/vectors/add", json={**B, "vectors": [[1, 0, 0], [0, 1, 0]],
                                     "metadata": [{"id": "b1"}, {"id": "b2"}]})
    assert r.status_code == 200 and r.headers["X-Vdb-Node"] == "node2", r.text
    r = a.post("/vectors/add", json={"user_id": "tenant_a", "model_id": "mine",
                                     "vectors": [[1, 0, 0]]})
    assert r.status_code == 200 and r.headers["X-Vdb-Node"] == "node1", r.text
    c = admin(cluster)
    routes = {x["path"] for x in requests.get(cluster.node_url("node2") + "/debug/routes",
                                              headers={"X-API-Key": conftest.ADMIN_KEY},
                                              timeout=10).json()["routes"]}
    tried = 0
    for method, path, kw in STORE_CALLS:
        if path not in routes:
            continue
        r = getattr(a, method)(path, **kw)
        assert r.status_code == 404 and r.headers.get("X-Vdb-Node") == "node2", (path, r.text)
        assert "error" in r.json(), (path, r.text)
        tried += 1
    assert tried >= 15
    assert c.get("/vectors/count", params=B).json()["count"] == 2
    hit = c.post("/vectors/query", json={**B, "query": [0, 1, 0], "k": 1}).json()["results"][0]
    assert hit["id"] == "b2"
    for method, path in ADMIN_ONLY:
        assert getattr(a, method)(path).status_code == 403, path
    for path in ("/admin/list_stores", "/admin/stats", "/monitoring/stores"):
        r = a.get(path)
        assert r.status_code == 200 and r.headers["X-Vdb-Node"] == "aggregate", (path, r.text)
        assert "tenant_b" not in r.text and "secret" not in r.text, (path, r.text)
    assert "tenant_b" in c.get("/admin/list_stores").text


def test_body_routing_limits(cluster):
    """The proxy refuses what it cannot route safely, in the JSON envelope."""
    cluster.script("place.sh", cluster.dir, "big_t", "node2")
    create(cluster, "big_t", dim=64)
    c = admin(cluster)
    # Query string and body name different tenants: 400 (the node would act
    # on the body's tenant after the proxy routed by the query's).
    r = c.post("/admin/create_store?user_id=big_t",
               json={"user_id": "other_t", "model_id": "m", "dimension": 4})
    assert r.status_code == 400 and r.json()["code"] == "HTTP_400", r.text
    assert "X-Vdb-Node" not in r.headers
    assert cluster.owners("other_t") == []
    # A JSON body over the proxy's 1 MiB buffer (VDB_PROXY_BUFSIZE): 413 without ?user_id=, and
    # routed to the owner with it.
    body = {"user_id": "big_t", "model_id": "m",
            "vectors": [[0.123456789] * 64 for _ in range(2000)]}
    r = c.post("/vectors/add", json=body)
    assert r.status_code == 413 and r.json()["code"] == "HTTP_413", r.text[:300]
    r = c.post("/vectors/add", params={"user_id": "big_t"}, json=body)
    assert r.status_code == 200 and r.headers["X-Vdb-Node"] == "node2", r.text[:300]
    assert c.get("/vectors/count", params={"user_id": "big_t", "model_id": "m"}).json()["count"] == 2000


def test_runtime_set_map_moves_routing_without_reload(cluster):
    pid = cluster.haproxy_pid()
    home, _ = routed_to(cluster, "mover")
    other = next(n for n in NODES if n != home)
    cluster.script("place.sh", cluster.dir, "mover", other)       # add map
    assert routed_to(cluster, "mover")[0] == other
    third = next(n for n in NODES if n not in (home, other))
    cluster.script("place.sh", cluster.dir, "mover", third)       # set map
    assert routed_to(cluster, "mover")[0] == third
    cluster.script("place.sh", cluster.dir, "mover", "-")         # del map: back to the hash
    assert routed_to(cluster, "mover")[0] == home
    assert cluster.haproxy_pid() == pid
    os.kill(pid, 0)
    bad = cluster.script("place.sh", cluster.dir, "mover", "node9", check=False)
    assert bad.returncode == 2


def test_cluster_status(cluster):
    """`vdb cluster status`: per node, from the nodes' own API."""
    cluster.script("place.sh", cluster.dir, "stat_t", "node2")
    r = admin(cluster).post("/vectors/add", json={"user_id": "stat_t", "model_id": "m",
                                                  "vectors": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]})
    assert r.status_code == 200 and r.headers["X-Vdb-Node"] == "node2", r.text
    out = cluster.vdb("cluster", "status", "--dir", cluster.dir, "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert doc["healthy"] is True
    assert [n["node"] for n in doc["nodes"]] == list(NODES)
    for n in doc["nodes"]:
        direct = requests.get(cluster.node_url(n["node"]) + "/admin/list_stores",
                              headers={"X-API-Key": conftest.ADMIN_KEY}, timeout=10).json()
        assert n["health"] == "healthy"
        assert n["address"] == f"127.0.0.1:{cluster.ports[n['node']]}"
        assert n["stores"] == direct["total"]
        assert n["vectors"] == sum(s["vector_count"] for s in direct["stores"])
        assert sorted(n["tenants"]) == sorted({s["user_id"] for s in direct["stores"]})
        assert n["memory_bytes"] >= 0
    node2 = next(n for n in doc["nodes"] if n["node"] == "node2")
    assert "stat_t" in node2["tenants"]
    text = cluster.vdb("cluster", "status", "--dir", cluster.dir)
    assert text.returncode == 0 and "node2" in text.stdout and "stat_t" in text.stdout
    # A node list with one dead address: reported unreachable, exit status 1.
    dead = conftest.free_port()
    nodes = f"node1=127.0.0.1:{cluster.ports['node1']},gone=127.0.0.1:{dead}"
    bad = cluster.vdb("cluster", "status", "--nodes", nodes, "--json")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    gone = json.loads(bad.stdout)["nodes"][1]
    assert gone["health"] == "unreachable" and "error" in gone
    # A wrong key: the nodes refuse it, status says so (no crash, exit 1).
    wrong = cluster.vdb("cluster", "status", "--dir", cluster.dir, "--key", "nope", "--json")
    assert wrong.returncode == 1 and "401" in wrong.stdout
    usage = cluster.vdb("cluster", "frobnicate")
    assert usage.returncode == 2 and "unknown subcommand" in usage.stderr


def test_aggregated_admin_routes(cluster):
    """Cluster-wide routes go to `vdb cluster aggregate`, which asks every
    node and merges; routes with a tenant still go to its node."""
    c = admin(cluster)
    for user, node in (("agg_1", "node1"), ("agg_3", "node3")):
        cluster.script("place.sh", cluster.dir, user, node)
        assert create(cluster, user) == node
    r = c.get("/admin/list_stores")
    assert r.status_code == 200 and r.headers["X-Vdb-Node"] == "aggregate", r.text
    doc = r.json()
    direct = {n: requests.get(cluster.node_url(n) + "/admin/list_stores",
                              headers={"X-API-Key": conftest.ADMIN_KEY}, timeout=10).json()
              for n in NODES}
    assert doc["total"] == sum(d["total"] for d in direct.values()) > 0
    assert doc["nodes_answered"] == 3 and doc["partial"] is False
    assert len(doc["stores"]) == doc["total"]
    for s in doc["stores"]:
        assert (s["user_id"], s["model_id"]) in {(x["user_id"], x["model_id"])
                                                 for x in direct[s["node"]]["stores"]}
    stats = c.get("/admin/stats")
    assert stats.status_code == 200 and stats.headers["X-Vdb-Node"] == "aggregate"
    pairs = [(e["node"], e["user_id"]) for e in stats.json()]
    assert sorted(pairs) == sorted({(s["node"], s["user_id"]) for s in doc["stores"]})
    mon = c.get("/monitoring/stores")
    assert mon.status_code == 200 and mon.json()["total_stores"] == doc["total"]
    summary = c.get("/monitoring/metrics/summary").json()
    assert sorted(summary["nodes"]) == list(NODES)
    health = requests.get(cluster.url + "/monitoring/health", timeout=10)  # public, no key
    assert health.status_code == 200 and health.headers["X-Vdb-Node"] == "aggregate", health.text
    assert health.json()["status"] == "healthy" and sorted(health.json()["nodes"]) == list(NODES)
    # Prometheus text: one exposition, each family's TYPE once, every sample
    # labelled with its node, and the per-node counts add up.
    prom = c.get("/monitoring/metrics")
    assert prom.status_code == 200 and prom.headers["Content-Type"].startswith("text/plain")
    lines = prom.text.splitlines()
    types = [line.split()[2] for line in lines if line.startswith("# TYPE ")]
    assert types and len(types) == len(set(types)), types
    samples = [line for line in lines if line and not line.startswith("#")]
    assert samples and all('{node="node' in line.split()[0] for line in samples), samples[:5]
    for n in NODES:
        text = requests.get(cluster.node_url(n) + "/monitoring/metrics",
                            headers={"X-API-Key": conftest.ADMIN_KEY}, timeout=10).text
        names = {line.split("{")[0].split()[0] for line in text.splitlines()
                 if line and not line.startswith("#")}
        merged = {line.split("{")[0] for line in samples if f'{{node="{n}"' in line}
        # (http_requests_total gains series from this very scrape.)
        assert names - {"http_requests_total"} <= merged, (n, names - merged)
    js = c.get("/monitoring/metrics", params={"format": "json"})
    assert js.status_code == 200 and sorted(js.json()["nodes"]) == list(NODES)
    # With a tenant, list_stores is that tenant's node's answer.
    one = c.get("/admin/list_stores", params={"user_id": "agg_3"})
    assert one.headers["X-Vdb-Node"] == "node3" and one.json()["total"] == 1
    # Auth is the nodes': no key 401, a per-user key sees its own stores only.
    r = requests.get(cluster.url + "/admin/list_stores", timeout=10)
    assert r.status_code == 401 and r.headers["X-Vdb-Node"] == "aggregate"
    out = cluster.script("keys.sh", cluster.dir, "create", "agg_1").stdout
    key = next(line.split()[1] for line in out.splitlines() if line.startswith("api_key:"))
    deadline = time.time() + 5
    while time.time() < deadline:
        r = requests.get(cluster.url + "/admin/list_stores", headers={"X-API-Key": key}, timeout=10)
        if r.status_code == 200 and r.json()["nodes_answered"] == 3:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    assert {s["user_id"] for s in r.json()["stores"]} == {"agg_1"}
    assert c.post("/admin/stats").status_code == 405


def test_freeze_route(cluster):
    """POST /admin/freeze on a node: the tenant's writes get 503 +
    Retry-After, its reads and other tenants' writes go on; bad input 422;
    admin key only."""
    url = cluster.node_url("node1")
    h = {"X-API-Key": conftest.ADMIN_KEY}
    add = {"user_id": "frz", "model_id": "m", "vectors": [[1, 2, 3, 4]]}
    cluster.script("place.sh", cluster.dir, "frz", "node1")
    assert create(cluster, "frz") == "node1"
    r = requests.post(url + "/admin/freeze", json={"user_id": "frz", "frozen": True},
                      headers=h, timeout=10)
    assert r.status_code == 200 and r.json() == {"user_id": "frz", "frozen": True}
    assert requests.get(url + "/admin/freeze", headers=h, timeout=10).json()["frozen"] == ["frz"]
    r = requests.post(url + "/vectors/add", json=add, headers=h, timeout=10)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1", r.text
    assert r.json()["code"] == "HTTP_503"
    r = requests.delete(url + "/admin/store", params={"user_id": "frz", "model_id": "m"},
                        headers=h, timeout=10)
    assert r.status_code == 503
    q = requests.post(url + "/vectors/query", json={"user_id": "frz", "model_id": "m",
                                                   "query": [1, 2, 3, 4], "k": 1},
                      headers=h, timeout=10)
    assert q.status_code == 200, q.text
    other = requests.post(url + "/vectors/add", json={**add, "user_id": "hashed_x1"}, headers=h,
                          timeout=10)
    assert other.status_code == 200
    for bad in ({"user_id": "frz"}, {"user_id": "frz", "frozen": "yes"},
                {"user_id": "../x", "frozen": True}):
        r = requests.post(url + "/admin/freeze", json=bad, headers=h, timeout=10)
        assert r.status_code == 422, (bad, r.text)
    r = requests.post(url + "/admin/freeze", json={"user_id": "frz", "frozen": False},
                      headers={"X-API-Key": conftest.API_KEY}, timeout=10)
    assert r.status_code == 403
    r = requests.post(url + "/admin/freeze", json={"user_id": "frz", "frozen": False},
                      headers=h, timeout=10)
    assert r.status_code == 200
    assert requests.post(url + "/vectors/add", json=add, headers=h, timeout=10).status_code == 200
    requests.delete(url + "/admin/store", params={"user_id": "hashed_x1", "model_id": "m"},
                    headers=h, timeout=10)


def test_wal_tail_and_apply(cluster):
    """The catch-up routes: the records after an export's snapshot LSN,
    applied on another node's copy, make the two equal; a checkpointed-away
    tail is 409; a bad body is 400 and changes nothing; admin key only."""
    h = {"X-API-Key": conftest.ADMIN_KEY}
    src, dst = cluster.node_url("node1"), cluster.node_url("node2")
    p = {"user_id": "walt", "model_id": "m"}
    r = requests.post(src + "/vectors/add", json={**p, "vectors": [[1, 2, 3], [3, 2, 1]],
                                                  "metadata": [{"id": "a"}, {"id": "b"}]},
                      headers=h, timeout=10)
    assert r.status_code == 200
    z = requests.get(src + "/admin/export_zip", params=p, headers=h, timeout=30)
    snap = int(z.headers["X-Vdb-Wal-Lsn"])
    r = requests.post(dst + "/admin/import_zip", params={**p, "overwrite": "true"}, data=z.content,
                      headers={**h, "Content-Type": "application/zip"}, timeout=30)
    assert r.status_code == 200, r.text
    requests.post(src + "/vectors/delete", json={**p, "ids": ["a"]}, headers=h)
    requests.post(src + "/vectors/add", json={**p, "vectors": [[1, 2, 4]],
                                              "metadata": [{"id": "c", "tag": "x"}]}, headers=h)
    # A second upsert of c: applied in one batch with the first, the later
    # one must still win.
    requests.post(src + "/vectors/add", json={**p, "vectors": [[4, 2, 1]],
                                              "metadata": [{"id": "c", "tag": "y"}]}, headers=h)
    tail = requests.get(src + "/admin/wal_tail", params={**p, "after": snap}, headers=h, timeout=10)
    assert tail.status_code == 200 and int(tail.headers["X-Vdb-Wal-Lsn"]) == snap + 3
    assert tail.headers["Content-Type"] == "application/octet-stream"
    bad = requests.post(dst + "/admin/wal_apply", params=p, data=tail.content[:-3], headers=h,
                        timeout=10)
    assert bad.status_code == 400, bad.text
    assert ids_on(cluster, "node2", "walt", "m") == {"a", "b"}
    ok = requests.post(dst + "/admin/wal_apply", params=p, data=tail.content, headers=h, timeout=10)
    assert ok.status_code == 200 and ok.json()["records_applied"] == 3, ok.text
    assert ids_on(cluster, "node2", "walt", "m") == ids_on(cluster, "node1", "walt", "m") == {"b", "c"}
    q = {**p, "query": [4, 2, 1], "k": 1}
    for n in (src, dst):
        hit = requests.post(n + "/vectors/query", json=q, headers=h, timeout=10).json()["results"][0]
        assert hit["id"] == "c" and hit["metadata"]["tag"] == "y", hit
    # Applying again (a rerun after a crash) changes nothing.
    again = requests.post(dst + "/admin/wal_apply", params=p, data=tail.content, headers=h)
    assert again.status_code == 200 and again.json()["count"] == 2
    # The export above checkpointed at `snap`: records after 0 are gone.
    gone = requests.get(src + "/admin/wal_tail", params={**p, "after": 0}, headers=h, timeout=10)
    assert gone.status_code == 409 and gone.json()["code"] == "HTTP_409"
    r = requests.get(src + "/admin/wal_tail", params=p, headers=h, timeout=10)
    assert r.status_code == 422
    r = requests.get(src + "/admin/wal_tail", params={**p, "after": snap},
                     headers={"X-API-Key": conftest.API_KEY}, timeout=10)
    assert r.status_code == 403
    for n in (src, dst):
        requests.delete(n + "/admin/store", params=p, headers=h, timeout=10)


class Writer(threading.Thread):
    """Adds one vector at a time for `user` through the proxy, retrying each
    until it is acknowledged (200); 503 and connection errors are retried
    (the move's switch, a killed node). Records every acknowledged id."""

    def __init__(self, url, user, models=("m1", "m2")):
        super().__init__(daemon=True)
        self.url, self.user, self.models = url, user, models
        self.acked = {m: [] for m in models}
        self.stop = threading.Event()
        self.refused = 0
        self.unexpected = []

    def run(self):
        s = requests.Session()
        i = 0
        while not self.stop.is_set():
            model = self.models[i % len(self.models)]
            vid = f"w{i}"
            body = {"user_id": self.user, "model_id": model,
                    "vectors": [[float(i % 7), 1.0, float(i % 3), 0.5]],
                    "metadata": [{"id": vid}]}
            while not self.stop.is_set():
                try:
                    r = s.post(self.url + "/vectors/add", json=body, timeout=10,
                               headers={"X-API-Key": conftest.ADMIN_KEY})
                except requests.RequestException:
                    time.sleep(0.05)
                    continue
                if r.status_code == 200:
                    self.acked[model].append(vid)
                    break
                if r.status_code == 503:
                    self.refused += 1
                    time.sleep(0.05)
                    continue
                self.unexpected.append((r.status_code, r.text[:200]))
                time.sleep(0.05)
            i += 1

    def finish(self):
        self.stop.set()
        self.join(30)
        assert not self.unexpected, self.unexpected[:3]


def ids_on(cluster, node, user, model):
    """Every id in the store, read from the node's own export."""
    r = requests.get(cluster.node_url(node) + "/admin/export_zip",
                     params={"user_id": user, "model_id": model},
                     headers={"X-API-Key": conftest.ADMIN_KEY}, timeout=30)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        lines = z.read("metadata.jsonl").decode().splitlines()
    return {json.loads(line)["id"] for line in lines if line.strip()}


def frozen_on(cluster, node):
    return requests.get(cluster.node_url(node) + "/admin/freeze",
                        headers={"X-API-Key": conftest.ADMIN_KEY}, timeout=10).json()["frozen"]


def check_moved(cluster, user, to, writer):
    """One owner (`to`): the map routes there, only `to` holds the stores,
    and every acknowledged write is there."""
    assert cluster.owners(user) == [to]
    assert routed_to(cluster, user)[0] == to
    for model, acked in writer.acked.items():
        assert acked, f"the writer got no write of {model} acknowledged"
        have = ids_on(cluster, to, user, model)
        missing = set(acked) - have
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
    assert not os.path.exists(os.path.join(cluster.dir, "moves", f"{user}.json"))


def seed_tenant(cluster, user, node, n=400):
    cluster.script("place.sh", cluster.dir, user, node)
    c = admin(cluster)
    for model in ("m1", "m2"):
        vecs = [[float(i % 11), float(i % 5), 1.0, float(i % 3)] for i in range(n)]
        r = c.post("/vectors/add", json={"user_id": user, "model_id": model, "vectors": vecs,
                                         "metadata": [{"id": f"s{i}"} for i in range(n)]})
        assert r.status_code == 200 and r.headers["X-Vdb-Node"] == node, r.text


def test_move_under_concurrent_writer(cluster):
    seed_tenant(cluster, "mv_live", "node1")
    w = Writer(cluster.url, "mv_live")
    w.start()
    time.sleep(0.5)
    out = cluster.vdb("cluster", "move", "mv_live", "--to", "node3", "--dir", cluster.dir)
    time.sleep(0.5)  # writes after the switch land on node3
    w.finish()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "moved node1 -> node3" in out.stdout and "writes paused" in out.stdout
    # The catch-up shipped the writes made during the copy (WAL tail), not
    # a second copy of the stores.
    assert "copied WAL tail" in out.stdout, out.stdout
    check_moved(cluster, "mv_live", "node3", w)
    for model in ("m1", "m2"):
        assert {f"s{i}" for i in range(400)} <= ids_on(cluster, "node3", "mv_live", model)
    # The old node keeps the tenant frozen: a stale request cannot fork it.
    assert "mv_live" in frozen_on(cluster, "node1")
    r = requests.post(cluster.node_url("node1") + "/vectors/add",
                      json={"user_id": "mv_live", "model_id": "m1", "vectors": [[1, 2, 3, 4]]},
                      headers={"X-API-Key": conftest.ADMIN_KEY}, timeout=10)
    assert r.status_code == 503
    # Moving it back thaws the tenant on node1 (it was the tombstone there).
    back = cluster.vdb("cluster", "move", "mv_live", "--to", "node1", "--dir", cluster.dir)
    assert back.returncode == 0, back.stdout + back.stderr
    assert cluster.owners("mv_live") == ["node1"] and "mv_live" not in frozen_on(cluster, "node1")
    assert "mv_live" in frozen_on(cluster, "node3")
    # Bad input changes nothing.
    for args, code in ((("mv_live", "--to", "node9"), 2), (("../x", "--to", "node2"), 2),
                       (("nobody_here", "--to", "node2", "--resume"), 1)):
        r = cluster.vdb("cluster", "move", *args, "--dir", cluster.dir)
        assert r.returncode == code, (args, r.stdout, r.stderr)
    assert cluster.owners("mv_live") == ["node1"]


def test_move_waits_for_batch_operations_without_holding_a_worker(cluster):
    """A background /v1/batch upload of the tenant keeps committing after
    its 202. The source's freeze answers 503 at once while it runs (the
    node holds no HTTP worker for it); the mover retries with backoff up to
    --freeze-wait, and past that thaws the tenant and stops; a rerun with
    time to wait (the upload of 2,500 fsynced chunks takes ~5-10 s here)
    finishes with every uploaded row on the new owner."""
    import numpy as np
    user = "mv_batch"
    seed_tenant(cluster, user, "node1", n=50)
    rows = 2500
    buf = io.BytesIO()
    np.save(buf, np.random.rand(rows, 4).astype(np.float32))
    r = requests.post(cluster.node_url("node1") + "/v1/batch/upload",
                      data={"user_id": user, "model_id": "up", "chunk_size": "1"},
                      files={"file": ("v.npy", buf.getvalue(), "application/octet-stream")},
                      headers={"X-API-Key": conftest.ADMIN_KEY}, timeout=30)
    assert r.status_code == 202, r.text
    progress = cluster.node_url("node1") + "/v1/batch/progress/" + r.json()["operation_id"]

    def status():
        return requests.get(progress, headers={"X-API-Key": conftest.ADMIN_KEY},
                            timeout=10).json()["status"]

    quick = cluster.vdb("cluster", "move", user, "--to", "node2", "--dir", cluster.dir,
                        "--freeze-wait", "0")
    if quick.returncode == 0 and status() == "completed" and "waiting" not in quick.stdout:
        # 2,500 fsyncs take ~5-10 s on this VM (and CI); a much faster disk
        # can finish them before the freeze.
        pytest.skip("the upload finished before the move reached its freeze")
    assert quick.returncode == 1, quick.stdout + quick.stderr
    assert "batch operations running" in quick.stderr, quick.stderr
    # Given up: thawed, still routed to (and owned by) the source.
    assert user not in frozen_on(cluster, "node1")
    assert routed_to(cluster, user)[0] == "node1"
    r = admin(cluster).post("/vectors/add", json={"user_id": user, "model_id": "m1",
                                                  "vectors": [[1, 2, 3, 4]],
                                                  "metadata": [{"id": "after_giveup"}]})
    assert r.status_code == 200 and r.headers["X-Vdb-Node"] == "node1", r.text
    done = cluster.vdb("cluster", "move", user, "--to", "node2", "--dir", cluster.dir,
                       timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert status() == "completed"
    assert cluster.owners(user) == ["node2"] and routed_to(cluster, user)[0] == "node2"
    count = admin(cluster).get("/vectors/count", params={"user_id": user, "model_id": "up"})
    assert count.json()["count"] == rows and count.headers["X-Vdb-Node"] == "node2"
    assert "after_giveup" in ids_on(cluster, "node2", user, "m1")


@pytest.mark.parametrize("point,kill_node", [("copy", "to"), ("frozen", "from"),
                                             ("switched", None)])
def test_move_interrupted_by_kill9(cluster, point, kill_node):
    """kill -9 of the mover at `point` (and of a node: the target mid-copy,
    the source while the tenant is frozen), under a concurrent writer: at
    every moment exactly one node is routed to and it has every
    acknowledged write; rerunning the move finishes it."""
    user, src, dst = f"mv_{point}", "node2", "node3"
    seed_tenant(cluster, user, src)
    w = Writer(cluster.url, user)
    w.start()
    time.sleep(0.3)
    out = cluster.vdb("cluster", "move", user, "--to", dst, "--dir", cluster.dir,
                      env={"VDB_MOVE_CRASH_AT": point})
    assert out.returncode == -signal.SIGKILL, out.stdout + out.stderr
    journal = os.path.join(cluster.dir, "moves", f"{user}.json")
    with open(journal) as f:
        state = json.load(f)["state"]
    owner = dst if point == "switched" else src
    assert state == {"copy": "copy", "frozen": "frozen", "switched": "switched"}[point]
    assert routed_to(cluster, user)[0] == owner
    if kill_node is not None:
        victim = src if kill_node == "from" else dst
        cluster.kill9_node(victim)
        time.sleep(0.3)
        cluster.restart_node(victim)
    if point in ("frozen", "switched"):
        # The source refuses the tenant's writes, also after a kill -9.
        assert user in frozen_on(cluster, src)
    time.sleep(0.3)
    # The owner holds every write acknowledged so far (reads are never frozen).
    snapshot = {m: list(a) for m, a in w.acked.items()}
    for model, acked in snapshot.items():
        assert set(acked) <= ids_on(cluster, owner, user, model)
    # A different target is refused while this move is unfinished.
    other = cluster.vdb("cluster", "move", user, "--to", "node1", "--dir", cluster.dir)
    assert other.returncode == 1 and "in progress" in other.stderr
    res = cluster.vdb("cluster", "move", user, "--to", dst, "--dir", cluster.dir, "--resume")
    time.sleep(0.3)
    w.finish()
    assert res.returncode == 0, res.stdout + res.stderr
    check_moved(cluster, user, dst, w)


def test_dead_node_fails_only_its_tenants(cluster):
    """Last test: stops node3. Its tenants get 503 from the proxy (never
    rehashed onto a survivor); the other nodes' tenants are unaffected."""
    hashed3 = next((f"hashed_{i}" for i in range(20)
                    if cluster.owners(f"hashed_{i}") == ["node3"]), None)
    with open(os.path.join(cluster.dir, "node3.pid")) as f:
        os.kill(int(f.read()), signal.SIGTERM)
    def settles_to_503(request):
        # node3 answers (200) until its shutdown closes the port; after
        # that HAProxy may still hold idle connections to it in its pool,
        # and a request sent on one gets 502 (retries 0: no retry, so a
        # write is never sent twice) and drops it. Once the pool is empty
        # every request is refused at connect: 503.
        deadline = time.time() + 20
        while True:
            r = request()
            if r.status_code == 503 or time.time() > deadline:
                return r.status_code
            assert r.status_code in (200, 502), r.status_code
            time.sleep(0.1)
    assert settles_to_503(lambda: routed_to(cluster, "pinned_b")[1]) == 503
    if hashed3 is not None:
        assert settles_to_503(lambda: routed_to(cluster, hashed3)[1]) == 503
    assert settles_to_503(lambda: admin(cluster).post(
        "/admin/create_store",
        json={"user_id": "pinned_b", "model_id": "m2", "dimension": 4})) == 503
    node, r = routed_to(cluster, "pinned_a")
    assert r.status_code == 200 and node == "node1"
    assert routed_to(cluster, "iso_b")[1].status_code == 200
    # Cluster-wide answers say which node is missing instead of shrinking.
    r = admin(cluster).get("/admin/list_stores")
    assert r.status_code == 200 and r.headers["X-Vdb-Node"] == "aggregate"
    doc = r.json()
    assert doc["partial"] is True and doc["nodes_answered"] == 2
    assert [u["node"] for u in doc["unavailable"]] == ["node3"]
    assert {s["node"] for s in doc["stores"]} <= {"node1", "node2"}
    stats = admin(cluster).get("/admin/stats")
    assert stats.status_code == 200 and stats.headers["X-Vdb-Unavailable"] == "node3"
    health = requests.get(cluster.url + "/monitoring/health", timeout=10).json()
    assert health["status"] == "degraded" and health["partial"] is True
    prom = admin(cluster).get("/monitoring/metrics")
    assert prom.status_code == 200 and prom.headers["X-Vdb-Unavailable"] == "node3"
    assert 'node="node1"' in prom.text and 'node="node3"' not in prom.text
    st = cluster.vdb("cluster", "status", "--dir", cluster.dir, "--json")
    assert st.returncode == 1
    health = {n["node"]: n["health"] for n in json.loads(st.stdout)["nodes"]}
    assert health == {"node1": "healthy", "node2": "healthy", "node3": "unreachable"}
