"""What a newcomer hits in the first hour (issue 14): imports that do not
match the store, the metadata line formats, one data directory for the
server and the CLI, CLI errors that say what is wrong and a uniform --help,
messages without raw newlines, progress output, a server that refuses an
unwritable data directory, honest anonymous /health totals, `vdb doctor`,
and the key `make run` prints."""
import json
import os
import pty
import re
import select
import shutil
import socket
import subprocess
import tempfile

import numpy as np
import pytest
import requests

from conftest import ADMIN_KEY, VDB_BIN, Server

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
COMMANDS = ["serve", "keys", "bench", "create", "import", "query", "export", "count", "list",
            "store-bench", "filter-bench", "doctor", "cluster", "recall", "optimize"]


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VECTOR_DB", "VDB_"))}
    env.update(extra)
    return env


def vdb(*args, check=None, env=None, cwd=None):
    res = subprocess.run([VDB_BIN, *args], capture_output=True, text=True,
                         env=env or clean_env(), cwd=cwd)
    if check is not None:
        assert res.returncode == check, (res.returncode, res.stdout, res.stderr)
    return res


def save(path, rows, dim, seed=1):
    arr = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    np.save(path, arr)
    return arr


# ---- 4: import checks dimension and metric ---------------------------------

def test_import_rejects_other_dimension_and_metric(tmp_path):
    data = str(tmp_path / "d")
    save(tmp_path / "a64.npy", 500, 64)
    save(tmp_path / "a32.npy", 20000, 32, seed=2)
    vdb("import", "--data-dir", data, "--user", "u", "--model", "m", str(tmp_path / "a64.npy"),
        check=0)
    bad = vdb("import", "--data-dir", data, "--user", "u", "--model", "m",
              str(tmp_path / "a32.npy"), check=1)
    assert "dimension 32" in bad.stderr and "dimension 64" in bad.stderr
    bad = vdb("import", "--data-dir", data, "--user", "u", "--model", "m", "--metric", "l2",
              str(tmp_path / "a64.npy"), check=1)
    assert "--metric euclidean" in bad.stderr and "cosine" in bad.stderr
    assert vdb("count", "--data-dir", data, "--user", "u", "--model", "m",
               check=0).stdout.strip() == "500"


# ---- 8: both metadata formats ---------------------------------------------

@pytest.mark.parametrize("store_format", [True, False])
def test_import_metadata_formats(tmp_path, store_format):
    data = str(tmp_path / "d")
    vecs = save(tmp_path / "v.npy", 40, 8)
    with open(tmp_path / "m.jsonl", "w") as f:
        for i in range(40):
            meta = {"src": f"s{i % 2}"}
            line = {"id": f"v{i}", "metadata": meta} if store_format else {"id": f"v{i}", **meta}
            f.write(json.dumps(line) + "\n")
    vdb("import", "--data-dir", data, "--user", "u", "--model", "m", str(tmp_path / "v.npy"),
        "--metadata", str(tmp_path / "m.jsonl"), check=0)
    out = vdb("query", "--data-dir", data, "--user", "u", "--model", "m", "--k", "40",
              "--filter", '{"src": "s1"}', "--vector", json.dumps(vecs[3].tolist()), check=0)
    hits = json.loads(out.stdout)["results"]
    assert len(hits) == 20 and hits[0]["id"] == "v3"
    assert all(h["metadata"]["src"] == "s1" for h in hits)
    assert "metadata" not in hits[0]["metadata"]


def test_import_help_documents_metadata():
    out = vdb("import", "--help", check=0).stdout
    assert '{"id": "a", "metadata"' in out and "seed" in out


# ---- 5: a second server on a taken port -----------------------------------

