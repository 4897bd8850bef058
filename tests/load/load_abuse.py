#!/usr/bin/env python3
"""Bounded load + abuse run against a real `vdb serve` (reliability plan R2,
R3, R5): mixed add/query load on several stores from a normal client on
127.0.0.1 (a new connection per request, as a keep-alive-less client),
while attackers on 127.0.0.2 hold idle connections, trickle headers
(slowloris) and trickle bodies. RSS, open fds and threads of the server
are sampled every 2 s. Afterwards the attackers stop, the server is killed
with SIGKILL and restarted, and every acknowledged vector is checked.

Asserts (exit 1 and a line per failure otherwise):
  - the normal client saw 0 errors (no 5xx, no 4xx, no socket error);
  - its p99 latency is under --p99-ms;
  - fds and threads come back to their pre-attack level (+ slack) once the
    attackers leave, and RSS stays under --rss-mb;
  - after kill -9 + restart: every acknowledged id is present, its vector
    bit-identical (exact query distance ~0, returns that id first), the
    counts equal the acknowledged totals.

Usage: load_abuse.py VDB_BIN [--duration S] [--idle N] [--slow-headers N]
       [--slow-bodies N] [--p99-ms MS] [--json OUT]
Prints a JSON summary (also written to --json) for docs/reliability.md."""
import argparse
import http.client
import json
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

DIM = 32
STORES = 4
ADMIN_KEY = "load-admin-key-0123456789"
ATTACK_ADDR = "127.0.0.2"


