#!/usr/bin/env bash
# Starts a 3-node vdb cluster behind HAProxy, all on loopback.
#
#   deploy/cluster/start.sh [RUN_DIR]      (default: ./vdb-cluster)
#
# Environment (all optional):
#   VDB_BIN              vdb binary (default: build/vdb of this checkout)
#   VDB_PROXY_PORT       port clients use (default 8000)
#   VDB_NODE1_PORT..3    node ports (default proxy port + 1..3)
#   VDB_AGG_PORT         the aggregator (`vdb cluster aggregate`, answers the
#                        cluster-wide routes; default proxy port + 4)
#   VDB_PROXY_BUFSIZE    HAProxy buffer = largest JSON body routed by its
#                        user_id (default 1048576; see haproxy.cfg)
#   VECTOR_DB_ADMIN_KEY, VECTOR_DB_API_KEY
#                        the cluster's admin / API key, the same on every node.
#                        When unset, start.sh generates them once and keeps
#                        them in RUN_DIR/cluster.env (mode 0600); later starts
#                        reuse that file.
# Layout of RUN_DIR: node1/ node2/ node3/ (each node's own data directory),
# nodeN.log, nodeN.pid, placement.map (tenant -> node), keys.map, haproxy.sock
# (runtime API), haproxy.pid, haproxy.log, cluster.env, cluster.conf (what
# `vdb cluster` reads: nodes, map, socket), aggregate.pid/.log, moves/
# (journals of `vdb cluster move`).
# Per-user keys: deploy/cluster/keys.sh; placement: deploy/cluster/place.sh.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUN_DIR=${1:-${VDB_CLUSTER_DIR:-$PWD/vdb-cluster}}
mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
VDB_BIN=${VDB_BIN:-$ROOT/build/vdb}
PROXY_PORT=${VDB_PROXY_PORT:-8000}

command -v haproxy >/dev/null 2>&1 || {
    echo "start.sh: haproxy not found; install it: apt-get install -y haproxy" >&2; exit 1; }
[ -x "$VDB_BIN" ] || { echo "start.sh: $VDB_BIN not found; run make first" >&2; exit 1; }
for f in haproxy.pid node1.pid node2.pid node3.pid aggregate.pid; do
    if [ -s "$RUN_DIR/$f" ] && kill -0 "$(cat "$RUN_DIR/$f")" 2>/dev/null; then
        echo "start.sh: $RUN_DIR is already running ($f); deploy/cluster/stop.sh $RUN_DIR first" >&2
        exit 1
    fi
done

# One admin key and one API key for the whole cluster (see docs/scale-out.md).
umask 077
if [ -z "${VECTOR_DB_ADMIN_KEY:-}" ] || [ -z "${VECTOR_DB_API_KEY:-}" ]; then
    if [ ! -f "$RUN_DIR/cluster.env" ]; then
        {
            echo "VECTOR_DB_ADMIN_KEY=vdb_$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
            echo "VECTOR_DB_API_KEY=vdb_$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
        } > "$RUN_DIR/cluster.env"
        echo "start.sh: generated cluster keys in $RUN_DIR/cluster.env"
    fi
    # shellcheck disable=SC1091
    . "$RUN_DIR/cluster.env"
fi
umask 022
export VECTOR_DB_ADMIN_KEY VECTOR_DB_API_KEY
[ -f "$RUN_DIR/placement.map" ] || : > "$RUN_DIR/placement.map"
# keys.map: per-user key hash -> tenant, from node1's key file (keymap.py).
/usr/bin/python3 "$HERE/keymap.py" "$RUN_DIR"

PORTS=()
for i in 1 2 3; do
    var="VDB_NODE${i}_PORT"
    PORTS[$i]=${!var:-$((PROXY_PORT + i))}
done

AGG_PORT=${VDB_AGG_PORT:-$((PROXY_PORT + 4))}
# What `vdb cluster status|move|aggregate` read (src/cli/cluster.h).
{
    for i in 1 2 3; do echo "node node$i 127.0.0.1 ${PORTS[$i]}"; done
    echo "map $RUN_DIR/placement.map"
    echo "socket $RUN_DIR/haproxy.sock"
    echo "aggregate 127.0.0.1 $AGG_PORT"
} > "$RUN_DIR/cluster.conf"

for i in 1 2 3; do
    mkdir -p "$RUN_DIR/node$i"
    VECTOR_DB_DATA_DIR="$RUN_DIR/node$i" HOST=127.0.0.1 PORT="${PORTS[$i]}" \
        nohup "$VDB_BIN" serve > "$RUN_DIR/node$i.log" 2>&1 < /dev/null &
    echo $! > "$RUN_DIR/node$i.pid"
done

for i in 1 2 3; do
    ok=0
    for _ in $(seq 1 150); do
        if curl -fsS -o /dev/null "http://127.0.0.1:${PORTS[$i]}/health" 2>/dev/null; then ok=1; break; fi
        kill -0 "$(cat "$RUN_DIR/node$i.pid")" 2>/dev/null || break
        sleep 0.1
    done
    if [ $ok != 1 ]; then
        echo "start.sh: node$i (port ${PORTS[$i]}) did not come up:" >&2
        tail -5 "$RUN_DIR/node$i.log" >&2
        "$HERE/stop.sh" "$RUN_DIR" >/dev/null 2>&1 || true
        exit 1
    fi
done

nohup "$VDB_BIN" cluster aggregate --dir "$RUN_DIR" --port "$AGG_PORT" \
    > "$RUN_DIR/aggregate.log" 2>&1 < /dev/null &
echo $! > "$RUN_DIR/aggregate.pid"
ok=0
for _ in $(seq 1 50); do
    grep -q "vdb cluster aggregate: http" "$RUN_DIR/aggregate.log" 2>/dev/null && { ok=1; break; }
    kill -0 "$(cat "$RUN_DIR/aggregate.pid")" 2>/dev/null || break
    sleep 0.1
done
if [ $ok != 1 ]; then
    echo "start.sh: the aggregator (port $AGG_PORT) did not come up:" >&2
    tail -5 "$RUN_DIR/aggregate.log" >&2
    "$HERE/stop.sh" "$RUN_DIR" >/dev/null 2>&1 || true
    exit 1
fi

export VDB_AGG_PORT="$AGG_PORT"
export VDB_CLUSTER_DIR="$RUN_DIR" VDB_PROXY_PORT="$PROXY_PORT" VDB_PROXY_BUFSIZE="${VDB_PROXY_BUFSIZE:-1048576}"
export VDB_NODE1_PORT="${PORTS[1]}" VDB_NODE2_PORT="${PORTS[2]}" VDB_NODE3_PORT="${PORTS[3]}"
if ! haproxy -D -f "$HERE/haproxy.cfg" > "$RUN_DIR/haproxy.log" 2>&1; then
    echo "start.sh: haproxy failed to start:" >&2
    cat "$RUN_DIR/haproxy.log" >&2
    "$HERE/stop.sh" "$RUN_DIR" >/dev/null 2>&1 || true
    exit 1
fi
for _ in $(seq 1 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PROXY_PORT/health" 2>/dev/null && break
    sleep 0.1
done
echo "vdb cluster up: http://127.0.0.1:$PROXY_PORT (nodes ${PORTS[1]} ${PORTS[2]} ${PORTS[3]}, aggregator $AGG_PORT, run dir $RUN_DIR)"
