#!/usr/bin/env bash
# Aggregate query QPS through HAProxy with three tenants on ONE node versus
# spread over THREE nodes (deploy/cluster, same machine, same cores: this
# measures what spreading costs or gains here, not scale). Each tenant
# t1..t3 has an N x 384 HNSW store, loaded on node1 and also on its own
# node (t2 on node2, t3 on node3); the placement map then decides which
# copy is queried (place.sh, no reload). wrk cycles POST /vectors/query
# bodies over the three tenants; the two layouts alternate, best of ROUNDS.
# The load comes from wrk when installed, else from pyload.py (Python, 2
# processes; it needs CPU of its own on this 2-core box, so its figures
# are lower than wrk's, the same for both layouts).
# Run under the shared lock:
#   flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE deploy/cluster/bench_scale.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${N:-10000}; DUR=${DUR:-5}; ROUNDS=${ROUNDS:-3}; CONNS=${CONNS:-16}
. "$HERE/bench_lib.sh"
bench_setup scale
export VDB_QUERY_CACHE_MB=0
"$HERE/start.sh" "$WORK/run" >/dev/null
/usr/bin/python3 "$ROOT/bench/http/gen_payloads.py" --out "$WORK" --dim 384 --batch 1000 --queries 3000 >/dev/null
load() { # tenant port
    sed "s/\"user_id\": \"bench\"/\"user_id\": \"$1\"/" "$WORK/add.json" > "$WORK/add_$1.json"
    /usr/bin/python3 "$ROOT/bench/http/ingest.py" 127.0.0.1 "$2" "$VDB_KEY" "$WORK/add_$1.json" m384 $((N / 1000)) 2 >/dev/null
    curl -sf -XPOST "http://127.0.0.1:$2/performance/optimize" -H "X-API-Key: $VDB_KEY" \
        -H 'Content-Type: application/json' -d "{\"user_id\":\"$1\",\"model_id\":\"m384\"}" >/dev/null
}
for t in t1 t2 t3; do load $t "$VDB_NODE1_PORT"; done
load t2 "$VDB_NODE2_PORT"; load t3 "$VDB_NODE3_PORT"
/usr/bin/python3 - "$WORK/queries.jsonl" "$WORK/q3.jsonl" <<'EOF'
import json, sys
src, dst = sys.argv[1:3]
with open(src) as f, open(dst, "w") as out:
    for i, line in enumerate(f):
        body = json.loads(line)
        body["user_id"] = f"t{i % 3 + 1}"
        out.write(json.dumps(body) + "\n")
EOF
layout() {
    "$HERE/place.sh" "$WORK/run" t1 node1
    if [ "$1" = one ]; then "$HERE/place.sh" "$WORK/run" t2 node1; "$HERE/place.sh" "$WORK/run" t3 node1
    else "$HERE/place.sh" "$WORK/run" t2 node2; "$HERE/place.sh" "$WORK/run" t3 node3; fi
}
for r in $(seq "$ROUNDS"); do
    for l in one three; do
        layout $l
        if command -v wrk >/dev/null 2>&1; then
            VDB_PAYLOAD=$WORK/q3.jsonl wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s "$ROOT/bench/http/query.lua" \
                "http://127.0.0.1:$VDB_PROXY_PORT" > "$WORK/w.txt"
            echo "RESULT round=$r nodes=$l client=wrk qps=$(grep Requests/sec "$WORK/w.txt" | awk '{print $2}') p99=$(grep ' 99%' "$WORK/w.txt" | awk '{print $2}')"
        else
            echo "RESULT round=$r nodes=$l client=pyload qps/p99: $(/usr/bin/python3 "$HERE/pyload.py" \
                "http://127.0.0.1:$VDB_PROXY_PORT" "$WORK/q3.jsonl" "$VDB_KEY" "$DUR" "$CONNS" 2)"
        fi
    done
done