def free_port():
    # The server binds 0.0.0.0, so the port must be free on every address:
    # one picked on 127.0.0.1 alone can be a source port of an attacker
    # socket on 127.0.0.2 (here or in another run), and the server's bind
    # then fails.
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, data_dir):
        self.binary, self.data_dir = binary, data_dir
        self.port = free_port()
        self.proc = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VECTOR_DB", "VDB_"))}
        env.update({"VECTOR_DB_DATA_DIR": self.data_dir, "PORT": str(self.port),
                    "HOST": "0.0.0.0", "LOG_LEVEL": "error",
                    "VECTOR_DB_ADMIN_KEY": ADMIN_KEY})
        self.log = open(os.path.join(self.data_dir, "..", "server.log"), "a")
        self.proc = subprocess.Popen([self.binary, "serve"], cwd=self.data_dir, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("vdb serve exited at start-up")
            try:
                if request("GET", self.port, "/health", timeout=1)[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("vdb serve did not come up")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def request(method, port, path, body=None, timeout=30):
    """One request on a fresh connection (Connection: close). Returns
    (status, parsed JSON or None)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"X-API-Key": ADMIN_KEY, "Connection": "close"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, None
    finally:
        conn.close()


def proc_sample(pid):
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return {"t": round(time.time(), 1), "rss_mb": rss, "fds": fds, "threads": threads}


# ---- attackers (all from 127.0.0.2) ----

def attacker_socket(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.bind((ATTACK_ADDR, 0))
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s


class Attackers:
    """Keeps `idle` silent connections, `headers` slowloris connections (one
    header line every few seconds, never finishing) and `bodies` slow-body
    connections (a complete header with a large Content-Length, then a byte
    every few seconds). Closed connections are reopened."""

    def __init__(self, port, idle, headers, bodies):
        self.port, self.want = port, {"idle": idle, "header": headers, "body": bodies}
        self.socks = {k: [] for k in self.want}
        self.stop_ev = threading.Event()
        self.opened = 0
        self.reopened = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, kind):
        try:
            s = attacker_socket(self.port)
        except OSError:
            return
        if kind == "header":
            s.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        elif kind == "body":
            s.send(b"POST /vectors/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"X-API-Key: " + ADMIN_KEY.encode() + b"\r\nContent-Length: 1000000\r\n\r\n{")
        self.socks[kind].append(s)
        self.opened += 1

    def run(self):
        tick = 0
        while not self.stop_ev.is_set():
            for kind, n in self.want.items():
                live = []
                for s in self.socks[kind]:
                    try:
                        if kind == "header":
                            s.send(b"X-a: b\r\n")
                        elif kind == "body":
                            s.send(b" ")
                        else:
                            # An idle socket the server closed reads as EOF.
                            if s.recv(1, socket.MSG_PEEK) == b"":
                                raise OSError("closed")
                        live.append(s)
                    except BlockingIOError:
                        live.append(s)
                    except OSError:
                        s.close()
                        self.reopened += 1
                self.socks[kind] = live
                for _ in range(min(n - len(live), 200)):  # ramp up in steps
                    self.open(kind)
            tick += 1
            self.stop_ev.wait(2.0)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_ev.set()
        self.thread.join()
        for lst in self.socks.values():
            for s in lst:
                s.close()

    def counts(self):
        return {k: len(v) for k, v in self.socks.items()}


# ---- normal client ----

class Client:
    def __init__(self, port, seed):
        self.port = port
        self.rng = random.Random(seed)
        self.lat = []
        self.errors = []
        self.acked = {s: {} for s in range(STORES)}  # store -> id -> vector
        self.next_id = 0

    def vec(self):
        return [round(self.rng.uniform(-1, 1), 6) for _ in range(DIM)]

    def one(self, thread_tag):
        s = self.rng.randrange(STORES)
        ids = {"user_id": "load", "model_id": f"m{s}"}
        t0 = time.perf_counter()
        try:
            if self.rng.random() < 0.4 or not self.acked[s]:
                rows = []
                for _ in range(self.rng.randint(1, 8)):
                    self.next_id += 1
                    rows.append((f"{thread_tag}-{self.next_id}", self.vec()))
                st, body = request("POST", self.port, "/vectors/add",
                                   {**ids, "vectors": [v for _, v in rows],
                                    "metadata": [{"id": i, "n": k} for k, (i, _) in
                                                 enumerate(rows)]})
                if st == 200:
                    for i, v in rows:
                        self.acked[s][i] = v
            else:
                st, body = request("POST", self.port, "/vectors/query",
                                   {**ids, "query": self.vec(), "k": 10})
            if st != 200:
                self.errors.append(f"status {st}: {str(body)[:200]}")
        except OSError as e:
            self.errors.append(f"socket: {e!r}")
        self.lat.append((time.perf_counter() - t0) * 1000)


def percentile(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def verify(port, clients):
    """Recovery check: every acknowledged id present with its exact vector."""
    problems = []
    for s in range(STORES):
        ids = {"user_id": "load", "model_id": f"m{s}"}
        acked = {}
        for c in clients:
            acked.update(c.acked[s])
        st, body = request("GET", port, f"/vectors/count?user_id=load&model_id=m{s}")
        if st != 200 or body.get("count") != len(acked):
            problems.append(f"store m{s}: count {body} after restart, {len(acked)} acknowledged")
        sample = random.Random(s).sample(sorted(acked), min(50, len(acked)))
        for i in sample:
            st, body = request("POST", port, "/vectors/query",
                               {**ids, "query": acked[i], "k": 1, "exact": True})
            top = (body or {}).get("results") or [{}]
            if st != 200 or top[0].get("id") != i or top[0].get("distance", 1) > 1e-4:
                problems.append(f"store m{s}: acknowledged {i} not found exactly: {top[0]}")
                break
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--duration", type=float, default=120)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--idle", type=int, default=300)
    ap.add_argument("--slow-headers", type=int, default=100)
    ap.add_argument("--slow-bodies", type=int, default=50)
    ap.add_argument("--p99-ms", type=float, default=float(os.environ.get("VDB_LOAD_P99_MS", 1000)))
    ap.add_argument("--rss-mb", type=float, default=512)
    ap.add_argument("--json")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.idle + args.slow_headers + args.slow_bodies + 1024
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, want)), hard))

    root = tempfile.mkdtemp(prefix="vdb-load-")
    data = os.path.join(root, "data")
    os.mkdir(data)
    srv = Server(os.path.abspath(args.binary), data)
    srv.start()
    for s in range(STORES):
        st, body = request("POST", srv.port, "/admin/create_store",
                           {"user_id": "load", "model_id": f"m{s}", "dimension": DIM,
                            "metric": "euclidean"})
        assert st == 200, body

    seed = int(os.environ.get("VDB_LOAD_SEED", time.time()))
    print(f"load_abuse: seed {seed} (rerun: VDB_LOAD_SEED={seed})", flush=True)
    clients = [Client(srv.port, seed + i) for i in range(args.threads)]
    samples = [dict(proc_sample(srv.proc.pid), phase="before")]
    attackers = Attackers(srv.port, args.idle, args.slow_headers, args.slow_bodies)
    attackers.start()
    stop = threading.Event()

    def drive(c, tag):
        while not stop.is_set():
            c.one(tag)

    workers = [threading.Thread(target=drive, args=(c, f"t{i}")) for i, c in enumerate(clients)]
    for w in workers:
        w.start()
    end = time.time() + args.duration
    while time.time() < end:
        time.sleep(2)
        samples.append(dict(proc_sample(srv.proc.pid), phase="load", attackers=attackers.counts()))
    stop.set()
    for w in workers:
        w.join()
    attack_counts = attackers.counts()
    attackers.stop()
    time.sleep(3)  # let the server see the closes
    samples.append(dict(proc_sample(srv.proc.pid), phase="after"))

    lat = [x for c in clients for x in c.lat]
    errors = [e for c in clients for e in c.errors]
    acked = sum(len(c.acked[s]) for c in clients for s in range(STORES))
    srv.kill9()
    srv.start()
    problems = verify(srv.port, clients)
    rc_stop = srv.stop()

    before, after = samples[0], samples[-1]
    peak_rss = max(x["rss_mb"] for x in samples)
    summary = {
        "seed": seed, "duration_s": args.duration, "client_threads": args.threads,
        "attackers_wanted": {"idle": args.idle, "slow_headers": args.slow_headers,
                             "slow_bodies": args.slow_bodies},
        "attackers_held_at_end": attack_counts,
        "attacker_connections_opened": attackers.opened,
        "attacker_connections_closed_by_server": attackers.reopened,
        "requests": len(lat), "errors": len(errors), "error_examples": errors[:5],
        "p50_ms": round(percentile(lat, 50), 2), "p99_ms": round(percentile(lat, 99), 2),
        "max_ms": round(max(lat or [0]), 2), "acknowledged_vectors": acked,
        "before": before, "after": after, "peak_rss_mb": peak_rss,
        "peak_fds": max(x["fds"] for x in samples),
        "peak_threads": max(x["threads"] for x in samples),
        "recovery_problems": problems, "clean_stop_rc": rc_stop,
    }
    failures = []
    if errors:
        failures.append(f"{len(errors)} client errors, e.g. {errors[:3]}")
    if summary["p99_ms"] > args.p99_ms:
        failures.append(f"p99 {summary['p99_ms']} ms > {args.p99_ms} ms")
    if after["fds"] > before["fds"] + 16:
        failures.append(f"fds {before['fds']} before the attack, {after['fds']} after it ended")
    # Each open store may keep a checkpointer thread once its WAL has grown
    # (store/checkpoint.c), so STORES of them are expected, not leaked.
    if after["threads"] > before["threads"] + 4 + STORES:
        failures.append(f"threads {before['threads']} before, {after['threads']} after")
    if peak_rss > args.rss_mb:
        failures.append(f"peak RSS {peak_rss} MiB > {args.rss_mb}")
    if problems:
        failures.append(f"recovery: {problems[:3]}")
    if rc_stop != 0:
        failures.append(f"SIGTERM stop exited {rc_stop}")
    summary["failures"] = failures
    out = json.dumps(summary, indent=1)
    print(out)
    if args.json:
        with open(args.json, "w") as f:
            f.write(out)
    if failures:
        print("load_abuse: FAILED\n  " + "\n  ".join(failures))
        print(f"server log kept in {root}/server.log")
        return 1
    shutil.rmtree(root, ignore_errors=True)
    print("load_abuse: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
