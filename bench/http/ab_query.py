#!/usr/bin/python3
"""A/B of two vdb binaries on the HTTP query path, alternating, best of N.

    ab_query.py BIN_A BIN_B [--port 18400] [--n 20000] [--dim 128]
                [--queries 2000] [--rounds 3]

Starts both servers (ports PORT and PORT+1, temporary data directories,
query cache off), creates a flat (exact) store in each, so both answer
every query with the same deterministic scan whatever their indexers do,
loads the same generated vectors through POST /vectors/add, then runs the same POST /vectors/query bodies (k = 10)
over one keep-alive connection against A, B, A, B, ... and prints each
binary's best QPS and its best server CPU time per query (user + system
time of the server process over the round, from /proc/PID/stat). One
client connection on purpose: it measures the per-request cost of the
server's path (parse, plan, search, JSON reply), which is what a refactor
of that path can change, not the scheduler. On a loaded machine the CPU
time per query is the steadier figure: wall-clock QPS includes the time
the server waited for a core.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time


def start(binary, port, key, data_dir):
    env = dict(os.environ, VECTOR_DB_ADMIN_KEY=key, VECTOR_DB_DATA_DIR=data_dir, PORT=str(port),
               LOG_LEVEL="warning", VDB_QUERY_CACHE_MB="0")
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("%s did not start on port %d" % (binary, port))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(conn, key, path, body):
    conn.request("POST", path, body=body,
                 headers={"X-API-Key": key, "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        sys.exit("%s: %d %s" % (path, resp.status, data[:200]))
    return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--port", type=int, default=18400)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    rng = random.Random(7)
    key = "ab-key"
    work = tempfile.mkdtemp(prefix="vdb-ab-")
    procs, conns = [], []
    try:
        for i, binary in enumerate([args.a, args.b]):
            procs.append(start(binary, args.port + i, key, os.path.join(work, str(i))))
            conns.append(http.client.HTTPConnection("127.0.0.1", args.port + i, timeout=60))
        batches = []
        for start_row in range(0, args.n, 1000):
            rows = min(1000, args.n - start_row)
            batches.append(json.dumps({
                "user_id": "ab", "model_id": "m",
                "vectors": [[rng.gauss(0, 1) for _ in range(args.dim)] for _ in range(rows)],
                "metadata": [{"id": "v%d" % (start_row + r), "group": r % 10} for r in range(rows)],
            }).encode())
        bodies = [json.dumps({"user_id": "ab", "model_id": "m", "k": 10,
                              "query": [rng.gauss(0, 1) for _ in range(args.dim)]}).encode()
                  for _ in range(args.queries)]
        create = json.dumps({"user_id": "ab", "model_id": "m", "dimension": args.dim,
                             "index": "flat"}).encode()
        for conn in conns:
            post(conn, key, "/admin/create_store", create)
            for body in batches:
                post(conn, key, "/vectors/add", body)
            for body in bodies[:200]:  # warm caches and pages
                post(conn, key, "/vectors/query", body)
        best, cpu = [0.0, 0.0], [float("inf")] * 2
        for rnd in range(args.rounds):
            for i, conn in enumerate(conns):
                c0, t0 = cpu_seconds(procs[i].pid), time.perf_counter()
                for body in bodies:
                    post(conn, key, "/vectors/query", body)
                qps = len(bodies) / (time.perf_counter() - t0)
                us = (cpu_seconds(procs[i].pid) - c0) / len(bodies) * 1e6
                best[i], cpu[i] = max(best[i], qps), min(cpu[i], us)
                print("round %d %s: %.0f QPS, %.0f us server CPU per query"
                      % (rnd + 1, "A" if i == 0 else "B", qps, us), flush=True)
        print("best of %d: A %.0f QPS, B %.0f QPS, B/A %.3f; server CPU per query A %.0f us, "
              "B %.0f us, B/A %.3f" % (args.rounds, best[0], best[1], best[1] / best[0], cpu[0],
                                       cpu[1], cpu[1] / cpu[0]))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
