#!/usr/bin/python3
"""Ingest rate, side by side in one run (issue 12, "ingest at disk speed").

Every figure is durable under the default policy (VDB_FSYNC=always: a request
is answered only after its WAL record is fsynced) and goes into a fresh store
of the server's default kind (auto: HNSW above 10,000 rows, built by the
background indexer while the ingest runs):

  binary:     POST /v1/batch/upload?wait=true with a float32 .npy body,
              --binary-rows rows per request (default: all of them in one
              request, so one WAL record and one fsync per request), over
              --binary-conns keep-alive connections at once (default 1).
  json:       POST /vectors/add, --batch x dim per request (pre-encoded
              bodies, so the client does no JSON work in the timed loop),
              over --conns keep-alive connections.
  inprocess:  `vdb store-bench --index auto` (the same durable adds of
              --batch rows, no HTTP), when --serve names the binary.

Reports vectors/s from the client's wall clock and the client's own CPU
seconds (all its threads) over the same span, best of --repeat runs,
alternating the modes (A B C A B C ...) so machine noise hits them alike.

It also reports the SERVER's CPU seconds per 100,000 vectors (utime + stime
of the server process from /proc/PID/stat, all its threads; needs --serve
or --server-pid): "at ack" over the timed span (all threads, and the part
at nice 0, i.e. without the background indexer's pool, whose share moves
with the machine's load), and with --drain "once indexed", until the
store's HNSW graph covers every row (its recall calibration, which runs
after, is not counted). CPU seconds hold on a loaded machine where wall
clock does not. For inprocess it is store-bench's add_cpu_seconds (the
process's CPU over its add phase, less generating the input). On a quiet
machine with C cores, R vectors/s needs <= C / R * 100,000 CPU s per 100k.

  bench/batch_ingest.py --serve build/vdb [--n 100000] [--dim 384] [--repeat 3]
  bench/batch_ingest.py --url http://127.0.0.1:8000 --key ADMIN_KEY [...]
"""
import argparse
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

import numpy as np


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid):
    """utime + stime of process `pid` (all its threads, live and exited), in s."""
    if not pid:
        return None
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request_cpu(pid):
    """utime + stime of the server's threads at nice 0, in s: the request
    path, without the background indexer's pool (nice 10), whose share of a
    busy machine's CPU moves with the load. Exited threads are not counted
    (the server's threads are long-lived)."""
    if not pid:
        return None
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[16]) <= 0:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def settle(read, share, quiet, limit):
    """Waits until read() (CPU seconds) grows by less than `share` of a core
    over `quiet` s (at most `limit` s) and returns it then."""
    t_end = time.monotonic() + limit
    last = read()
    while time.monotonic() < t_end:
        time.sleep(quiet)
        now = read()
        if now - last < share * quiet:
            return now
        last = now
    return last


def settle_request_cpu(pid, quiet=0.5, limit=60.0):
    """The server's nice-0 threads' CPU once they stop using it (< 4% of a
    core): the request path plus what the batch leaves behind at full
    priority (the background checkpoint of a big upload), without the
    niced indexer."""
    return settle(lambda: request_cpu(pid), 0.04, quiet, limit)


def settle_cpu(pid, quiet=1.0, limit=120.0):
    """The server's CPU once it stops growing (< 2% of a core)."""
    return settle(lambda: proc_cpu(pid), 0.02, quiet, limit)


def indexed_cpu(cl, model, pid, limit=300.0):
    """Waits until the store's graph covers all its rows (index_rows ==
    rows; a flat store has none to build) and returns the server's CPU then."""
    t_end = time.monotonic() + limit
    while time.monotonic() < t_end:
        st = store_state(cl, model)
        if st.get("index_type") != "hnsw" or st.get("index_rows", 1 << 62) >= st.get("rows", 0):
            break
        time.sleep(0.1)
    return proc_cpu(pid)


def start_server(binary, work, port=0):
    port = port or free_port()
    env = dict(os.environ, VECTOR_DB_ADMIN_KEY="bench-key", VECTOR_DB_DATA_DIR=f"{work}/data",
               PORT=str(port), LOG_LEVEL="warning", VDB_QUERY_CACHE_MB="0", VDB_RATE_LIMIT="false")
    log = open(f"{work}/server.log", "w")
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=log)
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("server did not start; see " + f"{work}/server.log")


class Client:
    def __init__(self, host, port, key):
        self.host, self.port, self.key = host, port, key

    def conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=900)

    def call(self, c, method, path, body=None, ctype="application/json"):
        headers = {"X-API-Key": self.key}
        if body is not None:
            headers["Content-Type"] = ctype
        elif method == "DELETE":
            body = b""  # an explicit Content-Length: 0 (older servers refused none)
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit(f"{method} {path}: HTTP {r.status}: {data[:300]!r}")
        return data


