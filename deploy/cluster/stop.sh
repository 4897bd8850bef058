#!/usr/bin/env bash
# Stops what start.sh started in RUN_DIR: HAProxy first (no new requests),
# then the aggregator, then the nodes (SIGTERM: each finishes in-flight requests and syncs).
#   deploy/cluster/stop.sh [RUN_DIR]      (default: ./vdb-cluster)
set -uo pipefail
RUN_DIR=${1:-${VDB_CLUSTER_DIR:-$PWD/vdb-cluster}}
[ -d "$RUN_DIR" ] || { echo "stop.sh: no such run directory: $RUN_DIR" >&2; exit 1; }
rc=0
for name in haproxy aggregate node1 node2 node3; do
    pidf="$RUN_DIR/$name.pid"
    [ -s "$pidf" ] || continue
    pid=$(cat "$pidf")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "stop.sh: $name ($pid) ignored SIGTERM for 20 s; killing" >&2
            kill -KILL "$pid"; rc=1
        fi
    fi
    rm -f "$pidf"
done
exit $rc
