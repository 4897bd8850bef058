"""The 3-node cluster of deploy/cluster/ (vdb nodes behind Debian's HAProxy)
on loopback: the seed quickstart through the proxy, tenant placement by the
map and by consistent hashing, per-user key isolation across nodes, a
runtime `set map` without reload, and a dead node's tenants failing alone.
Skipped when haproxy is not installed (scripts/install-deps.sh test)."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

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
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("VECTOR_DB", "VDB_"))}
        self.env.update({"VDB_BIN": os.path.abspath(conftest.VDB_BIN),
                         "VDB_PROXY_PORT": str(self.proxy_port),
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
    # Running nodes pick up the distributed key file within a second.
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


def test_dead_node_fails_only_its_tenants(cluster):
    """Last test: stops node3. Its tenants get 503 from the proxy (never
    rehashed onto a survivor); the other nodes' tenants are unaffected."""
    hashed3 = next((f"hashed_{i}" for i in range(20)
                    if cluster.owners(f"hashed_{i}") == ["node3"]), None)
    with open(os.path.join(cluster.dir, "node3.pid")) as f:
        os.kill(int(f.read()), signal.SIGTERM)
    deadline = time.time() + 20
    while time.time() < deadline and routed_to(cluster, "pinned_b")[1].status_code != 503:
        time.sleep(0.1)
    assert routed_to(cluster, "pinned_b")[1].status_code == 503
    if hashed3 is not None:
        assert routed_to(cluster, hashed3)[1].status_code == 503
    r = admin(cluster).post("/admin/create_store",
                            json={"user_id": "pinned_b", "model_id": "m2", "dimension": 4})
    assert r.status_code == 503
    node, r = routed_to(cluster, "pinned_a")
    assert r.status_code == 200 and node == "node1"
    assert routed_to(cluster, "iso_b")[1].status_code == 200