def run_binary(cl, vecs, rows_per_request, chunk, conns):
    model = "bin_" + uuid.uuid4().hex[:8]
    bodies = []
    for i in range(0, len(vecs), rows_per_request):
        buf = io.BytesIO()
        np.save(buf, vecs[i:i + rows_per_request])
        bodies.append(buf.getvalue())
    q = urllib.parse.urlencode({"user_id": "bench", "model_id": model, "wait": "true",
                                "chunk_size": str(chunk)})
    if conns > 1:
        # The first request creates the store (and fixes its dimension), so
        # that concurrent first requests do not race to create it; it is
        # timed like the rest.
        t0, c0 = time.perf_counter(), time.process_time()
        cl.call(cl.conn(), "POST", "/v1/batch/upload?" + q, bodies[0], "application/octet-stream")
        send_all(cl, "/v1/batch/upload?" + q, bodies[1:], conns, "application/octet-stream")
    else:
        c = cl.conn()
        t0, c0 = time.perf_counter(), time.process_time()
        for body in bodies:
            cl.call(c, "POST", "/v1/batch/upload?" + q, body, "application/octet-stream")
    dt = time.perf_counter() - t0
    return model, len(vecs) / dt, time.process_time() - c0


def send_all(cl, path, bodies, conns, ctype="application/json"):
    """Sends every body once, over `conns` keep-alive connections at once."""
    it = iter(range(len(bodies)))
    lock = threading.Lock()
    failures = []

    def worker():
        c = cl.conn()
        while True:
            with lock:
                i = next(it, None)
            if i is None:
                return
            try:
                cl.call(c, "POST", path, bodies[i], ctype)
            except SystemExit as e:
                failures.append(str(e))
                return

    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(failures[0])


def run_json(cl, bodies, n, conns):
    model = "json_" + uuid.uuid4().hex[:8]
    prefix = ('{"user_id":"bench","model_id":"%s",' % model).encode()
    work = [prefix + b[1:] for b in bodies]
    t0, c0 = time.perf_counter(), time.process_time()
    send_all(cl, "/vectors/add", work, conns)
    dt = time.perf_counter() - t0
    return model, n / dt, time.process_time() - c0


def store_state(cl, model):
    c = cl.conn()
    stats = json.loads(cl.call(c, "GET", f"/admin/store/stats?user_id=bench&model_id={model}"))
    return stats


