#!/usr/bin/env bash
# HTTP benchmark of vdb with wrk (keep-alive, loopback), and the same
# operations in-process (`vdb bench`) for comparison.
#
#   bench/http/run.sh [BIN]     (default build/vdb)
#
# 1. JSON ingest: POST /vectors/add, batches of 1,000 x 384 (fsync per
#    batch, the default policy), 2 keep-alive connections, N/1000 requests
#    (bench/http/ingest.py: pre-encoded body, wall-clock timing), into a
#    flat store and into the HNSW (auto) store the queries then use.
# 2. Queries: POST /vectors/query k=10 on the N x 384 store, 16
#    connections, 20 s, with latency percentiles; once with the store's
#    default index and once with "exact": true.
# Run it under the shared lock on shared machines:
#   flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bench/http/run.sh
set -euo pipefail
BIN=${1:-build/vdb}
N=${N:-100000}
DIM=384
DUR=${DUR:-20}
CONNS=${CONNS:-16}
WORK=$(mktemp -d /tmp/vdb-http-bench.XXXXXX)
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export VDB_KEY=bench-key-$$
VECTOR_DB_ADMIN_KEY=$VDB_KEY VECTOR_DB_DATA_DIR=$WORK/data PORT=$PORT LOG_LEVEL=warning VDB_QUERY_CACHE_MB=0 \
  "$BIN" serve > "$WORK/server.log" 2>&1 &
PID=$!
URL=http://127.0.0.1:$PORT
for _ in $(seq 100); do curl -sf "$URL/health" >/dev/null && break; sleep 0.1; done
/usr/bin/python3 "$(dirname "$0")/gen_payloads.py" --out "$WORK" --dim $DIM --batch 1000 --queries 2000
curl -sf -XPOST "$URL/admin/create_store" -H "X-API-Key: $VDB_KEY" -H 'Content-Type: application/json' \
  -d "{\"user_id\":\"bench\",\"model_id\":\"m384\",\"dimension\":$DIM}" >/dev/null

ingest() { # ingest MODEL: N/1000 requests over 2 keep-alive connections, wall-clock timed
  /usr/bin/python3 "$(dirname "$0")/ingest.py" 127.0.0.1 "$PORT" "$VDB_KEY" "$WORK/add.json" "$1" \
    $((N / 1000)) 2 | sed 's/^/RESULT ingest /'
}
curl -sf -XPOST "$URL/admin/create_store" -H "X-API-Key: $VDB_KEY" -H 'Content-Type: application/json' \
  -d "{\"user_id\":\"bench\",\"model_id\":\"flat384\",\"dimension\":$DIM,\"index\":\"flat\"}" >/dev/null
echo "== ingest: POST /vectors/add, 1,000 x $DIM per request, 2 connections, $N vectors, fsync per batch"
echo "-- into a flat (exact) store"
ingest flat384
echo "-- into the default (auto -> HNSW, background indexer) store used for the queries below"
ingest m384

echo "== optimize (builds the index when the store uses one)"
curl -sf -XPOST "$URL/performance/optimize" -H "X-API-Key: $VDB_KEY" -H 'Content-Type: application/json' \
  -d '{"user_id":"bench","model_id":"m384"}'; echo

echo "== queries: POST /vectors/query k=10, $CONNS connections, ${DUR}s (store default index)"
VDB_PAYLOAD=$WORK/queries.jsonl wrk -t2 -c$CONNS -d${DUR}s --latency -s "$(dirname "$0")/query.lua" "$URL" | tee "$WORK/q.txt"
echo "RESULT index_qps=$(grep Requests/sec "$WORK/q.txt" | awk '{print $2}') p99=$(grep ' 99%' "$WORK/q.txt" | awk '{print $2}')"

echo "== queries with \"exact\": true"
sed 's/"k": 10}/"k": 10, "exact": true}/' "$WORK/queries.jsonl" > "$WORK/queries_exact.jsonl"
VDB_PAYLOAD=$WORK/queries_exact.jsonl wrk -t2 -c$CONNS -d${DUR}s --latency -s "$(dirname "$0")/query.lua" "$URL" | tee "$WORK/qe.txt"
echo "RESULT exact_qps=$(grep Requests/sec "$WORK/qe.txt" | awk '{print $2}') p99=$(grep ' 99%' "$WORK/qe.txt" | awk '{print $2}')"
curl -sf "$URL/admin/store/stats?user_id=bench&model_id=m384" -H "X-API-Key: $VDB_KEY"; echo
