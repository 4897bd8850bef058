#!/usr/bin/python3
"""Restart cost after kill -9 (issue 11 item 11): a store of N vectors is
written, the server is killed with SIGKILL, restarted, and the time until
it serves plus the time of the next writes are measured, for several
cycles, against the same writes before any kill.

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/store_restart.py \
      [--vdb build/vdb] [--n 10000] [--dim 384] [--cycles 3]
"""
import argparse
import os
import signal
import socket
import subprocess
import tempfile
import time

import numpy as np
import requests

KEY = "bench-admin-key-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(vdb, data, nofile=None, extra_env=None):
    """Starts `vdb serve` (under `ulimit -n nofile` when given) and waits
    until it answers; returns (process, url, seconds to serve)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VECTOR_DB", "VDB_"))}
    env.update({"VECTOR_DB_DATA_DIR": data, "PORT": str(port), "HOST": "127.0.0.1",
                "LOG_LEVEL": "warning", "VECTOR_DB_ADMIN_KEY": KEY, **(extra_env or {})})
    argv = [vdb, "serve"]
    if nofile:
        argv = ["/bin/sh", "-c", f"ulimit -n {nofile} && exec '{vdb}' serve"]
    t0 = time.time()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if requests.get(url + "/health", timeout=0.5).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.02)
    return proc, url, time.time() - t0


def writes(s, url, rng, dim, batches, size):
    """Seconds for `batches` adds of `size` vectors, one after another."""
    t0 = time.time()
    first = None
    for _ in range(batches):
        v = rng.standard_normal((size, dim)).astype(np.float32).tolist()
        r = s.post(url + "/vectors/add", json={"user_id": "b", "model_id": "m", "vectors": v},
                   timeout=600)
        assert r.status_code == 200, r.text
        if first is None:
            first = time.time() - t0
    return time.time() - t0, first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vdb", default="build/vdb")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--size", type=int, default=100)
    a = ap.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="vdb-restart-") as data:
        proc, url, _ = start(os.path.abspath(a.vdb), data)
        s = requests.Session()
        s.headers["X-API-Key"] = KEY
        s.post(url + "/admin/create_store", json={"user_id": "b", "model_id": "m",
                                                  "dimension": a.dim}).raise_for_status()
        for _ in range(a.n // 500):
            v = rng.standard_normal((500, a.dim)).astype(np.float32).tolist()
            s.post(url + "/vectors/add", json={"user_id": "b", "model_id": "m",
                                               "vectors": v}, timeout=600).raise_for_status()
        time.sleep(5)  # let the background indexer settle
        base, _ = writes(s, url, rng, a.dim, a.batches, a.size)
        print(f"before any kill: {a.batches} x {a.size} adds in {base:.2f} s")
        for c in range(a.cycles):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc, url, up = start(os.path.abspath(a.vdb), data)
            took, first = writes(s, url, rng, a.dim, a.batches, a.size)
            idx = os.path.exists(os.path.join(data, "user_b", "m", "hnsw.idx"))
            wal = os.path.getsize(os.path.join(data, "user_b", "m", "wal.log"))
            print(f"cycle {c + 1}: serving after {up:.2f} s; first add {first:.2f} s; "
                  f"{a.batches} x {a.size} adds in {took:.2f} s ({took / base:.1f}x); "
                  f"wal.log {wal >> 20} MiB, hnsw.idx {'present' if idx else 'absent'}")
        proc.send_signal(signal.SIGTERM)
        proc.wait()


if __name__ == "__main__":
    main()