def run_inprocess(binary, n, dim, batch, work):
    out = subprocess.run([binary, "store-bench", "--dir", f"{work}/sb-{uuid.uuid4().hex[:8]}",
                          "--n", str(n), "--dim", str(dim), "--batch", str(batch),
                          "--fsync", "always", "--index", "auto", "--json"],
                         capture_output=True, text=True, check=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("{")][-1]
    result = json.loads(line)
    return result["durable_add_vectors_per_s"], result.get("add_cpu_seconds")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--key")
    ap.add_argument("--serve", help="vdb binary: start it on a temporary data directory")
    ap.add_argument("--port", type=int, default=0, help="with --serve: listen here (default: a free port)")
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch", type=int, default=1000, help="rows per JSON request")
    ap.add_argument("--conns", type=int, default=2, help="JSON connections")
    ap.add_argument("--binary-rows", type=int, default=0, help="rows per binary request (0: all)")
    ap.add_argument("--binary-conns", type=int, default=1,
                    help="binary connections (requests sent at once; needs --binary-rows)")
    ap.add_argument("--chunk", type=int, default=100000, help="upload chunk_size (rows per WAL record)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", default="binary,json,inprocess")
    ap.add_argument("--drain", action="store_true",
                    help="also wait for the graph to cover every row and report the CPU then")
    ap.add_argument("--server-pid", type=int, default=0,
                    help="with --url: the server's pid, to report its CPU per run")
    a = ap.parse_args()
    modes = a.mode.split(",")
    work = tempfile.mkdtemp(prefix="vdb-ingest-bench.")
    proc = None
    try:
        if a.serve:
            proc, port = start_server(a.serve, work, a.port)
            cl = Client("127.0.0.1", port, "bench-key")
            server_pid = proc.pid
        else:
            if not a.url or not a.key:
                sys.exit("--url and --key, or --serve")
            u = urllib.parse.urlparse(a.url)
            cl = Client(u.hostname, u.port or 80, a.key)
            server_pid = a.server_pid
        rng = np.random.default_rng(7)
        centers = rng.standard_normal((1000, a.dim)).astype(np.float32)
        vecs = (centers[rng.integers(0, 1000, a.n)] +
                0.3 * rng.standard_normal((a.n, a.dim))).astype(np.float32)
        bodies = [json.dumps({"vectors": vecs[i:i + a.batch].tolist()}).encode()
                  for i in range(0, a.n, a.batch)]
        best = {m: 0.0 for m in modes}
        runs = {m: [] for m in modes}
        cpu_ack = {m: [] for m in modes}    # server CPU s per 100k at the last ack
        cpu_drain = {m: [] for m in modes}  # ... once the graph covered every row
        cpu_req = {m: [] for m in modes}    # ... at nice 0 (request path), at the last ack
        cpu_settled = {m: [] for m in modes}  # ... at nice 0, once those threads went idle
        per100k = 100000.0 / a.n
        for rep in range(a.repeat):
            for mode in modes:
                model, client_cpu, store_cpu = None, None, None
                if server_pid:
                    settle_cpu(server_pid)  # start from an idle server
                s0, r0 = proc_cpu(server_pid), request_cpu(server_pid)
                if mode == "binary":
                    model, rate, client_cpu = run_binary(cl, vecs, a.binary_rows or a.n, a.chunk,
                                                         a.binary_conns)
                elif mode == "json":
                    model, rate, client_cpu = run_json(cl, bodies, a.n, a.conns)
                elif mode == "inprocess":
                    if not a.serve:
                        continue
                    rate, store_cpu = run_inprocess(a.serve, a.n, a.dim, a.batch, work)
                else:
                    sys.exit("unknown mode " + mode)
                extra = ""
                if s0 is not None and mode != "inprocess":
                    ack = (proc_cpu(server_pid) - s0) * per100k
                    req = (request_cpu(server_pid) - r0) * per100k
                    settled = (settle_request_cpu(server_pid) - r0) * per100k
                    cpu_ack[mode].append(ack)
                    cpu_req[mode].append(req)
                    cpu_settled[mode].append(settled)
                    extra += (" [server CPU per 100k: %.2f s at ack, %.2f s of it at nice 0, "
                              "%.2f s at nice 0 settled" % (ack, req, settled))
                    if a.drain:
                        drained = (indexed_cpu(cl, model, server_pid) - s0) * per100k
                        cpu_drain[mode].append(drained)
                        extra += ", %.2f s once indexed" % drained
                    extra += "]"
                if store_cpu is not None:
                    cpu_ack[mode].append(store_cpu * per100k)
                    extra += " [store CPU per 100k: %.2f s]" % (store_cpu * per100k)
                if client_cpu is not None:
                    # The client's own CPU (all its threads) over the timed
                    # part: on a 2-core machine it competes with the server.
                    extra += " [client CPU %.2f s]" % client_cpu
                if model is not None:
                    st = store_state(cl, model)
                    extra += " (store: %s vectors, index %s)" % (
                        st.get("vector_count", st.get("data", {}).get("vector_count")),
                        st.get("index_type", st.get("data", {}).get("index_type")))
                    cl.call(cl.conn(), "DELETE",
                            f"/admin/store?user_id=bench&model_id={model}")
                runs[mode].append(rate)
                best[mode] = max(best[mode], rate)
                print(f"run {rep + 1} {mode}: {rate:,.0f} vectors/s{extra}", flush=True)
        for mode in modes:
            if runs[mode]:
                print(f"{mode}: {a.n} x {a.dim}, best of {len(runs[mode])}: "
                      f"{best[mode]:,.0f} vectors/s  (runs: "
                      + ", ".join(f"{r:,.0f}" for r in runs[mode]) + ")")
            if cpu_ack[mode]:
                line = (f"{mode}: {'store' if mode == 'inprocess' else 'server'} CPU per 100k vectors, best of {len(cpu_ack[mode])}: "
                        f"{min(cpu_ack[mode]):.2f} s at ack")
                if cpu_req[mode]:
                    line += f", {min(cpu_req[mode]):.2f} s at nice 0"
                if cpu_settled[mode]:
                    line += (f", {min(cpu_settled[mode]):.2f} s at nice 0 settled (runs: "
                             + ", ".join(f"{c:.2f}" for c in cpu_settled[mode]) + ")")
                if cpu_drain[mode]:
                    line += f", {min(cpu_drain[mode]):.2f} s once indexed"
                print(line + "  (at ack: " + ", ".join(f"{c:.2f}" for c in cpu_ack[mode]) + ")")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
