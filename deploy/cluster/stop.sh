#!/usr/bin/env bash
# Stops what start.sh started in RUN_DIR: HAProxy first (no new requests),
# then the aggregator, then the nodes (SIGTERM: each finishes in-flight
# requests and syncs). The nodes are signalled together and waited for
# together: their checkpoints are independent, so a cluster stops in the
# time of its slowest node, not the sum.
#   deploy/cluster/stop.sh [RUN_DIR]      (default: ./vdb-cluster)
set -uo pipefail
RUN_DIR=${1:-${VDB_CLUSTER_DIR:-$PWD/vdb-cluster}}
[ -d "$RUN_DIR" ] || { echo "stop.sh: no such run directory: $RUN_DIR" >&2; exit 1; }
rc=0
# stop NAME...: SIGTERM to each that runs, then wait up to 20 s for all.
stop() {
    local name pid pids=() names=()
    for name in "$@"; do
        pidf="$RUN_DIR/$name.pid"
        [ -s "$pidf" ] || continue
        pid=$(cat "$pidf")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            pids+=("$pid"); names+=("$name")
        fi
    done
    for _ in $(seq 1 200); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for i in "${!pids[@]}"; do
        if kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "stop.sh: ${names[$i]} (${pids[$i]}) ignored SIGTERM for 20 s; killing" >&2
            kill -KILL "${pids[$i]}"; rc=1
        fi
    done
    for name in "$@"; do rm -f "$RUN_DIR/$name.pid"; done
}
stop haproxy
stop aggregate
stop node1 node2 node3
exit $rc
