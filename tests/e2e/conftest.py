"""Fixtures for vdb's end-to-end tests: the real `$VDB_BIN serve` on a free
loopback port with a temporary data directory, and clients for each key."""
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

VDB_BIN = os.environ.get("VDB_BIN", os.path.join(os.path.dirname(__file__), "../../build/vdb"))
ADMIN_KEY = "e2e-admin-key-0123456789"
API_KEY = "e2e-api-key-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `vdb serve` process. start()/stop() can be called repeatedly on
    the same data directory (restart tests)."""

    def __init__(self, data_dir, env=None, cwd=None, args=None):
        self.data_dir = data_dir
        self.extra_env = env or {}
        self.cwd = cwd or data_dir
        self.args = args or []
        self.proc = None
        self.port = None
        self.output = ""

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, keys=True):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VECTOR_DB", "VDB_"))}
        env.update({"VECTOR_DB_DATA_DIR": self.data_dir, "PORT": str(self.port),
                    "HOST": "127.0.0.1", "LOG_LEVEL": "warning", "VDB_THREADS": "2"})
        if keys:
            env.update({"VECTOR_DB_ADMIN_KEY": ADMIN_KEY, "VECTOR_DB_API_KEY": API_KEY})
        env.update(self.extra_env)
        self.proc = subprocess.Popen([VDB_BIN, "serve", *self.args], cwd=self.cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("vdb serve exited: " + self.proc.stdout.read())
            try:
                if requests.get(self.url + "/health", timeout=0.5).status_code == 200:
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("vdb serve did not come up")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.output = self.proc.stdout.read()
        self.proc = None
        return rc


class Client:
    def __init__(self, base, key=None, bearer=False):
        self.base = base
        self.s = requests.Session()
        if key is not None:
            self.s.headers["Authorization" if bearer else "X-API-Key"] = \
                f"Bearer {key}" if bearer else key

    def get(self, path, **kw):
        return self.s.get(self.base + path, timeout=60, **kw)

    def post(self, path, **kw):
        return self.s.post(self.base + path, timeout=120, **kw)

    def delete(self, path, **kw):
        return self.s.delete(self.base + path, timeout=60, **kw)


@pytest.fixture(scope="session")
def server():
    with tempfile.TemporaryDirectory(prefix="vdb-e2e-") as tmp:
        srv = Server(tmp).start()
        yield srv
        assert srv.stop() == 0


@pytest.fixture
def fresh_dir():
    with tempfile.TemporaryDirectory(prefix="vdb-e2e-") as tmp:
        yield tmp


@pytest.fixture(scope="session")
def admin(server):
    return Client(server.url, ADMIN_KEY)


@pytest.fixture(scope="session")
def apikey(server):
    return Client(server.url, API_KEY, bearer=True)


@pytest.fixture(scope="session")
def anon(server):
    return Client(server.url)


_counter = [0]


@pytest.fixture
def store(admin):
    """A fresh 4-d cosine store; yields (user_id, model_id)."""
    _counter[0] += 1
    uid, mid = f"fx_user{_counter[0]}", f"fx_model{_counter[0]}"
    r = admin.post("/admin/create_store", json={"user_id": uid, "model_id": mid, "dimension": 4})
    assert r.status_code == 200, r.text
    yield uid, mid


def assert_error(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(("detail", "error", "code", "timestamp")) <= set(body), body
    assert body["code"] == f"HTTP_{status}"
    assert isinstance(body["detail"], str) and body["detail"]
    return body
