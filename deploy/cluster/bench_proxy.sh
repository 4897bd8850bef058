#!/usr/bin/env bash
# The proxy's cost: the same wrk load against one node directly and through
# HAProxy (deploy/cluster, 3 nodes), alternating, best of ROUNDS.
#   1. POST /vectors/query k=10 on an N x 384 HNSW store (bench/http's
#      query.lua and payloads; the tenant comes from the JSON body, so the
#      proxy buffers and parses every body);
#   2. GET /vectors/count?user_id=... (tenant from the query string; a
#      near-empty request, so the proxy's per-request cost is most visible).
# Run under the shared lock:
#   flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE deploy/cluster/bench_proxy.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${N:-20000}; DUR=${DUR:-5}; ROUNDS=${ROUNDS:-3}; CONNS=${CONNS:-16}
. "$HERE/bench_lib.sh"
bench_setup cluster
export VDB_QUERY_CACHE_MB=0
echo "bench node1" > "$WORK/run/placement.map"
"$HERE/start.sh" "$WORK/run"
NODE=http://127.0.0.1:$VDB_NODE1_PORT; PROXY=http://127.0.0.1:$VDB_PROXY_PORT
/usr/bin/python3 "$ROOT/bench/http/gen_payloads.py" --out "$WORK" --dim 384 --batch 1000 --queries 2000
curl -sf -XPOST "$PROXY/admin/create_store" -H "X-API-Key: $VDB_KEY" -H 'Content-Type: application/json' \
  -d '{"user_id":"bench","model_id":"m384","dimension":384}' >/dev/null
# 7.9 MB bodies exceed the proxy's buffer: ingest straight into the owner.
/usr/bin/python3 "$ROOT/bench/http/ingest.py" 127.0.0.1 "$VDB_NODE1_PORT" "$VDB_KEY" "$WORK/add.json" m384 $((N / 1000)) 2 >/dev/null
curl -sf -XPOST "$NODE/performance/optimize" -H "X-API-Key: $VDB_KEY" -H 'Content-Type: application/json' \
  -d '{"user_id":"bench","model_id":"m384"}' >/dev/null
qps() { grep Requests/sec "$1" | awk '{print $2}'; }
p99() { grep ' 99%' "$1" | awk '{print $2}'; }
for r in $(seq "$ROUNDS"); do
  for target in direct proxy; do
    url=$NODE; [ $target = proxy ] && url=$PROXY
    VDB_PAYLOAD=$WORK/queries.jsonl wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s "$ROOT/bench/http/query.lua" "$url" > "$WORK/q.txt"
    echo "RESULT round=$r target=$target op=query qps=$(qps "$WORK/q.txt") p99=$(p99 "$WORK/q.txt")"
    wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -H "X-API-Key: $VDB_KEY" \
      "$url/vectors/count?user_id=bench&model_id=m384" > "$WORK/c.txt"
    echo "RESULT round=$r target=$target op=count qps=$(qps "$WORK/c.txt") p99=$(p99 "$WORK/c.txt")"
  done
done
