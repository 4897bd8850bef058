# Sourced by the deploy/cluster/bench_*.sh benchmarks: one throw-away
# cluster run directory on free loopback ports, stopped and removed when
# the benchmark exits.
#   bench_setup NAME   sets WORK (WORK/run is the run directory), exports
#                      the ports and keys start.sh reads (VDB_KEY = the
#                      admin key), and installs the cleanup trap.
bench_setup() {
    WORK=$(mktemp -d "/tmp/vdb-$1-bench.XXXXXX")
    trap '"$HERE/stop.sh" "$WORK/run" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
    freeport() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
    export VDB_PROXY_PORT=$(freeport) VDB_NODE1_PORT=$(freeport) VDB_NODE2_PORT=$(freeport) VDB_NODE3_PORT=$(freeport) VDB_AGG_PORT=$(freeport)
    export VECTOR_DB_ADMIN_KEY=bench-key-$$ VECTOR_DB_API_KEY=bench-api-$$ LOG_LEVEL=warning
    export VDB_KEY=$VECTOR_DB_ADMIN_KEY
    mkdir -p "$WORK/run"
}