def test_second_serve_on_a_taken_port_refuses_to_start(tmp_path):
    os.makedirs(tmp_path / "one")
    os.makedirs(tmp_path / "two")
    first = Server(str(tmp_path / "one")).start()
    try:
        # Another data directory and another key, on the first one's port:
        # with SO_REUSEPORT it would start and take half of the connections.
        env = clean_env(VECTOR_DB_DATA_DIR=str(tmp_path / "two"), HOST="127.0.0.1",
                        PORT=str(first.port), VECTOR_DB_ADMIN_KEY="another-admin-key-0123456789",
                        LOG_LEVEL="warning")
        try:
            res = subprocess.run([VDB_BIN, "serve"], env=env, capture_output=True, text=True,
                                 timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail("a second vdb serve started on a port already in use")
        out = res.stdout + res.stderr
        assert res.returncode != 0, out
        assert f"cannot listen on 127.0.0.1:{first.port}" in out and "in use" in out, out
        # Every request still reaches the first server, with its key.
        for _ in range(20):
            r = requests.get(first.url + "/vectors/count", headers={"X-API-Key": ADMIN_KEY},
                             params={"user_id": "nobody", "model_id": "m"})
            assert r.status_code != 401, r.text
    finally:
        assert first.stop() == 0


# ---- 7: one data directory -------------------------------------------------

def test_cli_uses_the_servers_data_directory(tmp_path):
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    data = str(tmp_path / "data")
    os.makedirs(data)
    (work / ".env").write_text(f"VECTOR_DB_DATA_DIR={data}\n")
    env = clean_env(HOME=str(home))
    srv = Server(data, cwd=str(work))
    srv.start()
    try:
        r = requests.post(srv.url + "/admin/create_store", headers={"X-API-Key": ADMIN_KEY},
                          json={"user_id": "alice", "model_id": "m", "dimension": 3})
        assert r.status_code == 200, r.text
        requests.post(srv.url + "/vectors/add", headers={"X-API-Key": ADMIN_KEY},
                      json={"user_id": "alice", "model_id": "m", "vectors": [[1, 2, 3]]})
        srv.stop()
        # No --data-dir, no VECTOR_DB_DATA_DIR: the CLI reads ./.env like the server.
        assert vdb("list", env=env, cwd=str(work), check=0).stdout.split() == ["alice", "m"]
        assert vdb("count", "--user", "alice", "--model", "m", env=env, cwd=str(work),
                   check=0).stdout.strip() == "1"
        key = re.search(r"api_key: (\S+)", vdb("keys", "create", "alice", env=env,
                                              cwd=str(work), check=0).stdout).group(1)
        srv.start()
        r = requests.get(srv.url + "/vectors/count", headers={"X-API-Key": key},
                         params={"user_id": "alice", "model_id": "m"})
        assert r.status_code == 200, r.text
    finally:
        srv.stop()
    # The server's default (no .env, no variable) is the CLI's default too.
    assert not (home / ".team_mind_data").exists()
    res = vdb("list", env=env, cwd=str(home), check=1)
    assert "does not exist" in res.stderr and ".team_mind_data/vector_stores" in res.stderr


def test_list_on_missing_directory_fails(tmp_path):
    # Under tmp_path, not /nonexistent: a build without the check creates the
    # directory it is given, and a fixed path would then exist for every
    # later run (and this test would pass or fail on what ran before).
    missing = str(tmp_path / "nonexistent" / "vdb")
    res = vdb("list", "--data-dir", missing, check=1)
    assert f"{missing} does not exist" in res.stderr
    assert not os.path.exists(tmp_path / "nonexistent")


# ---- 9: errors say what is wrong; --help is uniform ------------------------

@pytest.mark.parametrize("args,reason", [
    (["query", "--user", "u", "--model", "m", "--vector", "[1]", "--k", "0"], "--k 0 is out of range"),
    (["query", "--user", "u", "--model", "m", "--vector", "[1]", "--k", "abc"], "--k 'abc' is not a number"),
    (["query", "--user", "u", "--model", "m", "--vectr", "[1]"], "unknown option '--vectr'"),
    (["query", "--user", "u", "--model", "m"], "exactly one of --vector and --query-file"),
    (["create", "--user", "u", "--model", "m", "--dim", "0"], "--dim 0 is out of range"),
    (["create", "--user", "u", "--model", "m"], "--dim is required"),
    (["create", "--user", "u", "--model", "m", "--dim", "4", "--metric", "cos"], "unknown metric 'cos'"),
    (["import", "--user", "u", "--model", "m"], "which .npy file"),
    (["import", "--user", "u", "--model", "m", "x.npy", "--batch", "-1"], "--batch '-1' is not a number"),
    (["count", "--user", "u"], "--model is required"),
    (["list", "--usr", "u"], "unknown option '--usr'"),
    (["export", "--user", "u"], "--out is required"),
    (["keys", "frobnicate"], "unknown action 'frobnicate'"),
    (["doctor", "--port", "http"], "--port 'http' is not a number"),
    (["recall"], "which store?"),
    (["recall", "/tmp/s", "--k", "0"], "--k 0 is out of range"),
    (["recall", "/tmp/s", "--kk", "3"], "unknown option '--kk'"),
    (["recall", "/tmp/s", "--target", "2"], "--target '2' is not a recall between 0 and 1"),
    (["store-bench", "--nn", "3"], "unknown option '--nn'"),
    (["optimize", "--user", "u"], "--model is required"),
    (["optimize", "--user", "u", "--model", "m", "--rebuild", "--repair"],
     "at most one of --rebuild, --repair"),
    (["optimize", "--bogus"], "unknown option '--bogus'"),
])
def test_usage_errors_say_why(args, reason):
    res = vdb(*args, check=2)
    first = res.stderr.splitlines()[0]
    assert first.startswith(f"vdb {args[0]}: ") and reason in first, res.stderr
    assert "usage: vdb " + args[0] in res.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_uniform(command):
    for flag in ("--help", "-h"):
        res = vdb(command, flag, check=0)
        assert res.stdout.startswith("usage: vdb " + command), res.stdout
        assert res.stderr == ""


def test_help_lists_only_tested_commands():
    """Every command `vdb --help` lists is in COMMANDS, so a new one gets the
    --help and usage-error checks above."""
    listed = re.findall(r"^  (\S+) ", vdb("--help", check=0).stdout, re.M)
    assert listed and sorted(listed) == sorted(COMMANDS), listed


def test_recall_still_runs_with_its_options(tmp_path):
    data = str(tmp_path / "d")
    save(tmp_path / "v.npy", 1500, 8)
    vdb("import", "--data-dir", data, "--user", "u", "--model", "m", str(tmp_path / "v.npy"),
        check=0)
    out = vdb("recall", "--queries", "10", os.path.join(data, "user_u", "m"), "--k", "5",
              "--wait", "0", "--target", "0.9", check=0).stdout
    assert "held-out queries 10 (Gaussian, seed 20261202), k 5: recall@k" in out, out
    assert "target 0.9" in out
    # Given queries (issue 9: "with sampled or given queries"): the file's
    # first --queries rows; a 1,500-row store is exact, so recall is 1.
    save(tmp_path / "q.npy", 7, 8, seed=3)
    out = vdb("recall", os.path.join(data, "user_u", "m"), "--wait", "0", "--query-file",
              str(tmp_path / "q.npy"), check=0).stdout
    assert f"given queries 7 ({tmp_path / 'q.npy'}), k 10: recall@k 1.0000" in out, out
    save(tmp_path / "q4.npy", 3, 4)
    res = vdb("recall", os.path.join(data, "user_u", "m"), "--wait", "0", "--query-file",
              str(tmp_path / "q4.npy"), check=1)
    assert "3 queries of dimension 4, the store's dimension is 8" in res.stderr, res.stderr


def test_messages_do_not_repeat_or_leak_headers(tmp_path):
    data = str(tmp_path / "d")
    os.makedirs(data)
    res = vdb("count", "--data-dir", data, "--user", "cli", "--model", "nosuch", check=1)
    assert res.stderr.count("cli/nosuch") == 1, res.stderr
    np.save(tmp_path / "one.npy", np.zeros(5, np.float32))
    res = vdb("import", "--data-dir", data, "--user", "u", "--model", "m",
              str(tmp_path / "one.npy"), check=1)
    assert "(5,)" in res.stderr and "fortran_order" not in res.stderr and "   " not in res.stderr


def server_holding_a_store(tmp_path):
    """A server on tmp_path/d that has store u/m open (and locked)."""
    data = str(tmp_path / "d")
    os.makedirs(data)
    srv = Server(data).start()
    r = requests.post(srv.url + "/admin/create_store", headers={"X-API-Key": ADMIN_KEY},
                      json={"user_id": "u", "model_id": "m", "dimension": 3})
    assert r.status_code == 200, r.text
    return srv, data


def test_lock_message_is_one_line(tmp_path):
    srv, data = server_holding_a_store(tmp_path)
    try:
        res = vdb("count", "--data-dir", data, "--user", "u", "--model", "m", check=1)
        assert re.search(r"\(pid \d+\)\n$", res.stderr), repr(res.stderr)
        assert len(res.stderr.splitlines()) == 1
    finally:
        srv.stop()


# ---- 9: progress ------------------------------------------------------------

def test_progress_lines_when_not_a_terminal(tmp_path):
    save(tmp_path / "v.npy", 5000, 8)
    env = clean_env(VDB_PROGRESS_INTERVAL="0.000001")
    res = vdb("import", "--data-dir", str(tmp_path / "d"), "--user", "u", "--model", "m",
              "--batch", "500", str(tmp_path / "v.npy"), env=env, check=0)
    lines = [l for l in res.stderr.splitlines() if l.startswith("import: ")]
    assert len(lines) >= 5 and lines[-1].startswith("import: 5000/5000")
    assert "\r" not in res.stderr


def test_log_line_never_inside_progress_bar(tmp_path):
    save(tmp_path / "v.npy", 30000, 8)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(VDB_BIN, [VDB_BIN, "import", "--data-dir", str(tmp_path / "d"), "--user", "u",
                            "--model", "m", "--batch", "100", str(tmp_path / "v.npy")],
                  clean_env(LOG_LEVEL="info"))
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert "[" in text and "imported 30000" in text
    logs = [m.start() for m in re.finditer(r"\d{4}-\d\d-\d\dT\S+Z INFO", text)]
    assert logs, "expected the index-build INFO line during the import"
    for at in logs:
        before = text[:at]
        assert before.endswith("\r\x1b[K") or before.endswith("\n"), repr(text[at - 80:at + 40])


# ---- 10: unwritable data directory -----------------------------------------

def test_serve_refuses_unwritable_data_directory(tmp_path):
    # Root can write anywhere, so as root the server runs as nobody, from a
    # copy of the binary nobody can reach (the checkout may be under /root).
    shared = tempfile.mkdtemp(prefix="vdb-ro-")
    try:
        os.chmod(shared, 0o755)
        ro = os.path.join(shared, "ro")
        os.mkdir(ro, 0o555)
        binary = VDB_BIN
        preexec = None
        if os.geteuid() == 0:
            binary = os.path.join(shared, "vdb")
            shutil.copy(VDB_BIN, binary)
            os.chmod(binary, 0o755)

            def preexec():
                os.setgid(65534)
                os.setuid(65534)
        env = clean_env(VECTOR_DB_DATA_DIR=os.path.join(ro, "data"),
                        VECTOR_DB_ADMIN_KEY=ADMIN_KEY, HOST="127.0.0.1", PORT="0")
        try:
            res = subprocess.run([binary, "serve"], env=env, capture_output=True, text=True,
                                 timeout=10, preexec_fn=preexec)
        except subprocess.TimeoutExpired:
            pytest.fail("vdb serve started on an unwritable data directory")
        assert res.returncode == 1 and "not usable" in res.stderr and ro in res.stderr
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# ---- 11: anonymous /health -------------------------------------------------

def test_anonymous_health_totals(server, admin):
    admin.post("/admin/create_store", json={"user_id": "h1", "model_id": "m", "dimension": 2})
    admin.post("/vectors/add", json={"user_id": "h1", "model_id": "m",
                                     "vectors": [[1, 0], [0, 1], [1, 1]]})
    before = requests.get(server.url + "/health").json()
    assert before["stores_active"] >= 1 and before["total_vectors"] >= 3
    assert requests.get(server.url + "/no/such/route").status_code == 404
    after = requests.get(server.url + "/health").json()["performance_metrics"]
    assert after["total_errors"] >= before["performance_metrics"]["total_errors"] + 1
    assert after["total_client_errors"] >= 1


# ---- doctor -----------------------------------------------------------------

def doctor(data, *args, check=None):
    return vdb("doctor", "--data-dir", data, "--port", str(free_port()), *args, check=check)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_doctor_healthy_then_each_problem(tmp_path):
    data = str(tmp_path / "d")
    save(tmp_path / "v.npy", 3000, 8)
    vdb("create", "--data-dir", data, "--user", "u", "--model", "m", "--dim", "8", "--index",
        "hnsw", check=0)
    vdb("import", "--data-dir", data, "--user", "u", "--model", "m", str(tmp_path / "v.npy"),
        check=0)
    # import waits for the graph, so its closing checkpoint saved all of it
    # (before, a slow indexer could leave no index file behind).
    idx = os.path.join(data, "user_u", "m", "hnsw.idx")
    assert os.path.exists(idx)
    out = doctor(data, check=0).stdout
    assert "store u/m: 3000 vectors" in out and "no problems found" in out
    assert "index file valid" in out

    # A damaged index file.
    with open(idx, "r+b") as f:
        f.seek(48)
        f.write(b"\xff" * 8)
    res = doctor(data, check=1)
    assert "PROBLEM" in res.stdout and "hnsw.idx is unusable" in res.stdout
    assert "fix:" in res.stdout
    os.unlink(idx)

    # A key file others can read.
    vdb("keys", "create", "alice", "--data-dir", data, check=0)
    os.chmod(os.path.join(data, ".vdb_auth.json"), 0o644)
    res = doctor(data, check=1)
    assert "accessible to other users" in res.stdout and "chmod 600" in res.stdout
    os.chmod(os.path.join(data, ".vdb_auth.json"), 0o600)
    doctor(data, check=0)

    # The port held by something that is not vdb.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        res = vdb("doctor", "--data-dir", data, "--port", str(s.getsockname()[1]), check=1)
        assert "is taken by something that is not vdb" in res.stdout

    # A missing data directory.
    res = doctor(str(tmp_path / "nope"), check=1)
    assert "does not exist" in res.stdout or "No such file" in res.stdout


def test_doctor_stale_lock_damaged_store_and_open_directory(tmp_path):
    data = str(tmp_path / "d")
    save(tmp_path / "v.npy", 2000, 8)
    for model in ("a", "b"):
        vdb("import", "--data-dir", data, "--user", "u", "--model", model,
            str(tmp_path / "v.npy"), check=0)
    doctor(data, check=0)

    # A lock held in the name of a pid that does not exist here (another
    # machine or container on the same directory).
    import fcntl
    with open(os.path.join(data, "user_u", "a", ".store.lock"), "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.truncate(0)
        lock.write("99999999\n")
        lock.flush()
        res = doctor(data, check=1)
        assert "store u/a is locked by pid 99999999, which is not running here" in res.stdout
        assert "fix:" in res.stdout
    doctor(data, check=0)

    # A store whose vectors no longer match their checksum: named, with what
    # to do, and the other store still reported healthy. The doctor reads
    # the file whole itself (the open skips that above 256 MiB), so the
    # problem is its own line, not the open's.
    npz = os.path.join(data, "user_u", "b", "vectors.npz")
    with open(npz, "r+b") as f:
        f.seek(16384 + 100)
        f.write(b"garbage!")
    res = doctor(data, check=1)
    assert "store u/b: vectors file is damaged" in res.stdout and "CRC32" in res.stdout, \
        res.stdout
    assert "cannot be opened" not in res.stdout
    assert "restore the store from a backup" in res.stdout
    assert "store u/a: 2000 vectors" in res.stdout
    shutil.rmtree(os.path.join(data, "user_u", "b"))

    # A data directory every user may write to.
    os.chmod(data, 0o777)
    res = doctor(data, check=1)
    assert "writable by every user" in res.stdout and "chmod o-w" in res.stdout
    os.chmod(data, 0o700)
    doctor(data, check=0)


def test_doctor_leaves_a_running_servers_stores_alone(tmp_path):
    srv, data = server_holding_a_store(tmp_path)
    try:
        res = vdb("doctor", "--data-dir", data, "--port", str(srv.port), check=0)
        assert "a vdb server is running there" in res.stdout
        assert "in use by pid" in res.stdout
    finally:
        srv.stop()


# ---- 3: make run prints the real key ---------------------------------------

def test_run_script_prints_the_real_key(tmp_path):
    env = clean_env(HOME=str(tmp_path))
    res = subprocess.run(["bash", os.path.join(ROOT, "scripts/run.sh"), "/bin/echo"], env=env,
                         cwd=str(tmp_path), capture_output=True, text=True, check=True)
    keyfile = tmp_path / ".team_mind_data" / "vector_stores" / ".dev-admin-key"
    key = keyfile.read_text().strip()
    assert oct(keyfile.stat().st_mode & 0o777) == "0o600"
    assert f'X-API-Key: {key}"' in res.stdout and "<key>" not in res.stdout
    assert res.stdout.strip().endswith("serve")
