#!/usr/bin/env bash
# Tenant-move cost: a 3-node cluster (deploy/cluster), one tenant with two
# N/2 x 384 stores on node1, then `vdb cluster move` node1 -> node2 -> node1
# ... ROUNDS times, each under a client that adds one vector every 20 ms
# through HAProxy and retries 503s. Per move it prints the mover's own
# figures (archive bytes, total seconds, writes paused from freeze to map
# flip) and the client's view: its slowest acknowledged write (which
# includes the 503-and-retry wait) and how many 503s it got. A last move
# runs with no writer (IDLE=1, default): nothing changes during the copy,
# so the catch-up skips every store and the pause is the freeze, the
# checks and the map flip.
# Run under the shared lock:
#   flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE deploy/cluster/bench_move.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${N:-40000}; ROUNDS=${ROUNDS:-3}
VDB_BIN=${VDB_BIN:-$ROOT/build/vdb}
. "$HERE/bench_lib.sh"
bench_setup move
echo "mover node1" > "$WORK/run/placement.map"
"$HERE/start.sh" "$WORK/run" >/dev/null
/usr/bin/python3 "$ROOT/bench/http/gen_payloads.py" --out "$WORK" --dim 384 --batch 1000 --queries 10 >/dev/null
for m in a b; do
    sed 's/"user_id": "bench"/"user_id": "mover"/' "$WORK/add.json" > "$WORK/add_mover.json"
    /usr/bin/python3 "$ROOT/bench/http/ingest.py" 127.0.0.1 "$VDB_NODE1_PORT" "$VECTOR_DB_ADMIN_KEY" \
        "$WORK/add_mover.json" "$m" $((N / 2000)) 2 >/dev/null
done
curl -sf -H "X-API-Key: $VECTOR_DB_ADMIN_KEY" "http://127.0.0.1:$VDB_NODE1_PORT/admin/list_stores?user_id=mover" |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("tenant mover:", [(s["model_id"], s["vector_count"]) for s in d["stores"]])'
from=node1
for r in $(seq "$ROUNDS"); do
    to=node2; [ $from = node2 ] && to=node1
    /usr/bin/python3 - "$VDB_PROXY_PORT" "$VECTOR_DB_ADMIN_KEY" "$WORK/writer.out" "$WORK/stop" <<'EOF' &
import http.client, json, os, sys, time
port, key, out, stop = sys.argv[1:5]
worst, refused, acked, i = 0.0, 0, 0, 0
while not os.path.exists(stop):
    body = json.dumps({"user_id": "mover", "model_id": "a", "vectors": [[0.1] * 384],
                       "metadata": [{"id": f"live{time.time_ns()}"}]})
    t0 = time.perf_counter()
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
            c.request("POST", "/vectors/add", body, {"Content-Type": "application/json", "X-API-Key": key})
            status = c.getresponse().status
            c.close()
        except OSError:
            status = 0
        if status == 200:
            break
        refused += 1
        time.sleep(0.02)
    worst = max(worst, time.perf_counter() - t0)
    acked += 1
    time.sleep(0.02)
open(out, "w").write(f"client: {acked} writes acknowledged, slowest {worst * 1000:.0f} ms, {refused} refused (503) and retried\n")
EOF
    wpid=$!
    sleep 1
    rm -f "$WORK/stop"
    out=$("$VDB_BIN" cluster move mover --to $to --dir "$WORK/run" | tail -1)
    sleep 1
    touch "$WORK/stop"; wait $wpid; rm -f "$WORK/stop"
    bytes=$(echo "$out" | sed -n 's/.*bulk copy \([0-9]*\) bytes, catch-up \([0-9]*\) bytes.*/\1 \2/p')
    secs=$(echo "$out" | sed -n 's/.* in \([0-9.]*\) s:.*/\1/p')
    mbs=$(echo "$bytes $secs" | awk '{printf "%.1f", ($1 + $2) / 1048576 / $3}')
    echo "RESULT round=$r $from->$to: $out"
    echo "RESULT round=$r throughput=${mbs} MB/s (archive bytes / total move time); $(cat "$WORK/writer.out")"
    from=$to
done
if [ "${IDLE:-1}" = 1 ]; then
    to=node2; [ $from = node2 ] && to=node1
    out=$("$VDB_BIN" cluster move mover --to $to --dir "$WORK/run" | tail -1)
    echo "RESULT idle $from->$to: $out"
fi
