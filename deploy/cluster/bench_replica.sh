#!/usr/bin/env bash
# What a replica would cost in write-acknowledgement latency on this
# machine, from the parts that exist today (docs/scale-out.md, "Next
# step"). Two nodes of a deploy/cluster run (HAProxy not involved), fsync
# "always" (the default). Per single-vector write (DIM-d, one at a time):
#   fsync      a 1.6 KB append + fsync in node1's data directory (the device)
#   rtt        one loopback TCP round trip (a 16-byte echo, no HTTP)
#   ack        POST /vectors/add to node1: today's acknowledged write
#   follower   POST /admin/wal_apply of that write's WAL record to node2: the
#              extra HTTP round trip + WAL append + fsync a synchronous
#              follower adds (the records come from node1's /admin/wal_tail)
#   ack+follower  the add and the apply of the same write, one after the
#              other, their times summed (the wal_tail read between them is
#              not counted): a leader that ships each record and waits for
#              the follower before answering
# Prints p50/p99 in ms of N writes each, ROUNDS rounds alternating.
# Run under the shared lock:
#   flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE deploy/cluster/bench_replica.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
N=${N:-300}; ROUNDS=${ROUNDS:-3}; DIM=${DIM:-384}
. "$HERE/bench_lib.sh"
bench_setup replica
"$HERE/start.sh" "$WORK/run" >/dev/null
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$WORK/run/node1" "$VDB_NODE1_PORT" "$VDB_NODE2_PORT" "$VECTOR_DB_ADMIN_KEY" "$N" "$ROUNDS" "$DIM" <<'PY'
import http.client, json, os, random, socket, struct, sys, threading, time
data, p1, p2, key, n, rounds, dim = sys.argv[1:8]
n, rounds, dim = int(n), int(rounds), int(dim)
H = {"X-API-Key": key, "Content-Type": "application/json"}
leader = http.client.HTTPConnection("127.0.0.1", int(p1))
follower = http.client.HTTPConnection("127.0.0.1", int(p2))

def call(conn, method, path, body=None, ctype="application/json"):
    conn.request(method, path, body=body, headers={**H, "Content-Type": ctype})
    r = conn.getresponse()
    out = r.read()
    assert r.status == 200, (path, r.status, out[:200])
    return r, out

def pct(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] * 1e3, xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1e3

def vec(i):
    rng = random.Random(i)
    return [rng.random() for _ in range(dim)]

# The same store on both nodes (the follower applies node1's records to it).
for c in (leader, follower):
    call(c, "POST", "/admin/create_store",
         json.dumps({"user_id": "rep", "model_id": "m", "dimension": dim}))

def fsync_round():
    fd = os.open(os.path.join(data, "bench_fsync.tmp"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        os.write(fd, b"x" * 1600)
        os.fsync(fd)
        out.append(time.perf_counter() - t)
    os.close(fd)
    os.unlink(os.path.join(data, "bench_fsync.tmp"))
    return out

def rtt_round():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    def echo():
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            b = c.recv(16)
            if not b:
                break
            c.sendall(b)
        c.close()
    t = threading.Thread(target=echo)
    t.start()
    s = socket.create_connection(srv.getsockname())
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        s.sendall(b"0123456789abcdef")
        got = 0
        while got < 16:
            got += len(s.recv(16 - got))
        out.append(time.perf_counter() - t0)
    s.close()
    t.join()
    srv.close()
    return out

seq = [0]
def add_leader():
    seq[0] += 1
    body = json.dumps({"user_id": "rep", "model_id": "m", "vectors": [vec(seq[0])],
                       "metadata": [{"id": f"v{seq[0]}"}]})
    t0 = time.perf_counter()
    call(leader, "POST", "/vectors/add", body)
    return time.perf_counter() - t0

def lsn():
    _, out = call(leader, "GET", "/admin/store/stats?user_id=rep&model_id=m")
    return json.loads(out)["wal_lsn"]

def records(after):
    r, out = call(leader, "GET", f"/admin/wal_tail?user_id=rep&model_id=m&after={after}")
    recs, off = [], 0
    while off < len(out):
        _, _, ln = struct.unpack_from("<QII", out, off)
        recs.append(out[off:off + 16 + ln])
        off += 16 + ln
    return recs

def apply(rec):
    t0 = time.perf_counter()
    call(follower, "POST", "/admin/wal_apply?user_id=rep&model_id=m", rec,
         "application/octet-stream")
    return time.perf_counter() - t0

def ack_round():
    return [add_leader() for _ in range(n)]

def follower_round():
    start = lsn()
    for _ in range(n):
        add_leader()
    return [apply(rec) for rec in records(start)]

def both_round():
    out = []
    for _ in range(n):
        start = lsn()
        t = add_leader()
        rec = records(start)[0]
        out.append(t + apply(rec))
    return out

kinds = [("fsync", fsync_round), ("rtt", rtt_round), ("ack", ack_round),
         ("follower", follower_round), ("ack+follower", both_round)]
best = {}
for r in range(1, rounds + 1):
    for name, fn in kinds:
        p50, p99 = pct(fn())
        print(f"RESULT round={r} {name} p50_ms={p50:.3f} p99_ms={p99:.3f}", flush=True)
        if name not in best or p50 < best[name][0]:
            best[name] = (p50, p99)
for name, _ in kinds:
    print(f"BEST {name} p50_ms={best[name][0]:.3f} p99_ms={best[name][1]:.3f}")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
